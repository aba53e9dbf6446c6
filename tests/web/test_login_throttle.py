"""Login throttling per account and per IP, the device cookie, and security events."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import SecurityEvent, User
from webapp.services import accounts

WRONG = "not-the-password"
THROTTLED = "Too many failed sign-ins"


@pytest.fixture
def fail_logins(csrf_token):
    def fail_logins_(client, email: str, times: int, **kwargs) -> list[int]:
        token = csrf_token(client)
        return [
            client.post("/login", data={"email": email, "password": WRONG, "csrf_token": token},
                        **kwargs).status_code
            for _ in range(times)
        ]

    return fail_logins_


def events(kind: str) -> list[SecurityEvent]:
    return list(db.session.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind)
                                   .order_by(SecurityEvent.id)))


def assert_throttled(response, max_wait: int) -> None:
    assert response.status_code == 429
    wait = int(response.headers["Retry-After"])
    assert 0 < wait <= max_wait
    body = response.get_data(as_text=True)
    assert THROTTLED in body
    assert 'name="email"' in body  # the form is still there, with the message on it


@pytest.fixture
def ada(app):
    with app.app_context():
        make_user("ada@example.org")


def test_sixth_attempt_within_15_minutes_is_refused_even_with_the_right_password(
    app, client, ada, login, fail_logins
):
    assert fail_logins(client, "ada@example.org", 5) == [400] * 5
    response = login(client, "ada@example.org", DEFAULT_PASSWORD)
    assert_throttled(response, max_wait=15 * 60 + 1)
    assert client.get("/account/").status_code == 302  # not signed in


def test_spellings_of_the_same_email_share_one_account_limit(client, ada, login, fail_logins):
    # Each of these signs in to ada@example.org; none may open a fresh bucket of attempts.
    spellings = ["ADA@example.org", "Ada@EXAMPLE.ORG", " ada@example.org ",
                 "ada@\uff45xample.org", "ada@ex\uff41mple.org"]
    for spelling in spellings:
        assert fail_logins(client, spelling, 1) == [400]
    assert_throttled(login(client, "ada@example.org", DEFAULT_PASSWORD), max_wait=15 * 60 + 1)


def test_one_address_gets_30_failed_attempts_an_hour_across_accounts(
    app, client, csrf_token, fail_logins
):
    for n in range(6):
        assert fail_logins(client, f"guess{n}@example.org", 5) == [400] * 5
    response = client.post("/login", data={
        "email": "fresh@example.org", "password": WRONG, "csrf_token": csrf_token(client),
    })
    assert_throttled(response, max_wait=3600 + 1)
    # Another address is not affected.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    assert fail_logins(elsewhere, "fresh@example.org", 1) == [400]


def test_attacker_cannot_lock_the_owner_out_of_a_browser_they_signed_in_with(
    app, client, ada, csrf_token, login, fail_logins
):
    # The owner signed in from this browser before and signed out again.
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})
    assert client.get("/account/").status_code == 302

    attacker = app.test_client()
    assert fail_logins(attacker, "ada@example.org", 5) == [400] * 5
    assert login(attacker, "ada@example.org", DEFAULT_PASSWORD).status_code == 429

    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    assert client.get("/account/").status_code == 200


def test_device_cookie_for_another_account_does_not_help(
    app, client, ada, csrf_token, login, fail_logins
):
    with app.app_context():
        make_user("bob@example.org")
    assert login(client, "bob@example.org", DEFAULT_PASSWORD).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})

    attacker = app.test_client()
    fail_logins(attacker, "ada@example.org", 5)
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 429


def test_security_events_record_failures_lockouts_and_sign_ins(
    app, client, ada, csrf_token, login, fail_logins
):
    fail_logins(client, "ada@example.org", 2, headers={"X-Request-ID": "req-failed-1"})
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_token(client, "/account/")})
    attacker = app.test_client()
    fail_logins(attacker, "ada@example.org", 6)

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
        failed = events("login_failed")
        assert len(failed) == 7
        assert {e.email for e in failed} == {"ada@example.org"}
        assert {e.ip for e in failed} == {"127.0.0.1"}
        assert failed[0].request_id == "req-failed-1"
        (throttled,) = events("login_throttled")
        assert throttled.email == "ada@example.org"
        assert throttled.detail["retry_after"] > 0
        (succeeded,) = events("login_succeeded")
        assert succeeded.user_id == user.id


def test_password_change_and_role_change_are_security_events(app, client, ada, csrf_token, login):
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "a brand new passphrase",
        "csrf_token": csrf_token(client, "/account/"),
    })
    assert response.status_code == 303
    with app.app_context():
        admin = make_user("root@example.org", role="admin")
        user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
        accounts.set_role(user, "editor", actor=admin)
        db.session.commit()
        (changed,) = events("password_changed")
        assert changed.user_id == user.id
        (role,) = events("role_changed")
        assert (role.user_id, role.actor_id) == (user.id, admin.id)
        assert (role.detail["before"], role.detail["after"]) == ("learner", "editor")
