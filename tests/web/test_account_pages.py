"""The account's own pages: sessions, notification preferences, data export, closing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import NotificationPreference, SecurityEvent, User, UserSession
from webapp.models.base import utcnow

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


@pytest.fixture
def ada(app, client, login):
    with app.app_context():
        make_user("ada@example.org", display_name="Ada")
    assert login(client, "ada@example.org").status_code == 303
    return client


def _signed_in(client) -> bool:
    return client.get("/dashboard").status_code == 200


def _session_ids(app, email="ada@example.org") -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(UserSession.id).join(User).where(
            User.email == email).order_by(UserSession.id)))


def _events(app, kind: str) -> list[SecurityEvent]:
    with app.app_context():
        return list(db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind)))


@pytest.fixture
def statements(app):
    """The SQL statements run while the block runs: ``with statements() as seen: ...``."""
    from contextlib import contextmanager

    @contextmanager
    def capture():
        seen: list[str] = []

        def _on_execute(_conn, _cursor, statement, *_args):
            seen.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", _on_execute)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", _on_execute)

    return capture


# --- sessions -------------------------------------------------------------------------


def test_sessions_are_listed_with_device_address_and_times(app, ada, login):
    laptop = app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = FIREFOX
    laptop.environ_base["REMOTE_ADDR"] = "198.51.100.4"
    login(laptop, "ada@example.org")
    page = ada.get("/account/sessions").get_data(as_text=True)
    assert page.count('class="session-card"') == 2
    assert "Firefox on Windows" in page and "198.51.100.4" in page
    assert page.count("This browser") == 1 and page.count('aria-label="Sign out ') == 1
    assert "<time datetime=" in page


def test_signing_out_another_device_ends_it_on_its_next_request(app, ada, login, csrf_token):
    laptop = app.test_client()
    login(laptop, "ada@example.org")
    mine, theirs = _session_ids(app)
    response = ada.post(f"/account/sessions/{theirs}/end",
                        data={"csrf_token": csrf_token(ada, "/account/sessions")})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/account/sessions")
    assert not _signed_in(laptop) and _signed_in(ada)
    assert _session_ids(app) == [mine]
    [ended] = _events(app, "session_ended")
    assert ended.detail["session"] == theirs


def test_signing_out_this_device_by_its_id_signs_out(app, ada, csrf_token):
    [mine] = _session_ids(app)
    response = ada.post(f"/account/sessions/{mine}/end",
                        data={"csrf_token": csrf_token(ada, "/account/sessions")})
    assert response.headers["Location"].endswith("/login")
    assert not _signed_in(ada) and _session_ids(app) == []


@pytest.mark.parametrize("session_id", ["999999", str(2**31), str(2**63), "-1", "abc",
                                        "1e3", "%00"])
def test_a_session_that_is_not_there_is_404(app, ada, csrf_token, session_id):
    response = ada.post(f"/account/sessions/{session_id}/end",
                        data={"csrf_token": csrf_token(ada, "/account/sessions")})
    assert response.status_code in (404, 400) if session_id == "%00" else \
        response.status_code == 404
    assert _signed_in(ada)


def test_another_users_session_is_404_and_stays(app, ada, login, csrf_token):
    bob = app.test_client()
    with app.app_context():
        make_user("bob@example.org")
    login(bob, "bob@example.org")
    [bobs] = _session_ids(app, "bob@example.org")
    response = ada.post(f"/account/sessions/{bobs}/end",
                        data={"csrf_token": csrf_token(ada, "/account/sessions")})
    assert response.status_code == 404
    assert _signed_in(bob) and _events(app, "session_ended") == []


def test_the_list_shows_the_newest_fifty_and_counts_the_rest(app, ada):
    from webapp.services import sessions

    with app.app_context():
        user = db.session.scalar(select(User).filter_by(email="ada@example.org"))
        for _ in range(sessions.LISTED_SESSIONS + 2):
            sessions.start_session(user, user_agent=FIREFOX)
        db.session.commit()
    page = ada.get("/account/sessions").get_data(as_text=True)
    assert page.count('class="session-card"') == sessions.LISTED_SESSIONS
    assert "And 3 older sessions not listed here." in " ".join(page.split())


def test_last_seen_is_written_only_when_stale(app, ada, statements):
    with statements() as seen:
        assert ada.get("/dashboard").status_code == 200
    assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE")]

    long_ago = utcnow() - timedelta(hours=3)
    with app.app_context():
        db.session.execute(update(UserSession).values(last_seen_at=long_ago, ip=None))
        db.session.commit()
    with statements() as seen:
        ada.environ_base["REMOTE_ADDR"] = "203.0.113.5"
        assert ada.get("/dashboard").status_code == 200
    assert len([s for s in seen if "UPDATE user_session" in s]) == 1
    with app.app_context():
        row = db.session.scalars(select(UserSession)).one()
        assert row.last_seen_at > long_ago + timedelta(hours=2) and row.ip == "203.0.113.5"
    with statements() as seen:
        ada.get("/dashboard")
    assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE")]


def test_anonymous_requests_write_nothing(client, statements):
    with statements() as seen:
        assert client.get("/courses/").status_code == 200
    assert not [s for s in seen if s.lstrip().upper().startswith(("UPDATE", "INSERT"))]


@pytest.mark.parametrize("path", ["/account/sessions", "/account/notifications",
                                  "/account/data", "/account/delete"])
def test_account_pages_need_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- notification preferences -------------------------------------------------------


def _prefs(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(NotificationPreference.kind,
                                              NotificationPreference.channel)).tuples().all())


def _prefs_form(**changes) -> dict[str, str]:
    from webapp.services.notification_prefs import DEFAULTS

    return {**DEFAULTS, **changes}


def test_notification_choices_are_shown_and_saved(app, ada, csrf_token):
    page = ada.get("/account/notifications").get_data(as_text=True)
    assert "Someone mentions you by name" in page
    assert '<option selected value="email">Email</option>' in page
    response = ada.post("/account/notifications", data={
        **_prefs_form(mention="digest", branch_ready="off"),
        "csrf_token": csrf_token(ada, "/account/notifications")})
    assert response.status_code == 303
    assert _prefs(app) == {"mention": "digest", "branch_ready": "off"}
    page = ada.get("/account/notifications").get_data(as_text=True)
    assert "Your notification choices are saved." in page
    assert '<option selected value="digest">Daily email digest</option>' in page


@pytest.mark.parametrize("bad", [{"mention": "pigeon"}, {"mention": ""},
                                 {"mention": "x" * 5000}])
def test_a_channel_that_is_not_offered_is_refused(app, ada, csrf_token, bad):
    response = ada.post("/account/notifications", data={
        **_prefs_form(**bad), "csrf_token": csrf_token(ada, "/account/notifications")})
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert _prefs(app) == {}


def test_a_nul_byte_is_a_bad_request(app, ada, csrf_token):
    response = ada.post("/account/notifications", data={
        **_prefs_form(mention="off\x00"), "csrf_token": csrf_token(ada, "/account/notifications")})
    assert response.status_code == 400
    response = ada.post("/account/delete", data={
        "password": "x\x00", "csrf_token": csrf_token(ada, "/account/delete")})
    assert response.status_code == 400
    assert _prefs(app) == {} and _signed_in(ada)


# --- export ---------------------------------------------------------------------------


def test_the_data_page_explains_and_the_export_downloads(app, ada, csrf_token):
    page = ada.get("/account/data").get_data(as_text=True)
    assert "Download my data" in page and "Close my account" in page
    response = ada.post("/account/data/export",
                        data={"csrf_token": csrf_token(ada, "/account/data")})
    assert response.status_code == 200 and response.mimetype == "application/json"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="tangent-account-')
    assert disposition.endswith(f'-{utcnow().date().isoformat()}.json"')
    assert response.headers["Cache-Control"] == "no-store"
    document = json.loads(response.get_data(as_text=True))
    assert document["format"] == "tangent-account-export"
    assert document["profile"]["display_name"] == "Ada"
    assert len(_events(app, "account_exported")) == 1


def test_exports_are_rate_limited_per_account(app, ada, csrf_token):
    token = csrf_token(ada, "/account/data")
    codes = [ada.post("/account/data/export", data={"csrf_token": token}).status_code
             for _ in range(6)]
    assert codes == [200] * 5 + [429]
    response = ada.post("/account/data/export", data={"csrf_token": token})
    assert int(response.headers["Retry-After"]) > 0
    assert "downloaded your data several times" in response.get_data(as_text=True)


def test_exporting_needs_a_post_with_the_token(app, ada):
    assert ada.get("/account/data/export").status_code == 405
    assert ada.post("/account/data/export").status_code == 400


# --- closing the account --------------------------------------------------------------


def test_the_closing_page_states_the_rules(ada):
    page = " ".join(ada.get("/account/delete").get_data(as_text=True).split())
    for rule in ("Your quiz attempts and every answer you gave.",
                 "their public verification links stop working",
                 "“Deleted user” with a number", "you can create a new account with it later",
                 "Courses you wrote or edited", "cannot be closed while it is the only active"):
        assert rule in page


def test_a_wrong_password_closes_nothing(app, ada, csrf_token):
    response = ada.post("/account/delete", data={
        "password": "not it", "csrf_token": csrf_token(ada, "/account/delete")})
    assert response.status_code == 400
    assert "The password is not correct." in response.get_data(as_text=True)
    assert _signed_in(ada) and _events(app, "account_deleted") == []


def test_an_empty_password_is_asked_for_again(ada, csrf_token):
    response = ada.post("/account/delete", data={
        "password": "", "csrf_token": csrf_token(ada, "/account/delete")})
    assert response.status_code == 400


def test_closing_the_account_signs_out_everywhere_and_frees_the_address(
        app, ada, login, csrf_token):
    phone = app.test_client()
    login(phone, "ada@example.org")
    response = ada.post("/account/delete", data={
        "password": DEFAULT_PASSWORD, "csrf_token": csrf_token(ada, "/account/delete")})
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "Your account is closed" in ada.get("/").get_data(as_text=True)
    assert not _signed_in(ada) and not _signed_in(phone)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
        assert db.session.scalar(select(User.status)) == "deleted"
    assert login(ada, "ada@example.org").status_code == 400
    token = csrf_token(ada, "/register")
    response = ada.post("/register", data={"email": "ada@example.org",
                                           "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(
            User.email == "ada@example.org")) == 1  # a new account with the freed address


def test_the_last_admin_is_told_why_the_account_stays(app, client, login, csrf_token):
    with app.app_context():
        make_user("boss@example.org", role="admin")
    login(client, "boss@example.org")
    response = client.post("/account/delete", data={
        "password": DEFAULT_PASSWORD, "csrf_token": csrf_token(client, "/account/delete")})
    assert response.status_code == 409
    assert "last active admin" in response.get_data(as_text=True)
    assert _signed_in(client)


def test_a_closed_accounts_certificate_no_longer_verifies(app, ada, csrf_token):
    from tests.factories import make_course
    from webapp.models import Certificate

    with app.app_context():
        course = make_course("Looms")
        user = db.session.scalar(select(User).filter_by(email="ada@example.org"))
        db.session.add(Certificate(user_id=user.id, course_id=course.id, code="c0ffee",
                                   learner_name="Ada", course_title="Looms"))
        db.session.commit()
    assert app.test_client().get("/certificates/c0ffee").status_code == 200
    ada.post("/account/delete", data={"password": DEFAULT_PASSWORD,
                                      "csrf_token": csrf_token(ada, "/account/delete")})
    assert app.test_client().get("/certificates/c0ffee").status_code == 404


def test_a_failed_last_seen_write_is_logged_and_the_page_still_answers(
        app, ada, monkeypatch, caplog):
    from sqlalchemy.exc import OperationalError

    from webapp.web import session_seen

    def locked(*_args, **_kwargs):
        raise OperationalError("UPDATE user_session", {}, Exception("database is locked"))

    with app.app_context():
        db.session.execute(update(UserSession).values(last_seen_at=None))
        db.session.commit()
    monkeypatch.setattr(session_seen, "touch_session", locked)
    assert ada.get("/dashboard").status_code == 200
    assert "could not record when session" in caplog.text
    assert _signed_in(ada)
