"""The moderator role: between editor and admin (writes courses, moderates, never runs the
console), changed by the CLI, explained on the admin's role page; the header; the demo's
moderator and queue items."""

from __future__ import annotations

import pytest
from flask_login import login_user
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.cli import cli
from webapp.extensions import db
from webapp.models import ChannelMessage, ModerationItem, User
from webapp.security import require_role
from webapp.services import accounts, demo
from webapp.services.exceptions import PermissionDenied


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def people(app, make_user):
    with app.app_context():
        for role in ("learner", "editor", "moderator", "admin"):
            make_user(f"{role}@example.org", role=role)


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


@pytest.mark.parametrize(("role", "moderates", "edits"), [
    ("learner", False, False), ("editor", False, True), ("moderator", True, True),
    ("admin", True, True)])
def test_require_moderator_lets_moderators_and_admins_in(app, people, role, moderates,
                                                         edits):
    with app.test_request_context():
        user = _user(f"{role}@example.org")
        login_user(user)
        assert user.is_moderator is moderates and user.is_editor is edits
        if moderates:
            assert require_role("moderator") is None
        else:
            with pytest.raises(PermissionDenied):
                require_role("moderator", "The moderation pages are for moderators.")


def test_a_moderator_is_not_an_admin(app, people, login):
    client = app.test_client()
    login(client, "moderator@example.org", DEFAULT_PASSWORD)
    assert client.get("/admin").status_code == 403
    assert client.get("/admin/users").status_code == 403
    # …but writes courses like an editor.
    assert client.get("/edit/").status_code == 200


def test_the_cli_makes_a_moderator_and_lists_them(app, people):
    runner = app.test_cli_runner()
    result = runner.invoke(cli, ["users", "set-role", "learner@example.org", "moderator"])
    assert result.exit_code == 0, result.output
    assert "learner@example.org is now moderator." in result.output
    with app.app_context():
        assert _user("learner@example.org").is_moderator
    listed = runner.invoke(cli, ["users", "list"])
    assert "moderator active     learner@example.org" in listed.output
    bad = runner.invoke(cli, ["users", "set-role", "learner@example.org", "boss"])
    assert bad.exit_code != 0 and "moderator" in bad.output


def test_the_role_page_explains_the_moderator_and_offers_it(app, people, login):
    client = app.test_client()
    login(client, "admin@example.org", DEFAULT_PASSWORD)
    with app.app_context():
        user_id = _user("editor@example.org").id
    page = text(client.get(f"/admin/users/{user_id}/role"))
    assert "moderators also write courses and keep the whole community" in page
    assert '<option value="moderator">Moderator</option>' in page


def test_learners_and_editors_have_no_moderation_link(app, people, login):
    for email in ("learner@example.org", "editor@example.org"):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        page = text(client.get("/dashboard"))
        assert 'href="/moderation"' not in page
        # Everyone sees the public report in the footer.
        assert 'href="/transparency"' in page


def test_moderators_see_the_moderation_link_when_the_queue_page_exists(app, people, login):
    client = app.test_client()
    login(client, "moderator@example.org", DEFAULT_PASSWORD)
    page = text(client.get("/dashboard"))
    assert 'href="/moderation"' in page


def test_the_demo_has_a_moderator_and_open_queue_items(app, tmp_path):
    with app.app_context():
        setup = demo.load_demo(tmp_path, fixed_password="demo-password-123")
        db.session.commit()
        assert ("moderator@example.com", "moderator") in \
            [(login.email, login.role) for login in setup.logins]
        assert accounts.find_user_by_email("moderator@example.com").is_moderator
        items = db.session.scalars(select(ModerationItem).where(
            ModerationItem.status == "open")).all()
        by_source = {item.source: item for item in items}
        assert set(by_source) == {"flags", "held"}
        flagged = db.session.get(ChannelMessage, by_source["flags"].target_id)
        assert flagged.status == "hidden" and by_source["flags"].flag_count == 3
        held = db.session.get(ChannelMessage, by_source["held"].target_id)
        assert held.status == "hidden" and "https://" in held.body
        # Again: nothing new (the demo stays idempotent).
        demo.load_demo(tmp_path, fixed_password="demo-password-123")
        db.session.commit()
        assert len(db.session.scalars(select(ModerationItem)).all()) == len(items)
