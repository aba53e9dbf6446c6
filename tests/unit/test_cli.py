"""`tangent users …` and `tangent demo`, run against the session app."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.cli import cli
from webapp.extensions import db
from webapp.models import AuditEvent, SecurityEvent, User
from webapp.services import accounts
from webapp.services.demo import DEMO_LOGINS_FILE, DEMO_PASSWORD_ENV

DEMO_LINE = re.compile(r"^\s+(\w+)\s+(\S+@example\.com)\s+(.+)$")


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs) -> Result:
        return runner.invoke(cli, list(args), **kwargs)

    return invoke


def _failed_cleanly(result: Result, code: int) -> list[str]:
    """The command stopped with ``code`` and a message, not a traceback; returns the lines."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()


def _user(app, email: str) -> User | None:
    with app.app_context():
        user = accounts.find_user_by_email(email)
        db.session.expunge_all()
        return user


def test_users_create(app, run):
    result = run("users", "create", "Ada@Example.org", "--role", "admin", "--name", "Ada L",
                 "--password", DEFAULT_PASSWORD)
    assert result.exit_code == 0, result.output
    user = _user(app, "ada@example.org")
    assert result.output == f"Created admin ada@example.org (id {user.id}).\n"
    assert (user.role, user.display_name, user.status) == ("admin", "Ada L", "active")
    with app.app_context():
        assert accounts.authenticate("ada@example.org", DEFAULT_PASSWORD) is not None
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 1


def test_users_create_duplicate_is_a_one_line_error(app, run):
    assert run("users", "create", "ada@example.org", "--password", DEFAULT_PASSWORD).exit_code == 0
    result = run("users", "create", "ADA@example.org", "--password", DEFAULT_PASSWORD)
    assert _failed_cleanly(result, 1) == ["Error: An account with this email already exists."]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-email", "--password", DEFAULT_PASSWORD],
         "Error: An email address must have an @-sign."),
        (["ada@example.org", "--password", "short"], "Error: Use at least 10 characters."),
        (["ada@example.org", "--password", "password1234"],
         "Error: This password is too easy to guess. This is a very common password."),
    ],
)
def test_users_create_invalid_input_is_a_one_line_error(app, run, args, message):
    [line] = _failed_cleanly(run("users", "create", *args), 1)
    assert line.startswith(message)
    assert _user(app, "ada@example.org") is None


def test_users_create_with_a_bad_role_is_a_usage_error(app, run):
    result = run("users", "create", "ada@example.org", "--role", "superuser",
                 "--password", DEFAULT_PASSWORD)
    lines = _failed_cleanly(result, 2)
    assert lines[0].startswith("Usage: ")
    assert "Invalid value for '--role': 'superuser' is not one of" in result.output
    assert _user(app, "ada@example.org") is None


def test_users_create_without_password_and_without_a_tty(app, run):
    result = run("users", "create", "ada@example.org", input="")
    assert _failed_cleanly(result, 1) == [
        "Error: --password is required when not run interactively"
    ]
    assert _user(app, "ada@example.org") is None


def test_users_set_role(app, run):
    with app.app_context():
        make_user("ada@example.org")
    result = run("users", "set-role", "ADA@example.org", "editor")
    assert result.exit_code == 0, result.output
    assert result.output == "ada@example.org is now editor.\n"
    user = _user(app, "ada@example.org")
    assert user.role == "editor"
    with app.app_context():
        kinds = db.session.scalars(select(SecurityEvent.kind).where(
            SecurityEvent.user_id == user.id)).all()
    assert "role_changed" in kinds

    assert _failed_cleanly(run("users", "set-role", "ada@example.org", "root"), 2)
    assert _failed_cleanly(run("users", "set-role", "nobody@example.org", "admin"), 1) == [
        "Error: no user with email 'nobody@example.org'"
    ]


def test_users_suspend_ends_existing_sessions(app, run, client, login):
    with app.app_context():
        make_user("ada@example.org")
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 303
    assert client.get("/account/").status_code == 200

    result = run("users", "suspend", "ada@example.org", "--reason", "spam")
    assert result.exit_code == 0, result.output
    assert result.output == "ada@example.org is now suspended.\n"

    response = client.get("/account/")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]
    user = _user(app, "ada@example.org")
    assert (user.status, user.session_version) == ("suspended", 2)
    # Signing in again is refused while suspended.
    assert login(client, "ada@example.org", DEFAULT_PASSWORD).status_code == 403


def test_users_suspend_for_days_or_until_a_date(app, run):
    from datetime import timedelta

    from webapp.models.base import utcnow

    with app.app_context():
        make_user("ada@example.org")
    result = run("users", "suspend", "ada@example.org", "--days", "7", "--reason", "cool off")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ada@example.org is now suspended until ")
    user = _user(app, "ada@example.org")
    assert timedelta(days=6, hours=23) < user.suspended_until - utcnow() <= timedelta(days=7)
    assert user.status_reason == "cool off"
    result = run("users", "suspend", "ada@example.org", "--until", "2099-01-31")
    assert result.exit_code == 0, result.output
    assert _user(app, "ada@example.org").suspended_until.year == 2099
    assert run("users", "suspend", "ada@example.org", "--days", "1",
               "--until", "2099-01-01").exit_code == 2
    assert run("users", "suspend", "ada@example.org", "--until", "yesterday").exit_code == 2
    assert _failed_cleanly(run("users", "suspend", "ada@example.org", "--until",
                               "2001-01-01"), 1)


def test_users_ban_and_activate(app, run):
    with app.app_context():
        make_user("ada@example.org")
    assert run("users", "ban", "ada@example.org").output == "ada@example.org is now banned.\n"
    assert _user(app, "ada@example.org").status == "banned"
    assert run("users", "activate", "ada@example.org").output == (
        "ada@example.org is now active.\n"
    )
    user = _user(app, "ada@example.org")
    assert (user.status, user.session_version) == ("active", 2)
    assert _failed_cleanly(run("users", "ban", "nobody@example.org"), 1)


def test_users_list(app, run):
    result = run("users", "list")
    assert result.exit_code == 0
    assert "No users yet" in result.output

    with app.app_context():
        first = make_user("ada@example.org", role="admin")
        second = make_user("bob@example.org", status="suspended")
        ids = (first.id, second.id)
    lines = run("users", "list").output.splitlines()
    assert [line.split() for line in lines] == [
        [str(ids[1]), "learner", "suspended", "bob@example.org"],
        [str(ids[0]), "admin", "active", "ada@example.org"],
    ]
    assert len(run("users", "list", "--limit", "1").output.splitlines()) == 1


# --- demo --------------------------------------------------------------------------


@pytest.fixture
def demo_file(app, monkeypatch):
    monkeypatch.delenv(DEMO_PASSWORD_ENV, raising=False)
    path = Path(app.instance_path) / DEMO_LOGINS_FILE
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)


def _demo_logins(output: str) -> dict[str, tuple[str, str]]:
    matches = (DEMO_LINE.match(line) for line in output.splitlines())
    return {m[2]: (m[1], m[3]) for m in matches if m}


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(select(func.count()).select_from(User)),
                db.session.scalar(select(func.count()).select_from(AuditEvent)))


def test_demo_creates_the_demo_users_and_prints_working_passwords(app, run, demo_file):
    result = run("demo")
    assert result.exit_code == 0, result.output
    logins = _demo_logins(result.output)
    assert {email: role for email, (role, _) in logins.items()} == {
        "learner@example.com": "learner",
        "editor@example.com": "editor",
        "moderator@example.com": "moderator",
        "admin@example.com": "admin",
    }
    with app.app_context():
        for email, (role, password) in logins.items():
            user = accounts.authenticate(email, password)
            assert user is not None and user.role == role
    assert demo_file.stat().st_mode & 0o077 == 0


def test_demo_is_idempotent(app, run, demo_file):
    first = _demo_logins(run("demo").output)
    counts = _counts(app)

    second = run("demo")
    assert second.exit_code == 0, second.output
    assert _demo_logins(second.output) == first
    assert _counts(app) == counts


def test_demo_takes_the_password_from_the_environment(app, run, demo_file, monkeypatch):
    monkeypatch.setenv(DEMO_PASSWORD_ENV, "demo-password-for-scripts")
    logins = _demo_logins(run("demo").output)
    assert {password for _, password in logins.values()} == {"demo-password-for-scripts"}
    with app.app_context():
        assert accounts.authenticate("admin@example.com", "demo-password-for-scripts")
    assert not demo_file.exists()  # nothing secret to remember


def test_demo_never_prints_a_password_that_does_not_work(app, run, demo_file, monkeypatch):
    with app.app_context():
        make_user("admin@example.com", role="admin", password="made by hand, not demo")
    monkeypatch.setenv(DEMO_PASSWORD_ENV, "demo-password-for-scripts")
    logins = _demo_logins(run("demo").output)
    assert logins["admin@example.com"] == ("admin", "(existing account; password unchanged)")
    assert logins["learner@example.com"] == ("learner", "demo-password-for-scripts")


@pytest.mark.parametrize("password, message", [
    ("short", "Error: Use at least 10 characters."),
    ("password1234", "Error: This password is too easy to guess. This is a very common password."),
])
def test_demo_with_a_weak_environment_password_is_a_one_line_error(app, run, demo_file,
                                                                  monkeypatch, password, message):
    monkeypatch.setenv(DEMO_PASSWORD_ENV, password)
    [line] = _failed_cleanly(run("demo"), 1)
    assert line.startswith(message)
    assert _counts(app) == (0, 0)
