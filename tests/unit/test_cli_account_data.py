"""`tangent users export` and `tangent users delete`."""

from __future__ import annotations

import json

import pytest
from click.testing import Result

from tests.factories import make_user
from webapp.cli import cli
from webapp.extensions import db
from webapp.models import SecurityEvent, User


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs) -> Result:
        return runner.invoke(cli, list(args), **kwargs)

    return invoke


def test_users_export_prints_or_writes_the_document(app, run, tmp_path):
    with app.app_context():
        make_user("ada@example.org", display_name="Ada")
    result = run("users", "export", "ADA@example.org")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["format"] == "tangent-account-export"
    assert document["profile"]["display_name"] == "Ada"
    target = tmp_path / "ada.json"
    result = run("users", "export", "ada@example.org", "--output", str(target))
    assert result.exit_code == 0 and json.loads(target.read_text())["profile"]["email"] == \
        "ada@example.org"
    with app.app_context():
        assert db.session.query(SecurityEvent).filter_by(kind="account_exported").count() == 2


def test_users_delete_needs_yes_without_a_terminal_and_closes_the_account(app, run):
    with app.app_context():
        user_id = make_user("ada@example.org").id
    result = run("users", "delete", "ada@example.org", input="")
    assert result.exit_code == 1 and "--yes is required" in result.output
    result = run("users", "delete", "ada@example.org", "--yes")
    assert result.exit_code == 0, result.output
    assert f"deleted-{user_id}@deleted.invalid" in result.output
    with app.app_context():
        assert db.session.get(User, user_id).status == "deleted"
    result = run("users", "delete", "ada@example.org", "--yes")
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_users_delete_refuses_the_last_admin(app, run):
    with app.app_context():
        make_user("boss@example.org", role="admin")
    result = run("users", "delete", "boss@example.org", "--yes")
    assert result.exit_code == 1 and "last active admin" in result.output
