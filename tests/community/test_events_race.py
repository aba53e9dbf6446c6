"""Two people take the last seat of an event at the same moment: one is going, the other
is on the waiting list, and the seat count stays exact. Each RSVP is a real HTTP request
in its own thread (own app context, session and connection), released together by a
barrier. Runs on SQLite and, when DATABASE_URL names it, PostgreSQL. Reminders claimed by
two workers at once go out once."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, make_course, make_learner, make_user
from webapp.extensions import db
from webapp.models import Event, EventRsvp, Notification, User
from webapp.models.base import utcnow
from webapp.services.community import events


def _event(capacity: int, *, hours: int = 72) -> tuple[int, list[str]]:
    owner = make_user("owner@example.org", role="editor")
    course = make_course("Python", owner=owner)
    emails = [f"l{n}@example.org" for n in range(4)]
    for email in emails:
        make_learner(email, enrolled_in=[course])
    start = (utcnow() + timedelta(hours=hours)).replace(tzinfo=None, second=0, microsecond=0)
    event = events.create_event(owner, course, events.EventDraft(
        title="Last seat", body="", starts_local=start, ends_local=start + timedelta(hours=1),
        time_zone="UTC", place="Room 1", capacity=capacity))
    db.session.commit()
    return event.id, emails


def _together(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[n] = work(n)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_two_people_taking_the_last_seat_one_goes_one_waits(app, login, csrf_token):
    with app.app_context():
        event_id, emails = _event(capacity=2)
        db.session.remove()
    clients, tokens = [], []
    for email in emails[:3]:
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        tokens.append(csrf_token(client, f"/events/{event_id}"))
        clients.append(client)
    # One seat is taken already; two learners race for the last one.
    taken = clients[2].post(f"/events/{event_id}/rsvp",
                            data={"csrf_token": tokens[2], "going": "yes"})
    assert taken.status_code == 303

    responses = _together(2, lambda n: clients[n].post(
        f"/events/{event_id}/rsvp", data={"csrf_token": tokens[n], "going": "yes"}))

    assert [r.status_code for r in responses] == [303, 303]
    with app.app_context():
        statuses = sorted(db.session.scalars(select(EventRsvp.status).where(
            EventRsvp.event_id == event_id)))
        assert statuses == ["going", "going", "waitlisted"]
        assert db.session.get(Event, event_id).going_count == 2
        db.session.remove()

    # The two going cancel at once: the one waiting takes one seat, one seat stays free.
    goers = [n for n in range(3) if n != _waiting_index(app, event_id, emails)][:2]
    _together(2, lambda n: clients[goers[n]].post(
        f"/events/{event_id}/rsvp", data={"csrf_token": tokens[goers[n]], "going": "no"}))
    with app.app_context():
        rows = dict(db.session.execute(select(EventRsvp.status, func.count()).where(
            EventRsvp.event_id == event_id).group_by(EventRsvp.status)).all())
        assert rows == {"going": 1, "not_going": 2}
        assert db.session.get(Event, event_id).going_count == 1
        assert db.session.scalar(select(func.count()).where(
            Notification.kind == "waitlist_promoted")) == 1
        db.session.remove()


def _waiting_index(app, event_id: int, emails: list[str]) -> int:
    with app.app_context():
        user_id = db.session.scalar(select(EventRsvp.user_id).where(
            EventRsvp.event_id == event_id, EventRsvp.status == "waitlisted"))
        email = db.session.get(User, user_id).email
        db.session.remove()
    return emails.index(email)


def test_two_workers_send_a_reminder_once(app):
    with app.app_context():
        event_id, emails = _event(capacity=10, hours=5)
        for email in emails:
            user = db.session.scalar(select(User).where(User.email == email))
            events.rsvp(user, event_id, True, mail_context=None)
        db.session.commit()
        db.session.remove()

    def remind(_n: int) -> int:
        with app.app_context():
            try:
                sent = events.send_due_reminders(utcnow(), None)
                db.session.commit()
                return sent
            finally:
                db.session.remove()

    assert sorted(_together(2, remind)) == [0, 1]
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(
            Notification.title.like("Reminder:%"))) == len(emails)
        db.session.remove()
