"""Sessions: renewed at sign-in, kept on the server (signing out, or out everywhere, ends
them for every copy of the cookie), ended by a password change or suspension; logout is
POST."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import SecurityEvent, User, UserSession
from webapp.services import accounts

NEW_PASSWORD = "a brand new passphrase"


def signed_in(client) -> bool:
    response = client.get("/account/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def set_status(app, email: str, status: str) -> None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        accounts.set_status(user, status, actor=None, reason="test")
        db.session.commit()


@pytest.fixture
def ada(app):
    with app.app_context():
        make_user("ada@example.org")


def test_sign_in_starts_a_new_session(client, ada, login):
    client.get("/login")
    before = client.get_cookie("tangent_session").value
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    planted = client.get_cookie("tangent_session").value

    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    after = client.get_cookie("tangent_session").value
    assert after not in (before, planted)
    with client.session_transaction() as session:
        assert "planted" not in session
    assert signed_in(client)


def test_changing_the_password_ends_other_sessions_but_keeps_this_one(
    app, client, ada, csrf_token, login
):
    laptop = app.test_client()
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    assert login(laptop, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    assert signed_in(laptop)

    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD,
        "csrf_token": csrf_token(client, "/account/"),
    })
    assert response.status_code == 303
    page = client.get("/account/")
    assert page.status_code == 200
    assert "Other devices have been signed out" in page.get_data(as_text=True)
    assert not signed_in(laptop)
    assert login(laptop, "ada@example.org", DEFAULT_PASSWORD).status_code == 400
    assert login(laptop, "ada@example.org", NEW_PASSWORD).status_code == 303


def test_password_change_needs_the_current_password(client, ada, csrf_token, login):
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    response = client.post("/account/password", data={
        "current_password": "not it at all", "new_password": NEW_PASSWORD,
        "csrf_token": csrf_token(client, "/account/"),
    })
    assert response.status_code == 400
    assert "The current password is not correct." in response.get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303


@pytest.mark.parametrize("status", ["suspended", "banned"])
def test_suspension_or_ban_ends_every_session(app, client, ada, status, login):
    phone = app.test_client()
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    login(phone, "ada@example.org", DEFAULT_PASSWORD)
    set_status(app, "ada@example.org", status)
    assert not signed_in(client)
    assert not signed_in(phone)


@pytest.mark.parametrize("status", ["suspended", "banned"])
def test_suspended_or_banned_user_cannot_sign_in(app, client, ada, status, login):
    set_status(app, "ada@example.org", status)
    response = login(client, "ada@example.org", DEFAULT_PASSWORD)
    assert response.status_code == 403
    assert f"This account is {status}" in response.get_data(as_text=True)
    assert not signed_in(client)


def test_reactivated_user_can_sign_in_again(app, client, ada, login):
    set_status(app, "ada@example.org", "suspended")
    set_status(app, "ada@example.org", "active")
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303


def test_logout_by_get_is_refused_with_a_page(client, ada, login):
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    response = client.get("/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "<title>Method not allowed · Tangent</title>" in response.get_data(as_text=True)
    assert signed_in(client)


def test_logout_by_post_signs_out(client, ada, csrf_token, login):
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})
    assert response.status_code == 303
    assert "You are signed out." in client.get("/").get_data(as_text=True)
    assert not signed_in(client)


def test_account_page_requires_sign_in(client):
    response = client.get("/account/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_wrong_current_passwords_are_throttled_per_account(app, client, csrf_token, login):
    with app.app_context():
        make_user("guess@example.org")
    login(client, "guess@example.org", DEFAULT_PASSWORD)
    token = csrf_token(client, "/account/")
    statuses = [
        client.post("/account/password", data={
            "current_password": f"wrong-guess-{i}", "new_password": "a new password 123",
            "csrf_token": token}).status_code
        for i in range(6)
    ]
    assert statuses == [400] * 5 + [429]
    # Even the right password waits now: the budget is spent.
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "a new password 123",
        "csrf_token": token})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in response.get_data(as_text=True)


def _copy_of_cookie(app, client):
    """Another browser holding a copy of ``client``'s session cookie, taken now."""
    thief = app.test_client()
    thief.set_cookie("tangent_session", client.get_cookie("tangent_session").value)
    return thief


def _session_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(UserSession))


def test_a_cookie_copied_before_signing_out_opens_nothing_afterwards(
    app, client, ada, csrf_token, login
):
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    copy = _copy_of_cookie(app, client)
    assert signed_in(copy)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})
    assert not signed_in(copy)
    assert copy.get("/dashboard").status_code == 302
    assert _session_rows(app) == 0


def test_sign_out_everywhere_ends_every_session_this_one_included(
    app, client, ada, csrf_token, login
):
    phone = app.test_client()
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    login(phone, "ada@example.org", DEFAULT_PASSWORD)
    copy = _copy_of_cookie(app, client)
    page = client.get("/account/sessions").get_data(as_text=True)
    assert "Where you are signed in" in page and page.count('class="session-card"') == 2
    assert page.count("This browser") == 1

    response = client.post("/account/sessions/end",
                           data={"csrf_token": csrf_token(client, "/account/")})
    assert response.status_code == 303 and response.headers["Location"].endswith("/login")
    assert "signed out on every device (2 sessions)" in client.get("/login").get_data(
        as_text=True)
    for browser in (client, phone, copy):
        assert not signed_in(browser)
    assert _session_rows(app) == 0
    with app.app_context():
        event = db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == "logout")
                                   .order_by(SecurityEvent.id.desc())).first()
        assert event.detail == {"everywhere": True, "sessions": 2}
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303


def test_a_password_change_and_a_suspension_delete_the_ended_sessions(
    app, client, ada, csrf_token, login
):
    laptop = app.test_client()
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    login(laptop, "ada@example.org", DEFAULT_PASSWORD)
    assert _session_rows(app) == 2
    client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD,
        "csrf_token": csrf_token(client, "/account/")})
    assert _session_rows(app) == 1 and signed_in(client)
    set_status(app, "ada@example.org", "suspended")
    assert _session_rows(app) == 0


@pytest.mark.parametrize(("agent", "described"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
     "Firefox on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/18.1 Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0 Mobile Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0",
     "Edge on Windows"),
    ("curl/8.5.0", "Unknown browser"),
])
def test_sessions_are_listed_by_browser_and_system(agent, described):
    from webapp.services.sessions import describe_browser

    assert describe_browser(agent) == described


def test_signing_in_lands_on_the_dashboard_unless_a_page_asked(client, ada, csrf_token):
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": "ada@example.org",
                                           "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/dashboard"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})
    token = csrf_token(client, "/login?next=/courses/")
    response = client.post("/login", data={"email": "ada@example.org", "next": "/courses/",
                                           "password": DEFAULT_PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/courses/"
