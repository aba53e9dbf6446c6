"""The admin console over HTTP: every /admin page is for admins only (derived from the URL
map), finding users, the confirmation pages and what each action does (role, suspension,
ban, reactivation, the last admin kept), the sign-in page's answer to a suspended user,
the audit log's filters, pages and CSV, the security events, and bad input."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, SecurityEvent, User
from webapp.models.base import utcnow
from webapp.services import accounts


def admin_paths(app) -> list[str]:
    """Every GET URL under /admin, with 1 for each id in the rule."""
    adapter = app.url_map.bind("localhost")
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" in rule.methods and rule.rule.startswith("/admin"):
            paths.append(adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1)))
    return sorted(paths)


@pytest.fixture
def signed_in(app, login, make_user):
    def signed_in_(email: str, role: str = "learner"):
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                make_user(email, role=role, display_name=email.split("@")[0].capitalize())
        client = app.test_client()
        assert login(client, email, DEFAULT_PASSWORD).status_code == 303
        return client
    return signed_in_


def _form(client, path: str) -> dict:
    body = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)
    return {"csrf_token": token}


def _user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def test_every_admin_page_is_for_admins_only(app, client, signed_in):
    paths = admin_paths(app)
    assert {"/admin", "/admin/users", "/admin/users/1", "/admin/audit", "/admin/audit.csv",
            "/admin/security", "/admin/jobs", "/admin/costs"} <= set(paths)
    admin = signed_in("boss@example.org", "admin")  # user 1, so /admin/users/1 exists
    assert _user_id(app, "boss@example.org") == 1
    with app.app_context():  # job 1, failed, so /admin/jobs/1/retry exists
        from webapp.models import GenerationJob

        db.session.add(GenerationJob(kind="course_draft", subject_key="course:x", params={},
                                     status="failed", finished_at=utcnow()))
        db.session.commit()
    learner = signed_in("learner@example.org")
    editor = signed_in("editor@example.org", "editor")
    seen = {}
    for path in paths:
        anonymous = client.get(path)
        seen[path] = (anonymous.status_code, learner.get(path).status_code,
                      editor.get(path).status_code, admin.get(path).status_code)
        assert "/login" in anonymous.headers.get("Location", ""), path
    # /admin/costs.csv wants a month (400 without one); everything else opens.
    expected = {path: (302, 403, 403, 400 if path == "/admin/costs.csv" else 200)
                for path in paths}
    assert seen == expected


def test_admins_find_users_by_email_or_name_role_and_status(app, signed_in, make_user):
    admin = signed_in("boss@example.org", "admin")
    with app.app_context():
        make_user("ada@example.org", display_name="Ada Lovelace")
        make_user("grace@example.org", display_name="Grace Hopper", role="editor")
        make_user("under_score@example.org", display_name="100% Sure")
        make_user("gone@example.org", display_name="Gone Away", status="banned")
    found = lambda **q: re.findall(r'href="/admin/users/\d+">([^<]+)<',  # noqa: E731
                                   admin.get("/admin/users", query_string=q).get_data(True))
    assert found(q="LOVELACE") == ["ada@example.org"]
    assert found(q="grace@") == ["grace@example.org"]
    assert found(role="editor") == ["grace@example.org"]
    assert found(status="banned") == ["gone@example.org"]
    # LIKE's wildcards match themselves only.
    assert found(q="%") == ["under_score@example.org"]
    assert found(q="_") == ["under_score@example.org"]
    assert found(q="nobody") == []
    assert admin.get("/admin/users?role=king").status_code == 400
    assert admin.get("/admin/users?q=" + "x" * 300).status_code == 400


def test_user_list_pages_by_keyset(app, signed_in, make_user, monkeypatch):
    from webapp.web.admin import user_views

    monkeypatch.setattr(user_views, "PAGE_SIZE", 2)
    admin = signed_in("boss@example.org", "admin")
    with app.app_context():
        for n in range(4):
            make_user(f"pick{n}@example.org")
    first = admin.get("/admin/users?q=pick").get_data(as_text=True)
    assert "pick3@example.org" in first and "pick1@example.org" not in first
    older = re.search(r'href="(/admin/users\?[^"]*before=\d+)" rel="next"', first).group(1)
    second = admin.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert "pick1@example.org" in second and "pick0@example.org" in second
    assert 'rel="next"' not in second


def test_audit_log_pages_keep_their_filters(app, signed_in, make_user, monkeypatch):
    from webapp.web.admin import logs_views

    monkeypatch.setattr(logs_views, "PAGE_SIZE", 2)
    admin = signed_in("boss@example.org", "admin")
    with app.app_context():
        for n in range(3):
            make_user(f"page{n}@example.org")
    first = admin.get("/admin/audit?action=user.create").get_data(as_text=True)
    assert "Newest" not in first
    older = re.search(r'href="(/admin/audit\?[^"]*)" rel="next"', first).group(1)
    older = older.replace("&amp;", "&")
    assert "action=user.create" in older and "before=" in older
    second = admin.get(older).get_data(as_text=True)
    assert 'href="/admin/audit?action=user.create">Newest</a>' in second


def test_user_page_shows_account_enrollments_sessions_and_events(
        app, signed_in, make_course, enroll):
    admin = signed_in("boss@example.org", "admin")
    learner_client = signed_in("ada@example.org")
    with app.app_context():
        course = make_course("Knots")
        enroll(db.session.scalar(select(User).where(User.email == "ada@example.org")), course)
    learner_client.get("/dashboard")
    page = admin.get(f"/admin/users/{_user_id(app, 'ada@example.org')}").get_data(True)
    assert "ada@example.org" in page
    assert "Knots" in page and "0 of 4" in page
    assert "Open sessions" in page and "Not signed in anywhere" not in page
    assert "Login succeeded" in page


def test_suspending_for_a_day_signs_out_and_the_sign_in_page_says_why(
        app, signed_in, client, login):
    admin = signed_in("boss@example.org", "admin")
    learner = signed_in("ada@example.org")
    assert learner.get("/dashboard").status_code == 200
    ada = _user_id(app, "ada@example.org")

    confirm = admin.get(f"/admin/users/{ada}/suspend")
    assert confirm.status_code == 200 and "Suspend Ada?" in confirm.get_data(True)
    data = _form(admin, f"/admin/users/{ada}/suspend")
    refused = admin.post(f"/admin/users/{ada}/suspend", data={**data, "duration": "1",
                                                               "reason": "  "})
    assert refused.status_code == 400 and "Give a reason" in refused.get_data(True)
    done = admin.post(f"/admin/users/{ada}/suspend",
                      data={**data, "duration": "1", "reason": "Spam in the forums"})
    assert done.status_code == 303
    page = admin.get(done.headers["Location"]).get_data(True)
    assert "Reactivate</a> to undo" in page

    # The open session ends on its next request.
    gone = learner.get("/dashboard")
    assert gone.status_code == 302 and "/login" in gone.headers["Location"]
    blocked = login(client, "ada@example.org")
    body = blocked.get_data(as_text=True)
    assert blocked.status_code == 403
    assert "suspended until" in body and "Spam in the forums" in body
    assert "<time datetime=" in body
    boss = _user_id(app, "boss@example.org")
    with app.app_context():
        user = db.session.get(User, ada)
        assert user.status == "suspended"
        until = user.suspended_until
        assert timedelta(hours=23) < until - utcnow() <= timedelta(days=1)
        [audit] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "user.status")).all()
        assert audit.actor_id == boss
        assert audit.delta["status"] == ["active", "suspended"]
        assert audit.delta["status_reason"] == ["", "Spam in the forums"]
        kinds = db.session.scalars(select(SecurityEvent.kind).where(
            SecurityEvent.user_id == ada).order_by(SecurityEvent.id)).all()
        assert kinds[-2:] == ["status_changed", "login_blocked"]
        event = db.session.scalar(select(SecurityEvent).where(
            SecurityEvent.kind == "status_changed"))
        assert event.detail["until"] == until.isoformat()


def test_an_ended_suspension_lets_the_user_sign_in_again(app, client, login, make_user):
    with app.app_context():
        user = make_user("ada@example.org")
        accounts.set_status(user, "suspended", actor=None, reason="cool off",
                            until=utcnow() + timedelta(hours=1))
        db.session.commit()
        user.suspended_until = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert login(client, "ada@example.org").status_code == 303
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
        assert (user.status, user.suspended_until, user.status_reason) == ("active", None, "")
        event = db.session.scalars(select(SecurityEvent).where(
            SecurityEvent.kind == "status_changed").order_by(SecurityEvent.id.desc())).first()
        assert event.detail["automatic"] is True and event.actor_id is None


def test_custom_date_and_until_lifted_suspensions(app, signed_in, make_user):
    admin = signed_in("boss@example.org", "admin")
    with app.app_context():
        make_user("ada@example.org")
    ada = _user_id(app, "ada@example.org")
    data = _form(admin, f"/admin/users/{ada}/suspend")
    for bad in ("", "yesterday", "2001-01-01", "99999-01-01"):
        response = admin.post(f"/admin/users/{ada}/suspend", data={
            **data, "duration": "custom", "until": bad, "reason": "r"})
        assert response.status_code == 400, bad
    day = (utcnow() + timedelta(days=10)).date().isoformat()
    assert admin.post(f"/admin/users/{ada}/suspend", data={
        **data, "duration": "custom", "until": day, "reason": "r"}).status_code == 303
    with app.app_context():
        assert db.session.get(User, ada).suspended_until.date().isoformat() <= day
    assert admin.post(f"/admin/users/{ada}/suspend", data={
        **data, "duration": "lifted", "reason": "until we talk"}).status_code == 303
    with app.app_context():
        user = db.session.get(User, ada)
        assert (user.status, user.suspended_until) == ("suspended", None)
    assert admin.post(f"/admin/users/{ada}/suspend", data={
        **data, "duration": "forever", "reason": "r"}).status_code == 400


def test_role_change_confirms_offers_change_back_and_keeps_the_last_admin(
        app, signed_in, make_user):
    admin = signed_in("boss@example.org", "admin")
    boss = _user_id(app, "boss@example.org")
    with app.app_context():
        make_user("ada@example.org")
    ada = _user_id(app, "ada@example.org")
    page = admin.get(f"/admin/users/{ada}/role?role=editor").get_data(True)
    assert '<option selected value="editor">' in page
    data = _form(admin, f"/admin/users/{ada}/role")
    done = admin.post(f"/admin/users/{ada}/role", data={**data, "role": "editor"})
    assert done.status_code == 303
    page = admin.get(done.headers["Location"]).get_data(True)
    assert f'href="/admin/users/{ada}/role?role=learner">Change back to learner' in page
    assert admin.post(f"/admin/users/{ada}/role",
                      data={**data, "role": "pope"}).status_code == 400

    # The only active admin cannot demote, suspend or ban themselves.
    for path, form in ((f"/admin/users/{boss}/role", {"role": "learner"}),
                       (f"/admin/users/{boss}/suspend", {"duration": "1", "reason": "r"}),
                       (f"/admin/users/{boss}/ban", {"reason": "r"})):
        response = admin.post(path, data={**data, **form})
        assert response.status_code == 409, path
        assert "only active admin" in response.get_data(True)
    with app.app_context():
        assert db.session.get(User, boss).role == "admin"
        assert db.session.get(User, boss).status == "active"
    # With a second admin, the first may step down.
    assert admin.post(f"/admin/users/{ada}/role", data={**data, "role": "admin"}).status_code == 303
    assert admin.post(f"/admin/users/{boss}/role",
                      data={**data, "role": "editor"}).status_code == 303
    assert admin.get("/admin").status_code == 403


def test_ban_and_reactivate(app, signed_in, client, login, make_user):
    admin = signed_in("boss@example.org", "admin")
    with app.app_context():
        make_user("ada@example.org")
    ada = _user_id(app, "ada@example.org")
    data = _form(admin, f"/admin/users/{ada}/ban")
    assert admin.post(f"/admin/users/{ada}/ban",
                      data={**data, "reason": "Fraud"}).status_code == 303
    body = login(client, "ada@example.org").get_data(as_text=True)
    assert "This account is banned. Reason: Fraud. Contact an administrator" in body
    assert "Reactivate?" not in admin.get(f"/admin/users/{ada}/reactivate").get_data(True)
    assert admin.post(f"/admin/users/{ada}/reactivate", data=data).status_code == 303
    assert login(app.test_client(), "ada@example.org").status_code == 303
    with app.app_context():
        user = db.session.get(User, ada)
        assert (user.status, user.status_reason) == ("active", "")


def test_bad_input_is_a_400_or_404(app, signed_in):
    admin = signed_in("boss@example.org", "admin")
    for path in (f"/admin/users/{2**63}", f"/admin/users/{2**31}", "/admin/users/999",
                 f"/admin/users/{2**63}/suspend"):
        assert admin.get(path).status_code == 404, path
    for path in ("/admin/users?q=a%00b", "/admin/audit?start=yesterday",
                 "/admin/audit?start=2026-13-01", "/admin/audit?target_id=abc",
                 f"/admin/audit?target_id={2**63}", "/admin/audit?start=2026-02-01&end=2026-01-01",
                 "/admin/security?kind=nope", "/admin/security?end=0000-00-00",
                 "/admin/audit.csv?start=nope", "/admin/security?ip=%00"):
        assert admin.get(path).status_code == 400, path
    assert admin.get(f"/admin/users?before={2**63}").status_code == 200


def _audit_rows(app, n: int) -> None:
    with app.app_context():
        actor = db.session.scalar(select(User).where(User.email == "boss@example.org"))
        for i in range(n):
            db.session.add(AuditEvent(actor_id=actor.id if i % 2 else None,
                                      action="course.update" if i % 3 else "lesson.publish",
                                      target_type="course", target_id=i,
                                      delta={"title": [f"Old {i}", f"=New {i}"]}))
        db.session.commit()


def test_audit_log_filters_pages_and_shows_deltas(app, signed_in, monkeypatch):
    from webapp.web.admin import logs_views

    monkeypatch.setattr(logs_views, "PAGE_SIZE", 5)
    admin = signed_in("boss@example.org", "admin")
    _audit_rows(app, 12)
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert "title</span>: Old 11 → =New 11" in first
    ids = lambda body: [int(i) for i in re.findall(r"<tr>\s*<td>(\d+)</td>", body)]  # noqa: E731
    seen = ids(first)
    url = re.search(r'href="(/admin/audit\?[^"]*)" rel="next"', first).group(1)
    while url:
        body = admin.get(url.replace("&amp;", "&")).get_data(as_text=True)
        seen += ids(body)
        more = re.search(r'href="(/admin/audit\?[^"]*)" rel="next"', body)
        url = more.group(1) if more else None
    with app.app_context():
        everything = db.session.scalars(select(AuditEvent.id).order_by(
            AuditEvent.id.desc())).all()
    assert seen == everything  # no row twice, none skipped
    with app.app_context():
        from webapp.services.audit_log import audit_actions
        recorded = sorted(set(db.session.scalars(select(AuditEvent.action))))
        assert audit_actions() == recorded and "lesson.publish" in recorded
    assert '<option value="lesson.publish"' in first

    def count(**q):
        body = admin.get("/admin/audit", query_string=q).get_data(as_text=True)
        return len(ids(body))
    monkeypatch.setattr(logs_views, "PAGE_SIZE", 100)
    assert count(action="lesson.publish") == 4
    assert count(actor="boss@example.org") == 7  # six above, and the account's creation
    assert count(actor=str(_user_id(app, "boss@example.org"))) == 7
    assert count(actor="nobody@example.org") == 0
    assert count(target_type="course", target_id="3") == 1
    today = utcnow().date()
    assert count(start=today.isoformat(), end=today.isoformat()) >= 12
    assert count(end=(today - timedelta(days=2)).isoformat()) == 0


def test_audit_csv_streams_filtered_rows_without_formulas(app, signed_in):
    admin = signed_in("boss@example.org", "admin")
    _audit_rows(app, 4)
    response = admin.get("/admin/audit.csv?target_type=course")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:5] == ["id", "created_at", "actor_id", "actor_email", "action"]
    assert len(rows) == 5
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert rows[1][7] == "title: Old 3 → =New 3"  # the cell starts with "title", harmless
    from webapp.services.audit_log import csv_cell
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert csv_cell("-1") == "'-1" and csv_cell("@x") == "'@x" and csv_cell("+1") == "'+1"


def test_security_events_list_and_attack_summary(app, signed_in, client, login):
    admin = signed_in("boss@example.org", "admin")
    for _ in range(3):
        login(client, "victim@example.org", "wrong password")
    page = admin.get("/admin/security").get_data(as_text=True)
    assert "<strong>3</strong> failed sign-ins" in page
    assert "victim@example.org</a>: 3" in page
    assert "127.0.0.1</a>: 3" in page
    filtered = admin.get("/admin/security?kind=login_failed&email=VICTIM@example.org")
    assert filtered.get_data(as_text=True).count("<td>Login failed</td>") == 3
    assert "<td>Login failed</td>" not in admin.get(
        "/admin/security?kind=login_failed&ip=10.0.0.1").get_data(as_text=True)


def test_admin_navigation_is_one_entry_current_on_every_admin_page(app, signed_in):
    admin = signed_in("boss@example.org", "admin")
    for path in ("/admin", "/admin/users", "/admin/jobs", "/admin/costs", "/admin/audit"):
        body = admin.get(path).get_data(as_text=True)
        assert '<a href="/admin" aria-current="page">Admin</a>' in body, path
        assert "Jobs and costs" not in body
    body = admin.get("/dashboard").get_data(as_text=True)
    assert '<a href="/admin">Admin</a>' in body
    learner = signed_in("ada@example.org")
    assert 'href="/admin"' not in learner.get("/dashboard").get_data(as_text=True)


def test_a_failed_job_is_retried_after_confirmation(app, signed_in):
    from webapp.models import GenerationJob

    admin = signed_in("boss@example.org", "admin")
    with app.app_context():
        boss = db.session.scalar(select(User).where(User.email == "boss@example.org"))
        failed = GenerationJob(kind="course_draft", subject_key="course:knots",
                               params={"topic": "Knots", "level": "beginner"},
                               requester_id=boss.id, status="failed", error="provider down",
                               finished_at=utcnow())
        done = GenerationJob(kind="course_draft", subject_key="course:rope",
                             params={"topic": "Rope", "level": "beginner"},
                             status="succeeded", finished_at=utcnow())
        db.session.add_all([failed, done])
        db.session.commit()
        failed_id, done_id = failed.id, done.id
    listing = admin.get("/admin/jobs").get_data(as_text=True)
    assert f'href="/admin/jobs/{failed_id}/retry"' in listing
    assert f'href="/admin/jobs/{done_id}/retry"' not in listing
    page = admin.get(f"/admin/jobs/{failed_id}/retry")
    assert page.status_code == 200 and "provider down" in page.get_data(as_text=True)
    data = _form(admin, f"/admin/jobs/{failed_id}/retry")
    response = admin.post(f"/admin/jobs/{failed_id}/retry", data=data)
    assert response.status_code == 303
    with app.app_context():
        retry = db.session.scalars(select(GenerationJob).order_by(
            GenerationJob.id.desc())).first()
        assert retry.id != failed_id and retry.params == {"topic": "Knots", "level": "beginner"}
        assert response.headers["Location"].endswith(f"/jobs/{retry.id}")
        assert db.session.get(GenerationJob, failed_id).status == "failed"
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "job.retry"))
        assert audit.delta["retry_of"] == [None, failed_id]
    assert admin.post(f"/admin/jobs/{done_id}/retry", data=data).status_code == 409
    assert admin.get(f"/admin/jobs/{2**40}/retry").status_code == 404
    assert admin.get("/admin/jobs/999/retry").status_code == 404


def test_the_console_links_the_mail_log(app, login, make_user):
    with app.app_context():
        make_user("boss@example.org", role="admin")
    page = admin_page(app, login)
    assert page.count('href="/admin/mail"') == 2  # the card and the console's links


def admin_page(application, login) -> str:
    client = application.test_client()
    assert login(client, "boss@example.org", DEFAULT_PASSWORD).status_code == 303
    home = client.get("/admin").get_data(as_text=True)
    users = client.get("/admin/users").get_data(as_text=True)
    return home + users


def test_security_event_details_read_as_a_sentence(app):
    from webapp.web.admin.formatting import describe_detail

    with app.test_request_context():
        line = describe_detail({"before": "active", "after": "suspended", "reason": "<b>spam</b>",
                                "until": "2026-12-06T05:31:39+00:00", "automatic": None})
        assert line.startswith("active → suspended; reason: &lt;b&gt;spam&lt;/b&gt;; until: ")
        assert '<time datetime="2026-12-06T05:31:39Z">' in line
        assert describe_detail({}) == "—"
        assert describe_detail({"until": "garbage"}) == "until: garbage"
