"""An admin's actions on a person's account that the account services do: a reset link
(mailed through a real SMTP server, or shown to pass on), their data, closing it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from tests.web.test_admin import _form, _user_id
from webapp.extensions import db
from webapp.models import SecurityEvent, User


@pytest.fixture
def admin(app, login, make_user):
    """A signed-in admin's client; ada@example.org is a learner."""
    with app.app_context():
        make_user("boss@example.org", role="admin", display_name="Boss")
        make_user("ada@example.org", display_name="Ada")
    client = app.test_client()
    assert login(client, "boss@example.org", DEFAULT_PASSWORD).status_code == 303
    return client


def test_the_user_page_offers_the_account_actions(app, admin):
    page = admin.get(f"/admin/users/{_user_id(app, 'ada@example.org')}").get_data(as_text=True)
    for label in ("Send a reset link", "Download their data", "Close the account"):
        assert label in page


def test_a_reset_link_is_mailed_and_works(app, admin, smtp_server, login):
    path = f"/admin/users/{_user_id(app, 'ada@example.org')}/reset-link"
    response = admin.post(path, data={**_form(admin, path), "how": "mail"})
    assert response.status_code == 303
    [message] = smtp_server.messages
    assert message["To"] == "ada@example.org"
    [link] = [url for url in smtp_server.sink.links() if "/reset-password/" in url]
    token_path = link.split("://", 1)[1].split("/", 1)[1]
    assert app.test_client().get("/" + token_path).status_code == 200
    boss = _user_id(app, "boss@example.org")
    with app.app_context():
        event = db.session.scalar(select(SecurityEvent).where(
            SecurityEvent.kind == "password_reset_requested"))
        assert event.actor_id == boss


def test_a_reset_link_can_be_shown_once_instead(app, admin, smtp_server):
    path = f"/admin/users/{_user_id(app, 'ada@example.org')}/reset-link"
    response = admin.post(path, data={**_form(admin, path), "how": "show"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "/reset-password/" in response.get_data(as_text=True)
    assert smtp_server.messages == []
    # Not kept anywhere: the user page afterwards does not show it.
    page = admin.get(f"/admin/users/{_user_id(app, 'ada@example.org')}").get_data(as_text=True)
    assert "/reset-password/" not in page


def test_an_admin_downloads_a_persons_data(app, admin):
    ada = _user_id(app, "ada@example.org")
    path = f"/admin/users/{ada}/export"
    response = admin.post(path, data=_form(admin, path))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="tangent-account-{ada}-')
    document = json.loads(response.get_data(as_text=True))
    assert document["profile"]["email"] == "ada@example.org"
    boss = _user_id(app, "boss@example.org")
    with app.app_context():
        event = db.session.scalar(select(SecurityEvent).where(
            SecurityEvent.kind == "account_exported"))
        assert (event.user_id, event.actor_id) == (ada, boss)


def test_closing_an_account_needs_its_address_typed(app, admin, login):
    ada = _user_id(app, "ada@example.org")
    path = f"/admin/users/{ada}/close"
    wrong = admin.post(path, data={**_form(admin, path), "email": "someone@example.org"})
    assert wrong.status_code == 400
    assert "Type ada@example.org exactly" in wrong.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, ada).status == "active"
    done = admin.post(path, data={**_form(admin, path), "email": " Ada@Example.org "})
    assert done.status_code == 303
    with app.app_context():
        user = db.session.get(User, ada)
        assert (user.status, user.email) == ("deleted", f"deleted-{ada}@deleted.invalid")
    assert login(app.test_client(), "ada@example.org", DEFAULT_PASSWORD).status_code != 303
    # A closed account offers nothing more to do.
    assert admin.get(path).status_code == 409
    assert admin.get(f"/admin/users/{ada}/reset-link").status_code == 409


def test_an_admin_closes_their_own_account_on_their_account_page(app, admin):
    """With a password, as anyone else does (and the last admin is kept there)."""
    boss = _user_id(app, "boss@example.org")
    path = f"/admin/users/{boss}/close"
    page = admin.get(path).get_data(as_text=True)
    assert 'href="/account/delete"' in page and 'name="email"' not in page
    response = admin.post(path, data={**_form(admin, "/admin/"), "email": "boss@example.org"})
    assert response.status_code == 409
    with app.app_context():
        assert db.session.get(User, boss).status == "active"


def test_account_actions_need_the_form_token(app, admin):
    ada = _user_id(app, "ada@example.org")
    for action in ("reset-link", "export", "close"):
        assert admin.post(f"/admin/users/{ada}/{action}", data={}).status_code == 400
    assert admin.get(f"/admin/users/{2**63}/close").status_code == 404
