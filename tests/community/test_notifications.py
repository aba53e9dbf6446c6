"""Notifications: the list (keyset pages, unread marked), opening one (marks it read, local
paths only), marking all read, the unread badge (in the page, its polling endpoint, and the
out-of-band copy on htmx answers), the daily digest (one email per user per day, claimed
rows), unsubscribing from an email without signing in (a real SMTP server), purging, and
the notices of finished jobs (branch lessons, AI drafts)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.jobs.maintenance import purge_old_notifications, send_notification_digests
from webapp.models import Notification, SiteSetting, User
from webapp.models.base import utcnow
from webapp.services import notification_prefs
from webapp.services.community import notifications
from webapp.services.community.notifications import MailContext, notify

CONTEXT = MailContext(site_url="http://tangent.test", secret="s3cret")
HX = {"HX-Request": "true"}
BADGE = 'id="notification-badge"'


def text(response) -> str:
    return response.get_data(as_text=True)


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def send(app, email: str, n: int = 1, *, kind: str = "thread_reply", url: str = "/dashboard",
         title: str = "Ann replied in “Loops”") -> None:
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == email))
        for i in range(n):
            notify([uid], kind, f"{title} {i}" if n > 1 else title, url, mail_context=None)
        db.session.commit()


def unread(app, email: str) -> int:
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == email))
        return db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == uid, Notification.read_at.is_(None)))


@pytest.fixture
def people(app, make_user):
    with app.app_context():
        make_user("ada@example.org", display_name="Ada")
        make_user("bob@example.org", display_name="Bob")


@pytest.fixture
def signed_in(login):
    def signed_in_(app, email: str, *, htmx: bool = False):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        if htmx:
            client.environ_base["HTTP_HX_REQUEST"] = "true"
        return client

    return signed_in_


@pytest.fixture
def ada(app, people, signed_in):
    return signed_in(app, "ada@example.org")


# --- the list, opening, marking -------------------------------------------------------------


def test_notify_list_open_and_badge(app, ada):
    page = text(ada.get("/notifications"))
    assert "No notifications yet" in page
    assert 'class="badge badge-unread"' not in page
    send(app, "ada@example.org", url="/courses/")
    send(app, "ada@example.org", title="Second <b>news</b>", url="/dashboard")
    page = text(ada.get("/notifications"))
    # Newest first, escaped, unread marked for eyes and for screen readers.
    assert page.index("Second &lt;b&gt;news&lt;/b&gt;") < page.index("Ann replied")
    assert page.count('class="notification-item unread"') == 2
    assert page.count('<span class="visually-hidden">Unread: </span>') == 2
    assert re.search(r'class="badge badge-unread">2<span class="visually-hidden"> unread', page)
    with app.app_context():
        first = db.session.scalar(select(Notification.id).where(
            Notification.title == "Ann replied in “Loops”"))
    response = ada.get(f"/notifications/{first}/open")
    assert response.status_code == 303 and response.headers["Location"] == "/courses/"
    assert unread(app, "ada@example.org") == 1
    page = text(ada.get("/notifications"))
    assert page.count('class="notification-item unread"') == 1
    assert re.search(r'class="badge badge-unread">1<span', page)
    # The header of any page carries the count (no JavaScript needed).
    assert re.search(r'class="badge badge-unread">1<span', text(ada.get("/courses/")))


def test_mark_all_read_as_a_form_and_with_htmx(app, ada, csrf_token):
    send(app, "ada@example.org", 3)
    token = csrf_token(ada, "/notifications")
    response = ada.post("/notifications/read-all", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/notifications"
    assert unread(app, "ada@example.org") == 0
    assert "Marked 3 notifications as read." in text(ada.get("/notifications"))
    assert "Mark all as read" not in text(ada.get("/notifications"))
    send(app, "ada@example.org", 2)
    response = ada.post("/notifications/read-all", data={"csrf_token": token}, headers=HX)
    body = text(response)
    assert response.status_code == 200 and body.startswith('<section id="notification-list"')
    assert "Marked 2 notifications as read." in body and "<html" not in body
    assert unread(app, "ada@example.org") == 0
    # The badge comes along once, the rendered list's own, emptied.
    assert body.count(BADGE) == 1 and 'data-hx-swap-oob="innerHTML"' in body
    assert "badge-unread" not in body
    assert ada.post("/notifications/read-all", data={}).status_code == 400


def test_opening_goes_only_to_local_paths_and_only_your_own(app, ada, people, signed_in):
    for url in ("https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:x"):
        send(app, "ada@example.org", url=url)
    with app.app_context():
        ids = db.session.scalars(select(Notification.id)).all()
    for nid in ids:
        response = ada.get(f"/notifications/{nid}/open")
        assert response.status_code == 303
        assert response.headers["Location"] == "/notifications"
    bob = signed_in(app, "bob@example.org")
    assert bob.get(f"/notifications/{ids[0]}/open").status_code == 404
    assert bob.get("/notifications/2147483648/open").status_code == 404
    assert bob.get("/notifications/x/open").status_code == 404
    anonymous = app.test_client().get(f"/notifications/{ids[0]}/open")
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["Location"]


def test_the_list_is_keyset_paginated(app, ada):
    send(app, "ada@example.org", notifications.PAGE_SIZE + 5)
    page = text(ada.get("/notifications"))
    assert page.count('<li class="notification-item') == notifications.PAGE_SIZE
    older = re.search(r'href="(/notifications\?before=\d+)" rel="next"', page).group(1)
    rest = text(ada.get(older))
    assert rest.count('<li class="notification-item') == 5
    assert 'rel="next"' not in rest and "Newest" in rest
    assert ada.get("/notifications?before=99999999999").status_code == 200
    assert ada.get("/notifications?before=abc").status_code == 200
    assert ada.get("/notifications?before=1\x00").status_code == 400


def test_list_and_badge_query_counts_do_not_grow(app, ada, query_counter):
    def measure(path: str, **kwargs) -> int:
        ada.get(path, **kwargs)
        with query_counter() as counted:
            assert ada.get(path, **kwargs).status_code == 200
        return counted.n

    send(app, "ada@example.org", 2)
    small = {"list": measure("/notifications"), "badge": measure("/notifications/badge",
                                                                   headers=HX)}
    send(app, "ada@example.org", 150)
    large = {"list": measure("/notifications"), "badge": measure("/notifications/badge",
                                                                   headers=HX)}
    assert small == large
    # BEGIN, the session's user, the page of notifications, the unread count.
    assert large["list"] <= 4
    # BEGIN, the session's user, the count.
    assert large["badge"] <= 3
    badge = text(ada.get("/notifications/badge", headers=HX))
    assert "99+" in badge and "<html" not in badge and badge.startswith(f"<span {BADGE}")
    page = text(ada.get("/courses/"))
    assert 'data-hx-get="/notifications/badge" data-hx-trigger="every 60s"' in page


def test_badge_rides_on_htmx_answers_of_signed_in_users_only(app, ada, make_course):
    with app.app_context():
        make_course("Lean")
    send(app, "ada@example.org", 2)
    partial = ada.get("/courses/?q=lean", headers=HX)
    body = text(partial)
    assert partial.status_code == 200 and "<html" not in body
    assert body.count(BADGE) == 1 and 'data-hx-swap-oob="innerHTML"' in body
    assert re.search(r'badge-unread">2<', body)
    # A full page renders the badge itself: no second copy.
    full = text(ada.get("/courses/"))
    assert full.count(BADGE) == 1 and "data-hx-swap-oob" not in full
    anonymous = app.test_client().get("/courses/?q=lean", headers=HX)
    assert anonymous.status_code == 200
    assert BADGE not in text(anonymous)
    assert BADGE not in text(app.test_client().get("/courses/"))
    # Redirects and empty answers are left alone.
    assert app.test_client().get("/notifications/badge", headers=HX).status_code != 200


# --- the digest -----------------------------------------------------------------------------


@pytest.fixture
def digest_readers(app, people):
    with app.app_context():
        for email in ("ada@example.org", "bob@example.org"):
            user = db.session.scalar(select(User).where(User.email == email))
            notification_prefs.set_preferences(user, {"thread_reply": "digest",
                                                      "mention": "digest"}, actor=user)
        db.session.commit()


def test_digest_groups_a_day_into_one_email_per_user(app, digest_readers, smtp_server):
    send(app, "ada@example.org", 3)
    send(app, "ada@example.org", kind="mention", title="Bob mentioned you", url="/courses/")
    send(app, "bob@example.org", 1)
    send(app, "bob@example.org", kind="announcement", title="Not a digest one")
    now = utcnow()
    assert send_notification_digests(app, now) == 2
    digests = [m for m in smtp_server.messages if "digest" in m["Subject"]]
    assert sorted(m["To"] for m in digests) == ["ada@example.org", "bob@example.org"]
    [ada_mail] = [m for m in digests if m["To"] == "ada@example.org"]
    assert ada_mail["Subject"] == "Your Tangent digest: 4 new notifications"
    body = ada_mail.get_body(("plain",)).get_content()
    assert body.count("Ann replied in “Loops”") == 3 and "Bob mentioned you" in body
    assert "Not a digest one" not in body
    assert f"{notifications.FALLBACK_PATH}" in body
    # One unsubscribe link per kind in the digest.
    assert len(re.findall(r"/notifications/unsubscribe/\S+", body)) == 2
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.delivery == "digest", Notification.digested_at.is_(None))) == 0
    # A second run that day sends nothing, even with news since: that waits for tomorrow.
    assert send_notification_digests(app, now + timedelta(minutes=1)) == 0
    send(app, "ada@example.org", 1, title="Later that day")
    assert send_notification_digests(app, now + timedelta(minutes=2)) == 0
    assert len([m for m in smtp_server.messages if "digest" in m["Subject"]]) == 2
    tomorrow = now + timedelta(days=1)
    assert send_notification_digests(app, tomorrow) == 1
    last = smtp_server.messages[-1]
    assert last["To"] == "ada@example.org" and "1 new notification" in last["Subject"]
    assert "Later that day" in last.get_body(("plain",)).get_content()


def test_digest_rows_are_claimed_once_when_two_run_at_once(app, digest_readers, smtp_server):
    send(app, "ada@example.org", 5)
    now = utcnow()
    results: list[int] = []
    start = threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(send_notification_digests(app, now))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [0, 1]
    assert len([m for m in smtp_server.messages if "digest" in m["Subject"]]) == 1


def test_claiming_skips_rows_another_process_took(app, digest_readers):
    send(app, "ada@example.org", 2)
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == "ada@example.org"))
        now = utcnow()
        first = notifications._claim_digest(uid, now)
        assert len(first) == 2
        assert notifications._claim_digest(uid, now) == []


def test_periodic_tasks_are_registered(app):
    huey = app.extensions["tangent.huey"]
    names = {task.__name__ for task in huey._registry._periodic_tasks}
    assert {"tangent.send_digests", "tangent.purge_notifications"} <= names


# --- unsubscribing --------------------------------------------------------------------------


def test_unsubscribe_from_an_email_without_signing_in(app, people, smtp_server, settings_override):
    settings_override(base_url="http://localhost")
    with app.test_request_context():
        from webapp.web.posting import mail_context

        context = mail_context()
        uid = db.session.scalar(select(User.id).where(User.email == "ada@example.org"))
        notify([uid], "mention", "Bob mentioned you in “Loops”", "/dashboard",
               mail_context=context)
        db.session.commit()
    [message] = smtp_server.messages
    [link] = [u for u in smtp_server.sink.links() if "/notifications/unsubscribe/" in u]
    path = link.removeprefix("http://localhost")
    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200
    body = text(page)
    assert "Stop these emails?" in body and "Mentions" in body and "ada@example.org" in body
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)
    done = visitor.post(path, data={"csrf_token": token})
    assert done.status_code == 200
    assert "Emails stopped" in text(done) and "/account/notifications" in text(done)
    with app.app_context():
        user = db.session.get(User, uid)
        assert notification_prefs.preference(user, "mention") == "off"
    # Nothing more arrives for that kind.
    with app.test_request_context():
        notify([uid], "mention", "Again", "/dashboard", mail_context=context)
        db.session.commit()
    assert len(smtp_server.messages) == 1
    assert message["To"] == "ada@example.org"


@pytest.mark.parametrize("token", ["nonsense", "a" * 300, "eyJ1IjoxLCJrIjoibWVudGlvbiJ9.bad"])
def test_a_bad_unsubscribe_token_is_404(app, people, token):
    client = app.test_client()
    assert client.get(f"/notifications/unsubscribe/{token}").status_code == 404
    assert client.post(f"/notifications/unsubscribe/{token}").status_code in (400, 404)


def test_a_token_signed_with_another_key_is_404(app, people):
    uid = user_id(app, "ada@example.org")
    token = notifications.unsubscribe_token("not the site's key", uid, "mention")
    assert app.test_client().get(f"/notifications/unsubscribe/{token}").status_code == 404
    token = notifications.unsubscribe_token(app.secret_key, uid, "mention")
    assert app.test_client().get(f"/notifications/unsubscribe/{token}").status_code == 200


# --- purging --------------------------------------------------------------------------------


def test_purge_removes_what_is_older_than_the_rule(app, people):
    send(app, "ada@example.org", 3)
    with app.app_context():
        rows = db.session.scalars(select(Notification).order_by(Notification.id)).all()
        rows[0].created_at = utcnow() - timedelta(days=91)
        rows[1].created_at = utcnow() - timedelta(days=89)
        db.session.commit()
    assert purge_old_notifications(app) == 1
    assert purge_old_notifications(app) == 0
    with app.app_context():
        db.session.add(SiteSetting(key="notification_retention_days", value="7"))
        db.session.commit()
    assert purge_old_notifications(app) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 1


# --- finished jobs --------------------------------------------------------------------------


def test_paths_of_job_notices_match_the_routes(app):
    with app.test_request_context():
        assert url_for("branches.show", branch_id=7) == notifications.BRANCH_PATH.format(7)
        assert url_for("jobs.show", job_id=7) == notifications.JOB_PATH.format(7)


def test_a_finished_branch_tells_the_learner(app, make_user, make_learner, make_branch_course,
                                              signed_in, csrf_token):
    with app.app_context():
        course = make_branch_course("Bread", owner=make_user("ed@example.org", role="editor"))
        make_learner("ada@example.org", enrolled_in=course)
        lesson_id = course.modules[0].lessons[0].id
    ada = signed_in(app, "ada@example.org")
    token = csrf_token(ada, "/courses/bread/lessons/lesson-1-1")
    response = ada.post(f"/lessons/{lesson_id}/branches",
                        data={"topic": "Wild yeast", "csrf_token": token})
    assert response.status_code == 303
    ada_id = user_id(app, "ada@example.org")
    with app.app_context():
        [row] = db.session.scalars(select(Notification)).all()
        assert row.kind == "branch_ready" and row.user_id == ada_id
        assert re.fullmatch(r"/branches/\d+", row.url) and "is ready" in row.title
    page = text(ada.get("/notifications"))
    assert "is ready" in page
    assert ada.get(f"/notifications/{row.id}/open").headers["Location"] == row.url


def test_a_finished_ai_draft_tells_the_editor(app, make_user, signed_in, csrf_token):
    with app.app_context():
        make_user("ed@example.org", role="editor")
    ed = signed_in(app, "ed@example.org")
    token = csrf_token(ed, "/edit/drafts/new")
    response = ed.post("/edit/drafts/new", data={"topic": "Bread baking", "level": "beginner",
                                                 "csrf_token": token})
    assert response.status_code == 303
    ed_id = user_id(app, "ed@example.org")
    with app.app_context():
        [row] = db.session.scalars(select(Notification)).all()
        assert row.kind == "draft_finished" and row.user_id == ed_id
        assert row.url == response.headers["Location"]
        assert "ready for review" in row.title
