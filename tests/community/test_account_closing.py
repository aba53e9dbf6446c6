"""Closing an account in a community: votes leave the scores they counted in, seats go to
the first person waiting, flags and posts stay under the pseudonym; the export holds it
all."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EventRsvp, Flag, Notification, QaAnswer, QaQuestion, QaVote
from webapp.services import account_data
from webapp.services.community import events, flags, qa


def _draft(capacity: int) -> events.EventDraft:
    start = (datetime.now() + timedelta(days=5)).replace(microsecond=0, second=0)
    return events.EventDraft(title="Study evening", body="Loops.", starts_local=start,
                             ends_local=start + timedelta(hours=2), time_zone="UTC",
                             place="Room 4", capacity=capacity)


def test_closing_withdraws_votes_and_seats_and_keeps_posts_and_flags(
        app_ctx, make_user, make_course, make_learner):
    owner = make_user("owner@example.org", role="editor")
    course = make_course("Python", owner=owner)
    leaving = make_learner("leaving@example.org", enrolled_in=[course])
    waiting = make_learner("waiting@example.org", enrolled_in=[course])
    other = make_learner("other@example.org", enrolled_in=[course])
    question = qa.ask_question(other, course, title="How do loops end?", body="Asking.")
    answer = qa.answer_question(leaving, question, body="With break.", mail_context=None)
    qa.vote(leaving, question, 1)
    qa.vote(owner, question, 1)
    qa.vote(other, answer, -1)
    event = events.create_event(owner, course, _draft(capacity=1))
    assert events.rsvp(leaving, event.id, True, mail_context=None) == "going"
    assert events.rsvp(waiting, event.id, True, mail_context=None) == "waitlisted"
    flags.flag_item(leaving, "question", question.id, "off_topic", "Not about Python.")
    db.session.commit()

    document = account_data.export_user(leaving, actor=leaving)
    assert [a["body"] for a in document["community_posts"]["answers"]] == ["With break."]
    assert [v["value"] for v in document["votes"]] == [1]
    assert [r["status"] for r in document["event_answers"]] == ["going"]
    assert [f["reason"] for f in document["flags_raised"]] == ["off_topic"]

    account_data.close_account(leaving, actor=None)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(QaQuestion, question.id).score == 1
    assert db.session.scalar(select(QaVote).where(QaVote.user_id == leaving.id)) is None
    statuses = dict(db.session.execute(select(EventRsvp.user_id, EventRsvp.status).where(
        EventRsvp.event_id == event.id)).all())
    assert statuses == {waiting.id: "going"}
    assert event.going_count == 1
    assert db.session.scalar(select(Notification.kind).where(
        Notification.user_id == waiting.id)) == "waitlist_promoted"
    kept = db.session.get(QaAnswer, answer.id)
    assert kept.author_id == leaving.id and kept.body == "With break." and kept.score == -1
    assert db.session.scalar(select(Flag.user_id).where(
        Flag.target_id == question.id)) == leaving.id
