"""People actions: warn, silence, suspend, ban, lift and "delete all posts", from the
moderation pages (confirmation page, then the action), with their record (moderation
action, audit, notice and email), their undo, who may act on whom, and what a silenced or
suspended person meets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.moderation._people_world import (
    act,
    build,
    csrf,
    post_form,
    sign_in,
    text,
    user_id,
)
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    ChannelMessage,
    ModerationAction,
    ModerationItem,
    Notification,
    QaAnswer,
    QaQuestion,
    User,
)
from webapp.models.base import utcnow
from webapp.services.exceptions import PermissionDenied
from webapp.services.moderation import people, queue


@pytest.fixture
def world(app, make_user, make_course, make_learner):
    with app.app_context():
        return build(make_user, make_course, make_learner)


@pytest.fixture
def mod(app, login, world):
    return sign_in(app, login, "mod@example.org")


def _actions(app, kind: str) -> list[ModerationAction]:
    with app.app_context():
        rows = list(db.session.scalars(select(ModerationAction)
                                       .where(ModerationAction.action == kind)))
        db.session.expunge_all()
        return rows


def _notices(app, uid: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.title).where(
            Notification.user_id == uid, Notification.kind == "moderation")))


def test_the_person_page_shows_the_account_and_the_actions(app, world, mod):
    page = mod.get(f"/moderation/people/{world['author']}")
    body = text(page)
    assert page.status_code == 200
    assert "Arthur Author" in body and "Active" in body
    assert "No moderation actions about this person." in body
    for action in ("warn", "silence", "suspend", "ban", "delete_posts"):
        assert f"/moderation/people/{world['author']}/{action}" in body
    assert f"/moderation/people/{world['author']}/lift" not in body  # nothing to lift


def test_warn_records_audits_and_tells_the_author(app, world, mod):
    response = act(mod, world["author"], "warn", "abuse", "Please be kind.")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/moderation/people/{world['author']}")
    [row] = _actions(app, "warn")
    assert (row.target_kind, row.subject_id, row.reason, row.note, row.automated) == (
        "user", world["author"], "abuse", "Please be kind.", False)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.action == "moderation.warn", AuditEvent.target_id == world["author"]))
    assert _notices(app, world["author"]) == ["A moderator warned you about your posts"]
    page = text(mod.get(f"/moderation/people/{world['author']}"))
    assert "Please be kind." in page and "Rude, hateful or abusive" in page


def test_silence_blocks_posting_until_it_ends_and_lift_undoes_it(app, world, mod, login):
    assert act(mod, world["author"], "silence", duration="3").status_code == 303
    [row] = _actions(app, "silence")
    with app.app_context():
        person = db.session.get(User, world["author"])
        left = person.silenced_until - utcnow()
        assert timedelta(days=2, hours=23) < left <= timedelta(days=3)
        assert row.until == person.silenced_until
    author = sign_in(app, login, "author@example.org")  # they can still sign in and read
    ask = post_form(author, f"/courses/{world['slug']}/questions/ask",
                    title="Another question here", body="Some text", lesson="")
    assert ask.status_code == 403
    assert "silenced your account: you cannot post until" in text(ask)
    token = csrf(author, f"/questions/{world['question']}")
    answered = author.post(f"/questions/{world['question']}/answers",
                           data={"body": "An answer", "csrf_token": token})
    assert answered.status_code == 403 and "silenced" in text(answered)
    message = author.post(f"/channels/course-{world['course']}/messages",
                          data={"body": "Hello", "csrf_token": token})
    assert message.status_code == 403 and "silenced" in text(message)
    # The silence runs out by itself.
    with app.app_context():
        db.session.get(User, world["author"]).silenced_until = utcnow() - timedelta(seconds=1)
        db.session.commit()
    message = author.post(f"/channels/course-{world['course']}/messages",
                          data={"body": "Hello again", "csrf_token": token})
    assert message.status_code == 303
    # Silenced again until lifted, then lifted by a moderator.
    assert act(mod, world["author"], "silence", duration="lifted").status_code == 303
    blocked = author.post(f"/channels/course-{world['course']}/messages",
                          data={"body": "Hello", "csrf_token": token})
    assert "until a moderator lifts it" in text(blocked)
    assert act(mod, world["author"], "lift", "other", "Appeal heard").status_code == 303
    with app.app_context():
        assert db.session.get(User, world["author"]).silenced_until is None
        assert all(a.undone_at is not None for a in db.session.scalars(
            select(ModerationAction).where(ModerationAction.action == "silence")))
    ok = author.post(f"/channels/course-{world['course']}/messages",
                     data={"body": "Back", "csrf_token": token})
    assert ok.status_code == 303


def test_suspension_ends_sessions_and_sign_in_shows_the_reason_and_appeal(app, world, mod,
                                                                          login):
    author = sign_in(app, login, "author@example.org")
    assert author.get("/notifications").status_code == 200
    response = act(mod, world["author"], "suspend", "spam", "Selling pills.", duration="1")
    assert response.status_code == 303
    # Their next request is anonymous: back to the sign-in page.
    assert author.get("/notifications").status_code == 302
    with app.app_context():
        person = db.session.get(User, world["author"])
        assert person.status == "suspended"
        assert person.status_reason == "Spam or advertising: Selling pills."
    fresh = app.test_client()
    refused = login(fresh, "author@example.org")
    assert refused.status_code == 403
    body = text(refused)
    assert "This account is suspended until" in body and "Selling pills." in body
    assert '<a href="/appeals/signed/' in body and "Appeal this decision" in body
    # Lift: active again and can sign in.
    assert act(mod, world["author"], "lift", "other", "Mistake").status_code == 303
    assert login(app.test_client(), "author@example.org").status_code == 303


def test_ban_and_reactivate(app, world, mod, login):
    assert act(mod, world["author"], "ban", "illegal").status_code == 303
    with app.app_context():
        assert db.session.get(User, world["author"]).status == "banned"
    again = act(mod, world["author"], "ban", "illegal")
    assert again.status_code == 409 and "already banned" in text(again)
    assert "This account is banned" in text(login(app.test_client(), "author@example.org"))
    assert act(mod, world["author"], "lift", "other", "Reconsidered").status_code == 303
    with app.app_context():
        assert db.session.get(User, world["author"]).status == "active"
        [ban] = db.session.scalars(select(ModerationAction).where(
            ModerationAction.action == "ban")).all()
        assert ban.undone_at is not None and ban.undone_by_id == user_id("mod@example.org")


def test_delete_posts_says_how_many_then_deletes_and_the_undo_restores(app, world, mod):
    with app.app_context():  # two of their posts wait in the queue
        waiting = [queue.enqueue(kind, world[key], source="flags", course_id=world["course"],
                                 author_id=world["author"], reason="spam").id
                   for kind, key in (("message", "top"), ("answer", "answer"))]
        db.session.commit()
    page = mod.get(f"/moderation/people/{world['author']}/delete_posts")
    assert "This deletes 4 posts" in text(page)
    assert act(mod, world["author"], "delete_posts", "spam").status_code == 303
    with app.app_context():
        # Nothing is left to look at: their queue items are closed with the deletion.
        for item_id in waiting:
            item = db.session.get(ModerationItem, item_id)
            assert (item.status, item.outcome) == ("closed", "delete_posts")
        for model, key in ((QaQuestion, "own_question"), (QaAnswer, "answer"),
                           (ChannelMessage, "reply"), (ChannelMessage, "top")):
            row = db.session.get(model, world[key])
            assert row.status == "deleted" and row.deleted_at is not None
        question = db.session.get(QaQuestion, world["question"])
        assert (question.answer_count, question.accepted_answer_id) == (1, None)
        assert db.session.get(ChannelMessage, world["head"]).reply_count == 0
        assert db.session.get(QaQuestion, world["question"]).status == "visible"
        [row] = db.session.scalars(select(ModerationAction).where(
            ModerationAction.action == "delete_posts")).all()
        assert people.count_posts(db.session.get(User, world["author"])) == 0
        moderator = db.session.get(User, user_id("mod2@example.org"))
        people.reverse(row, moderator, site_url=None)
        db.session.commit()
        assert db.session.get(QaAnswer, world["answer"]).status == "visible"
        assert db.session.get(QaQuestion, world["question"]).answer_count == 2
        assert db.session.get(ChannelMessage, world["head"]).reply_count == 1
        assert people.count_posts(db.session.get(User, world["author"])) == 4
    assert "(4)" in _notices(app, world["author"])[0]


def test_acting_from_a_queue_item_closes_it(app, world, mod):
    with app.app_context():
        item = queue.enqueue("message", world["top"], source="flags", course_id=world["course"],
                             author_id=world["author"], reason="spam")
        db.session.commit()
        item_id = item.id
    page = mod.get(f"/moderation/people/{world['author']}/warn?item={item_id}")
    assert "closes the queue item" in text(page)
    assert act(mod, world["author"], "warn", item=item_id).status_code == 303
    with app.app_context():
        item = db.session.get(ModerationItem, item_id)
        assert (item.status, item.outcome) == ("closed", "warn")
        row = db.session.scalar(select(ModerationAction))
        assert row.item_id == item_id and row.waited_seconds is not None
    # Closed: a second action from it is a conflict, and nothing is written.
    again = act(mod, world["author"], "warn", item=item_id)
    assert again.status_code == 409
    assert len(_actions(app, "warn")) == 1


def test_who_may_act_on_whom(app, world, mod, login):
    with app.app_context():
        admin = user_id("admin@example.org")
        other_mod = user_id("mod2@example.org")
        me = user_id("mod@example.org")
    for target in (admin, other_mod, me):
        assert mod.get(f"/moderation/people/{target}/warn").status_code == 403
        assert act_status(mod, target) == 403
    boss = sign_in(app, login, "admin@example.org")
    assert act(boss, other_mod, "warn").status_code == 303
    learner = sign_in(app, login, "reader@example.org")
    assert learner.get(f"/moderation/people/{world['author']}").status_code == 403
    with app.app_context(), pytest.raises(PermissionDenied):
        people.act(db.session.get(User, world["author"]),
                   db.session.get(User, world["reader"]), "warn", reason="spam",
                   site_url=None)


def act_status(client, target: int) -> int:
    token = csrf(client, "/notifications")
    return client.post(f"/moderation/people/{target}/warn",
                       data={"csrf_token": token, "reason": "spam"}).status_code


def test_bad_input_is_refused_clearly(app, world, mod):
    author = world["author"]
    assert mod.get(f"/moderation/people/{author}/explode").status_code == 404
    assert mod.get("/moderation/people/99999999/warn").status_code == 404
    assert mod.get("/moderation/people/99999999999999").status_code == 404
    assert mod.get(f"/moderation/people/{author}/warn?item=99999999999").status_code == 404
    assert mod.get(f"/moderation/people/{author}/warn?item=12345").status_code == 404
    assert mod.get(f"/moderation/people/{author}?before=x").status_code == 200
    assert act(mod, author, "warn", reason="nonsense").status_code == 400
    assert act(mod, author, "silence", duration="99").status_code == 400
    other = act(mod, author, "warn", reason="other")
    assert other.status_code == 400 and "say what the reason is" in text(other)
    assert act(mod, author, "warn", note="a\x00b").status_code == 400
    assert act(mod, author, "lift").status_code == 409
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ModerationAction)) == 0
