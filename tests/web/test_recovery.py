"""Password reset, email verification and email change over HTTP, with the mail read from
a real SMTP server (the ``smtp_server`` fixture)."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from tests.factories import DEFAULT_PASSWORD, make_course, make_user
from webapp.extensions import db
from webapp.models import AccountToken, SecurityEvent, User
from webapp.models.base import utcnow
from webapp.services import account_tokens, accounts

NEW_PASSWORD = "lantern orchard velvet 73"
CSRF_RE = re.compile(r'name="(?:[\w-]*)csrf_token" type="hidden" value="([^"]+)"')


def _token(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no csrf token on {path}"
    return match.group(1)


def _link(smtp_server, fragment: str, index: int = -1) -> str:
    [link] = [url for url in smtp_server.sink.links(index) if fragment in url]
    return urlsplit(link).path


def _forgot(client, email: str):
    return client.post("/forgot-password",
                       data={"email": email, "csrf_token": _token(client, "/forgot-password")})


def _reset(client, path: str, password: str = NEW_PASSWORD, confirm: str | None = None):
    return client.post(path, data={"password": password, "confirm": confirm or password,
                                   "csrf_token": _token(client, "/forgot-password")})


def _kinds(app, email: str) -> list[str]:
    with app.app_context():
        user = accounts.find_user_by_email(email)
        return list(db.session.scalars(select(SecurityEvent.kind).where(
            SecurityEvent.user_id == user.id).order_by(SecurityEvent.id)))


# --- forgot password and reset ------------------------------------------------------------

def test_sign_in_page_links_to_forgot_password(client):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/forgot-password"' in page


def test_forgot_password_answers_alike_for_known_and_unknown_addresses(app, client,
                                                                       smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    known = _forgot(client, "ada@example.org")
    unknown = _forgot(app.test_client(), "nobody@example.org")
    assert known.status_code == unknown.status_code == 200
    strip = lambda r, e: r.get_data(as_text=True).replace(e, "EMAIL")  # noqa: E731
    assert strip(known, "ada@example.org") == strip(unknown, "nobody@example.org")
    assert [m["To"] for m in smtp_server.messages] == ["ada@example.org"]


def test_reset_link_sets_the_password_signs_in_and_ends_other_sessions(app, client, login,
                                                                       smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    other = app.test_client()
    login(other, "ada@example.org")
    assert other.get("/account/").status_code == 200

    _forgot(client, "ada@example.org")
    path = _link(smtp_server, "/reset-password/")
    page = client.get(path)
    assert page.status_code == 200
    assert "Choose a new password" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    response = _reset(client, path)
    assert response.status_code == 303
    assert client.get("/account/").status_code == 200  # signed in here
    assert other.get("/account/").status_code == 302  # and out everywhere else
    assert login(app.test_client(), "ada@example.org", DEFAULT_PASSWORD).status_code == 400
    assert login(app.test_client(), "ada@example.org", NEW_PASSWORD).status_code == 303
    assert "password_reset_requested" in _kinds(app, "ada@example.org")
    assert "password_reset" in _kinds(app, "ada@example.org")
    assert smtp_server.messages[-1]["Subject"] == "Your Tangent password was changed"
    with app.app_context():
        assert accounts.find_user_by_email("ada@example.org").email_verified_at is not None


def test_a_reset_link_works_once(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    path = _link(smtp_server, "/reset-password/")
    assert _reset(client, path).status_code == 303
    again = app.test_client()
    page = again.get(path)
    assert page.status_code == 410
    assert "already used" in page.get_data(as_text=True)
    assert 'href="/forgot-password"' in page.get_data(as_text=True)


def test_an_expired_reset_link_is_refused(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    path = _link(smtp_server, "/reset-password/")
    with app.app_context():
        db.session.execute(update(AccountToken).values(expires_at=utcnow() - timedelta(1)))
        db.session.commit()
    page = client.get(path)
    assert page.status_code == 410
    assert "expired" in page.get_data(as_text=True)


def test_a_newer_reset_link_replaces_the_older_one(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    first = _link(smtp_server, "/reset-password/")
    _forgot(client, "ada@example.org")
    second = _link(smtp_server, "/reset-password/")
    assert first != second
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200


def test_tokens_are_stored_only_as_hashes(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    raw = _link(smtp_server, "/reset-password/").rsplit("/", 1)[1]
    with app.app_context():
        stored = db.session.scalar(select(AccountToken.token_hash))
    assert stored == account_tokens.hash_token(raw) and raw not in stored


@pytest.mark.parametrize("password, confirm, message", [
    ("password1234", None, "too easy to guess"),
    ("short one", None, "at least 10 characters"),
    (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords differ."),
])
def test_a_weak_or_mismatched_new_password_keeps_the_link(app, client, smtp_server, password,
                                                          confirm, message):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    path = _link(smtp_server, "/reset-password/")
    response = _reset(client, path, password, confirm)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert client.get(path).status_code == 200  # still usable
    assert _reset(client, path).status_code == 303


@pytest.mark.parametrize("token", ["garbage", "x" * 500, "%C3%A9t%C3%A9", "a%00b", "0" * 43])
def test_garbage_tokens_get_a_clear_page(client, token):
    response = client.get(f"/reset-password/{token}")
    assert response.status_code in (400, 404)
    if response.status_code == 404:
        assert "This link no longer works" in response.get_data(as_text=True)
    for path in ("/verify-email/", "/confirm-email/"):
        assert client.get(path + token).status_code in (400, 404)


def test_forgot_password_is_rate_limited_per_address(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    for _ in range(3):
        assert _forgot(app.test_client(), "ada@example.org").status_code == 200
    response = _forgot(client, "ADA@example.org")
    assert response.status_code == 429
    assert "Too many requests" in response.get_data(as_text=True)
    assert len(smtp_server.messages) == 3


def test_forgot_password_is_rate_limited_per_client_address(app, client, smtp_server):
    for n in range(10):
        assert _forgot(client, f"user{n}@example.org").status_code == 200
    assert _forgot(client, "one-more@example.org").status_code == 429


@pytest.mark.parametrize("email", ["", "not an address", "a\x00b@example.org",
                                   "x" * 300 + "@example.org"])
def test_forgot_password_refuses_bad_input_with_400(client, email):
    response = _forgot(client, email)
    assert response.status_code == 400


def test_lockout_message_points_to_forgot_password(app, client, login):
    with app.app_context():
        make_user("ada@example.org")
    for _ in range(5):
        login(client, "ada@example.org", "wrong password here")
    response = login(client, "ada@example.org", "wrong password here")
    assert response.status_code == 429
    text = response.get_data(as_text=True)
    assert "Forgot your password?" in text and "admin" not in text


# --- email verification -------------------------------------------------------------------

def test_resend_verification_from_the_account_page(app, client, login, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    page = client.get("/account/").get_data(as_text=True)
    assert "It is not confirmed yet" in page
    response = client.post("/account/verify-email/resend",
                           data={"csrf_token": _token(client, "/account/")})
    assert response.status_code == 303
    path = _link(smtp_server, "/verify-email/")
    confirm = client.post(path, data={"csrf_token": _token(client, path)})
    assert confirm.status_code == 303
    assert "It is confirmed." in client.get("/account/").get_data(as_text=True)
    kinds = _kinds(app, "ada@example.org")
    assert "email_verification_sent" in kinds and "email_verified" in kinds
    assert client.post(path, data={"csrf_token": _token(client, "/account/")}).status_code == 410


def test_opening_a_verification_link_changes_nothing_until_the_button(app, client,
                                                                      smtp_server):
    with app.app_context():
        user = make_user("ada@example.org")
        from webapp.services import recovery

        recovery.send_verification(user, site_url="http://localhost")
        db.session.commit()
    path = _link(smtp_server, "/verify-email/")
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200  # a mail scanner's visit spends nothing
    with app.app_context():
        assert db.session.scalar(select(User.email_verified_at)) is None


def test_enrolling_needs_a_confirmed_address_when_required(app, client, login, smtp_server,
                                                            settings_override):
    settings_override(email_verification="required")
    with app.app_context():
        make_user("ada@example.org")
        slug = make_course("Bread").slug
    login(client, "ada@example.org")
    response = client.post(f"/courses/{slug}/enroll",
                           data={"csrf_token": _token(client, f"/courses/{slug}")})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/courses/{slug}/verify-first"
    page = client.get(f"/courses/{slug}/verify-first")
    assert "Confirm your email address first" in page.get_data(as_text=True)
    resend = client.post("/account/verify-email/resend", data={
        "csrf_token": _token(client, f"/courses/{slug}/verify-first"),
        "next": f"/courses/{slug}/verify-first"})
    assert resend.headers["Location"] == f"/courses/{slug}/verify-first"
    path = _link(smtp_server, "/verify-email/")
    client.post(path, data={"csrf_token": _token(client, path)})
    response = client.post(f"/courses/{slug}/enroll",
                           data={"csrf_token": _token(client, f"/courses/{slug}")})
    assert response.headers["Location"] == f"/courses/{slug}"
    assert "You are enrolled" in client.get(f"/courses/{slug}").get_data(as_text=True)


def test_require_verified_is_a_domain_error(app_ctx, make_user):
    user = make_user()
    accounts.require_verified(user, required=False)
    with pytest.raises(accounts.VerificationRequired):
        accounts.require_verified(user, required=True)
    user.email_verified_at = utcnow()
    accounts.require_verified(user, required=True)


# --- email change -------------------------------------------------------------------------

def _change_email(client, new: str, password: str = DEFAULT_PASSWORD):
    return client.post("/account/email", data={
        "email-new_email": new, "email-password": password,
        "email-csrf_token": _token(client, "/account/")})


def test_email_change_happens_when_the_new_address_confirms(app, client, login, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    response = _change_email(client, "ada@new.example.org")
    assert response.status_code == 303
    recipients = sorted(m["To"] for m in smtp_server.messages)
    assert recipients == ["ada@example.org", "ada@new.example.org"]
    with app.app_context():
        assert accounts.find_user_by_email("ada@example.org") is not None
    index = next(i for i, m in enumerate(smtp_server.messages)
                 if m["To"] == "ada@new.example.org")
    path = _link(smtp_server, "/confirm-email/", index)
    assert "ada@new.example.org" in client.get(path).get_data(as_text=True)
    assert client.post(path, data={"csrf_token": _token(client, path)}).status_code == 303
    with app.app_context():
        user = accounts.find_user_by_email("ada@new.example.org")
        assert user is not None and user.email_verified_at is not None
    assert smtp_server.messages[-1]["To"] == "ada@example.org"  # told it moved
    assert "email_changed" in _kinds(app, "ada@new.example.org")


def test_email_change_to_a_taken_address_answers_alike_and_mails_it_nothing(
        app, client, login, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
        make_user("bob@example.org")
    login(client, "ada@example.org")
    taken = _change_email(client, "bob@example.org")
    free = _change_email(client, "carol@example.org")
    assert taken.status_code == free.status_code == 303
    assert [m["To"] for m in smtp_server.messages].count("bob@example.org") == 0


@pytest.mark.parametrize("new, password, message", [
    ("ada@new.example.org", "wrong password!", "current password is not correct"),
    ("ada@example.org", DEFAULT_PASSWORD, "already your address"),
    ("not an address", DEFAULT_PASSWORD, "@"),
    ("", DEFAULT_PASSWORD, "This field is required."),
])
def test_email_change_errors_are_shown_on_their_fields(app, client, login, new, password,
                                                       message):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    response = _change_email(client, new, password)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_link_opens_only_what_it_was_made_for(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    token = _link(smtp_server, "/reset-password/").rsplit("/", 1)[1]
    assert client.get(f"/verify-email/{token}").status_code == 404
    assert client.get(f"/confirm-email/{token}").status_code == 404
    assert client.get(f"/reset-password/{token}").status_code == 200


def test_an_email_change_link_works_once(app, client, login, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    _change_email(client, "ada@new.example.org")
    index = next(i for i, m in enumerate(smtp_server.messages)
                 if m["To"] == "ada@new.example.org")
    path = _link(smtp_server, "/confirm-email/", index)
    assert client.post(path, data={"csrf_token": _token(client, path)}).status_code == 303
    assert client.get(path).status_code == 410


def test_email_change_requests_are_rate_limited(app, client, login, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    for n in range(3):
        assert _change_email(client, f"ada{n}@new.example.org").status_code == 303
    response = _change_email(client, "ada9@new.example.org")
    assert response.status_code == 429
    assert "Too many requests" in response.get_data(as_text=True)


def test_changing_the_password_in_settings_needs_a_strong_one(app, client, login):
    with app.app_context():
        make_user("ada@example.org", display_name="Ada")
    login(client, "ada@example.org")
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "password1234",
        "csrf_token": _token(client, "/account/")})
    assert response.status_code == 400
    assert "too easy to guess" in response.get_data(as_text=True)


def test_a_closed_accounts_links_open_nothing(app, client, smtp_server):
    with app.app_context():
        make_user("ada@example.org")
    _forgot(client, "ada@example.org")
    path = _link(smtp_server, "/reset-password/")
    with app.app_context():
        db.session.execute(update(User).values(status="deleted"))
        db.session.commit()
    assert client.get(path).status_code == 404


def test_an_admin_can_mail_a_reset_link(app, client, smtp_server):
    from webapp.services import recovery

    with app.app_context():
        admin = make_user("boss@example.org", role="admin")
        user = make_user("ada@example.org")
        recovery.send_reset_link(user, actor=admin, site_url="http://localhost")
        db.session.commit()
    [message] = smtp_server.messages
    assert message["To"] == "ada@example.org"
    assert client.get(_link(smtp_server, "/reset-password/")).status_code == 200
    with app.app_context():
        from webapp.models import AuditEvent

        assert db.session.scalar(select(AuditEvent.actor_id).where(
            AuditEvent.action == "user.reset_link")) is not None
