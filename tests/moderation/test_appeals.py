"""Appeals: once per action, from the author's signed-in page or (suspended, banned) the
signed link of the sign-in page and the email; into the queue; decided by a moderator
other than the one who acted; granting undoes the action and the author is told."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.moderation._people_world import act, build, post_form, sign_in, text, user_id
from webapp.extensions import db
from webapp.models import Appeal, ModerationAction, ModerationItem, Notification, User
from webapp.services.moderation import appeals


@pytest.fixture
def world(app, make_user, make_course, make_learner):
    with app.app_context():
        return build(make_user, make_course, make_learner)


@pytest.fixture
def mod(app, login, world):
    return sign_in(app, login, "mod@example.org")


def _signed_link(app, login) -> str:
    body = text(login(app.test_client(), "author@example.org"))
    match = re.search(r'href="(/appeals/signed/[^"]+)"', body)
    assert match, body
    return match.group(1)


def test_suspended_author_appeals_once_and_a_second_moderator_reverses(app, world, mod,
                                                                       login):
    assert act(mod, world["author"], "suspend", "spam", "Pills.", duration="7").status_code \
        == 303
    link = _signed_link(app, login)
    outsider = app.test_client()
    page = outsider.get(link)
    assert page.status_code == 200
    assert "A moderator suspended your account" in text(page) and "Pills." in text(page)
    assert post_form(outsider, link, body="a\x00b").status_code == 400  # at the edge
    sent = post_form(outsider, link, body="I only posted\x07 once, about loops.")
    assert sent.status_code == 200 and "Your appeal is sent" in text(sent)
    with app.app_context():
        appeal = db.session.scalar(select(Appeal))
        assert appeal.body == "I only posted once, about loops."
        item = db.session.scalar(select(ModerationItem).where(
            ModerationItem.target_kind == "appeal"))
        assert (item.target_id, item.source, item.status, item.author_id) == (
            appeal.id, "appeal", "open", world["author"])
        appeal_id = appeal.id
    # Once: the page now shows the status, and a second post is refused clearly.
    assert "Waiting for a moderator" in text(outsider.get(link))
    again = outsider.post(link, data={"body": "again", "csrf_token": re.search(
        r'name="csrf_token"[^>]*value="([^"]+)"', text(outsider.get("/login"))).group(1)})
    assert again.status_code == 409 and "already appealed" in text(again)
    # The sign-in page now links to the appeal's status.
    assert "See how your appeal stands" in text(login(app.test_client(),
                                                      "author@example.org"))
    # The moderator who acted cannot decide.
    own = mod.get(f"/moderation/appeals/{appeal_id}")
    assert "another moderator must decide it" in text(own)
    refused = post_form(mod, f"/moderation/appeals/{appeal_id}", decision="grant", note="")
    assert refused.status_code == 403
    # A second moderator grants: reactivated, told, queue item closed.
    second = sign_in(app, login, "mod2@example.org")
    granted = post_form(second, f"/moderation/appeals/{appeal_id}", decision="grant",
                        note="You are right.")
    assert granted.status_code == 303
    with app.app_context():
        assert db.session.get(User, world["author"]).status == "active"
        appeal = db.session.get(Appeal, appeal_id)
        assert (appeal.status, appeal.decided_by_id) == ("granted",
                                                         user_id("mod2@example.org"))
        suspend = db.session.scalar(select(ModerationAction).where(
            ModerationAction.action == "suspend"))
        assert suspend.undone_at is not None
        assert db.session.scalar(select(func.count()).select_from(ModerationAction).where(
            ModerationAction.action == "appeal_granted")) == 1
        assert db.session.scalar(select(ModerationItem.status).where(
            ModerationItem.target_kind == "appeal")) == "closed"
        titles = list(db.session.scalars(select(Notification.title).where(
            Notification.user_id == world["author"]).order_by(Notification.id)))
        assert titles[-1].startswith("Your appeal was granted")
    assert login(app.test_client(), "author@example.org").status_code == 303
    assert "Granted: the decision was undone" in text(outsider.get(link))
    # Decided: deciding again is a conflict.
    assert post_form(second, f"/moderation/appeals/{appeal_id}", decision="deny",
                     note="x").status_code == 409


def test_signed_in_author_appeals_a_warning_and_a_denial_needs_a_note(app, world, mod,
                                                                     login):
    act(mod, world["author"], "warn", "abuse", "Be kind.")
    with app.app_context():
        action_id = db.session.scalar(select(ModerationAction.id))
    author = sign_in(app, login, "author@example.org")
    reader = sign_in(app, login, "reader@example.org")
    assert reader.get(f"/appeals/actions/{action_id}").status_code == 404
    assert app.test_client().get(f"/appeals/actions/{action_id}").status_code == 302
    empty = post_form(author, f"/appeals/actions/{action_id}", body="  ")
    assert empty.status_code == 400
    long = post_form(author, f"/appeals/actions/{action_id}", body="x" * 2001)
    assert long.status_code == 400
    assert post_form(author, f"/appeals/actions/{action_id}", body="Not rude").status_code \
        == 200
    with app.app_context():
        appeal_id = db.session.scalar(select(Appeal.id))
    second = sign_in(app, login, "mod2@example.org")
    no_note = post_form(second, f"/moderation/appeals/{appeal_id}", decision="deny", note="")
    assert no_note.status_code == 400
    assert post_form(second, f"/moderation/appeals/{appeal_id}", decision="maybe",
                     note="x").status_code == 400
    denied = post_form(second, f"/moderation/appeals/{appeal_id}", decision="deny",
                       note="It was rude.")
    assert denied.status_code == 303
    page = text(author.get(f"/appeals/actions/{action_id}"))
    assert "Denied: the decision stands" in page and "It was rude." in page


def test_bad_links_and_ids_are_404_not_500(app, world, mod):
    client = app.test_client()
    for token in ("nonsense", "a" * 3000, "eyJ1IjoxLCJhIjoxfQ.Zz.x"):
        assert client.get(f"/appeals/signed/{token}").status_code == 404
    with app.app_context():
        forged = appeals.make_token(world["author"], 1, "not the secret")
        unknown = appeals.make_token(world["author"], 999999, app.secret_key)
        wrong = appeals._serializer(app.secret_key).dumps(["list"])
    for token in (forged, unknown, wrong):
        assert client.get(f"/appeals/signed/{token}").status_code == 404
    assert client.get("/appeals/signed/a%00b").status_code in (400, 404)
    assert mod.get("/moderation/appeals/99999999999").status_code == 404
    assert mod.get("/moderation/appeals/1234").status_code == 404


def test_an_expired_link_is_refused(app, world, mod):
    act(mod, world["author"], "ban", "spam")
    with app.app_context():
        action_id = db.session.scalar(select(ModerationAction.id))
        token = appeals.make_token(world["author"], action_id, app.secret_key)
        assert appeals.read_token(token, app.secret_key)[1].id == action_id
        with pytest.raises(appeals.NotFound):
            appeals.read_token(token, app.secret_key, max_age=-1)
