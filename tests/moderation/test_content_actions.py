"""Content actions from the item page: each changes the content, closes the item, resolves
its flags, and writes the moderation action, the audit row, the author's notice and its
email in one transaction; ``reverse`` undoes them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.moderation import test_queue
from tests.moderation.test_queue import text, token, user_id
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    ChannelMessage,
    Flag,
    ModerationAction,
    ModerationItem,
    Notification,
    OutgoingMail,
    PostRevision,
    QaAnswer,
    QaQuestion,
    User,
)
from webapp.services.moderation import content, queue

# The queue tests' fixtures.
world = test_queue.world
signed_in = test_queue.signed_in


def act(client, item_id: int, action: str, **data):
    csrf = token(client, f"/moderation/items/{item_id}/{action}")
    return client.post(f"/moderation/items/{item_id}/{action}",
                       data={"reason": "spam", "note": "", "csrf_token": csrf, **data})


def counts(author_id: int) -> tuple[int, int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(ModerationAction).where(
            ModerationAction.moderator_id.is_not(None))),
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("moderation.%"))),
        db.session.scalar(select(func.count()).select_from(Notification).where(
            Notification.user_id == author_id, Notification.kind == "moderation")),
        db.session.scalar(select(func.count()).select_from(OutgoingMail)),
    )


@pytest.mark.parametrize(("action", "status", "flag_status", "told"), [
    ("hide", "hidden", "upheld", True), ("delete", "deleted", "upheld", True),
    ("dismiss", "visible", "dismissed", False)])
def test_an_action_on_an_answer(app, world, signed_in, action, status, flag_status, told):
    mod = signed_in("mod@example.org")
    item_id = world["items"]["answer"]
    page = text(mod.get(f"/moderation/items/{item_id}"))
    assert "Buy pills now" in page and "Why does my loop never end?" in page
    assert "An advert" in page  # the flag's note
    confirm = mod.get(f"/moderation/items/{item_id}/{action}")
    assert confirm.status_code == 200 and "<select" in text(confirm)
    with app.app_context():
        mail_before = counts(world["author"])[3]
    response = act(mod, item_id, action, note="Adverts are not allowed.")
    assert response.status_code == 303, text(response)
    with app.app_context():
        answer = db.session.get(QaAnswer, world["answer"])
        assert answer.status == status
        item = db.session.get(ModerationItem, item_id)
        assert (item.status, item.outcome, item.flag_count) == ("closed", action, 0)
        assert item.hidden == (status != "visible")
        assert {f.status for f in db.session.scalars(select(Flag).where(
            Flag.target_kind == "answer"))} == {flag_status}
        row = db.session.scalar(select(ModerationAction).where(
            ModerationAction.moderator_id == user_id("mod@example.org")))
        assert (row.action, row.reason, row.note, row.subject_id) == (
            action, "spam", "Adverts are not allowed.", world["author"])
        actions, audits, notices_, mails = counts(world["author"])
        assert (actions, audits) == (1, 1)
        assert notices_ == (1 if told else 0) and mails == mail_before + (1 if told else 0)
        if status == "deleted":
            assert db.session.get(QaQuestion, answer.question_id).answer_count == 0
    # The item is closed: a second try is a clear conflict.
    again = mod.get(f"/moderation/items/{item_id}/{action}")
    assert again.status_code == 409 and "dealt with already" in text(again)


def test_edit_keeps_a_revision_and_tells_the_author(app, world, signed_in):
    mod = signed_in("mod@example.org")
    item_id = world["items"]["message0"]
    form = text(mod.get(f"/moderation/items/{item_id}/edit"))
    assert "Message number 0" in form
    refused = act(mod, item_id, "edit", body="Cleaned up", note="")
    assert refused.status_code == 400 and "Write the note" in text(refused)
    response = act(mod, item_id, "edit", body="Cleaned up", note="Please be kind.")
    assert response.status_code == 303
    with app.app_context():
        message = db.session.get(ChannelMessage, world["messages"][0])
        assert message.body == "Cleaned up" and "Cleaned up" in message.body_html
        assert message.edited_at is not None
        revision = db.session.scalar(select(PostRevision).where(
            PostRevision.message_id == message.id))
        assert revision.body == "Message number 0"
        assert revision.editor_id == user_id("mod@example.org")
        notice = db.session.scalar(select(Notification).where(
            Notification.user_id == world["author"]))
        assert notice.title == "A moderator edited your message"
        mail = db.session.scalar(select(OutgoingMail).order_by(OutgoingMail.id.desc()))
        assert "Please be kind." in mail.text_body and mail.recipient == "author@example.org"
        action = db.session.scalar(select(ModerationAction).where(
            ModerationAction.action == "edit"))
        content.reverse(action, db.session.get(User, user_id("mod2@example.org")),
                        site_url=None)
        db.session.commit()
        assert db.session.get(ChannelMessage, message.id).body == "Message number 0"
        assert db.session.get(ModerationAction, action.id).undone_at is not None


def test_hide_then_reverse_shows_it_again(app, world, signed_in):
    mod = signed_in("mod@example.org")
    item_id = world["items"]["question"]
    assert act(mod, item_id, "hide", reason="wrong").status_code == 303
    with app.app_context():
        assert db.session.get(QaQuestion, world["question"]).status == "hidden"
        action = db.session.scalar(select(ModerationAction).where(
            ModerationAction.action == "hide", ModerationAction.moderator_id.is_not(None)))
        content.reverse(action, db.session.get(User, user_id("mod2@example.org")),
                        site_url=None)
        db.session.commit()
        assert db.session.get(QaQuestion, world["question"]).status == "visible"
        assert db.session.get(ModerationItem, item_id).hidden is False
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.action == "moderation.reverse")) == "moderation.reverse"


def test_restore_of_an_auto_hidden_message(app, world, signed_in):
    item_id = world["items"]["message3"]  # hidden by three flags
    with app.app_context():
        assert db.session.get(ChannelMessage, world["messages"][3]).status == "hidden"
    mod = signed_in("mod@example.org")
    page = text(mod.get(f"/moderation/items/{item_id}"))
    assert f"/moderation/items/{item_id}/restore" in page
    assert f"/moderation/items/{item_id}/hide" not in page
    # The messages around it are shown.
    assert "Message number 2" in page and "Message number 4" in page
    assert act(mod, item_id, "restore").status_code == 303
    with app.app_context():
        assert db.session.get(ChannelMessage, world["messages"][3]).status == "visible"
        assert {f.status for f in db.session.scalars(select(Flag).where(
            Flag.target_kind == "message", Flag.target_id == world["messages"][3]))} \
            == {"dismissed"}
        assert db.session.scalar(select(Notification.title).where(
            Notification.user_id == world["author"])) == "Your message is shown again"


def test_other_reason_needs_a_note_and_bad_choices_are_400(app, world, signed_in):
    mod = signed_in("mod@example.org")
    item_id = world["items"]["message0"]
    assert act(mod, item_id, "hide", reason="other").status_code == 400
    assert act(mod, item_id, "hide", reason="boredom").status_code == 400
    assert mod.get(f"/moderation/items/{item_id}/approve").status_code == 400
    with app.app_context():
        assert db.session.get(ChannelMessage, world["messages"][0]).status == "visible"
        assert db.session.get(ModerationItem, item_id).status == "open"


def test_a_closed_item_cannot_be_closed_twice_in_the_service(app, world):
    with app.app_context():
        mod = db.session.get(User, user_id("mod@example.org"))
        mod2 = db.session.get(User, user_id("mod2@example.org"))
        item = db.session.get(ModerationItem, world["items"]["message1"])
        queue.claim(item, mod)
        db.session.commit()
        from webapp.services.exceptions import Conflict
        with pytest.raises(Conflict):
            content.act(item, mod2, "hide", reason="spam", site_url=None)
        db.session.rollback()
        assert db.session.get(ChannelMessage, world["messages"][1]).status == "visible"


def test_a_moderator_undoes_a_hide_from_the_closed_item(app, world, signed_in):
    mod = signed_in("mod@example.org")
    item_id = world["items"]["message2"]
    path = f"/moderation/items/{item_id}/hide"
    done = mod.post(path, data={"csrf_token": token(mod, path), "reason": "spam"})
    assert done.status_code == 303
    page = text(mod.get(f"/moderation/items/{item_id}"))
    assert "Undo “hidden”" in page
    with app.app_context():
        hide = db.session.scalar(select(ModerationAction).where(
            ModerationAction.item_id == item_id, ModerationAction.action == "hide"))
        hide_id = hide.id
    undo = f"/moderation/items/{item_id}/undo/{hide_id}"
    second = signed_in("mod2@example.org")
    csrf = token(second, f"/moderation/items/{item_id}")
    assert second.post(undo, data={"csrf_token": csrf}).status_code == 303
    # The same undo again (a second click, another moderator): a conflict, nothing more.
    assert second.post(undo, data={"csrf_token": csrf}).status_code == 409
    with app.app_context():
        message = db.session.get(ChannelMessage, world["messages"][2])
        assert message.status == "visible"
        hide = db.session.get(ModerationAction, hide_id)
        assert hide.undone_at is not None
        restore = db.session.scalars(select(ModerationAction).where(
            ModerationAction.item_id == item_id, ModerationAction.action == "restore")).all()
        assert len(restore) == 1 and restore[0].moderator_id == user_id("mod2@example.org")
        told = db.session.scalars(select(Notification).where(
            Notification.user_id == world["author"], Notification.kind == "moderation")
            .order_by(Notification.id)).all()
        assert told[-1].title.startswith("A moderator took back their decision")
    assert "Undo “" not in text(second.get(f"/moderation/items/{item_id}"))
    # An action id from another item is not found.
    other = f"/moderation/items/{world['items']['message0']}/undo/{hide_id}"
    assert second.post(other, data={"csrf_token": csrf}).status_code == 404
