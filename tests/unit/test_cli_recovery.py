"""`tangent users set-password` and `tangent users reset-link`."""

from __future__ import annotations

import importlib

import pytest
from click.testing import Result
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.cli import cli
from webapp.extensions import db
from webapp.models import SecurityEvent
from webapp.services import accounts

NEW_PASSWORD = "lantern orchard velvet 73"


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs) -> Result:
        return runner.invoke(cli, list(args), **kwargs)

    return invoke


def _failed_cleanly(result: Result, code: int) -> list[str]:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()


def test_set_password_from_stdin_ends_the_sessions(app, run, client, login):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    result = run("users", "set-password", "ADA@example.org", "--password-stdin",
                 input=NEW_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "ada@example.org" in result.output
    assert client.get("/account/").status_code == 302
    with app.app_context():
        assert accounts.authenticate("ada@example.org", NEW_PASSWORD) is not None
        assert accounts.authenticate("ada@example.org", DEFAULT_PASSWORD) is None


def test_set_password_prompts_twice_on_a_terminal(app, run, monkeypatch):
    with app.app_context():
        make_user("ada@example.org")
    # The module, not the click group that webapp.cli exports under the same name.
    monkeypatch.setattr(importlib.import_module("webapp.cli.users"), "_is_terminal",
                        lambda: True)
    result = run("users", "set-password", "ada@example.org",
                 input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output  # hidden input
    with app.app_context():
        assert accounts.authenticate("ada@example.org", NEW_PASSWORD) is not None


def test_set_password_without_a_terminal_needs_the_flag(app, run):
    with app.app_context():
        make_user("ada@example.org")
    result = run("users", "set-password", "ada@example.org", input="")
    assert _failed_cleanly(result, 1) == [
        "Error: --password-stdin is required when not run interactively"]


@pytest.mark.parametrize("password, message", [
    ("password1234", "Error: This password is too easy to guess."),
    ("short", "Error: Use at least 10 characters."),
])
def test_set_password_refuses_a_weak_password(app, run, password, message):
    with app.app_context():
        make_user("ada@example.org")
    [line] = _failed_cleanly(run("users", "set-password", "ada@example.org",
                                 "--password-stdin", input=password + "\n"), 1)
    assert line.startswith(message)
    with app.app_context():
        assert accounts.authenticate("ada@example.org", DEFAULT_PASSWORD) is not None


@pytest.mark.parametrize("args", [["set-password", "nobody@example.org", "--password-stdin"],
                                  ["reset-link", "nobody@example.org"]])
def test_unknown_address_is_a_one_line_error(app, run, args):
    result = run("users", *args, input=NEW_PASSWORD + "\n")
    assert _failed_cleanly(result, 1) == ["Error: no user with email 'nobody@example.org'"]


def test_reset_link_prints_a_working_link(app, run, client, settings_override):
    settings_override(base_url="https://learn.example.org")
    with app.app_context():
        make_user("ada@example.org")
    result = run("users", "reset-link", "ada@example.org")
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("https://learn.example.org/reset-password/")
    path = link.removeprefix("https://learn.example.org")
    assert client.get(path).status_code == 200
    with app.app_context():
        kinds = db.session.scalars(select(SecurityEvent.kind)).all()
        assert "password_reset_requested" in kinds


def test_reset_link_defaults_to_the_local_address(app, run):
    with app.app_context():
        make_user("ada@example.org")
    result = run("users", "reset-link", "ada@example.org")
    assert result.output.startswith("http://127.0.0.1:5000/reset-password/")
