"""Events: the organiser's form checked in the service (zones, times, links, capacity),
permissions for each kind of user, RSVPs with a waiting list and promotion, changes and
cancellation told to attendees, and the reminders sent once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Event, EventRsvp, Notification
from webapp.models.base import utcnow
from webapp.services.community import events
from webapp.services.community.notifications import MailContext
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed

CONTEXT = MailContext(site_url="http://tangent.test", secret="s3cret")


def soon(days: int = 3, hour: int = 18) -> datetime:
    """A wall-clock time ``days`` from now (naive, as a form gives it)."""
    day = (utcnow() + timedelta(days=days)).date()
    return datetime(day.year, day.month, day.day, hour, 0)


def draft(**changes) -> events.EventDraft:
    values = {"title": "Study evening", "body": "We go through **loops**.",
              "starts_local": soon(), "ends_local": soon() + timedelta(hours=2),
              "time_zone": "Europe/Paris", "place": "Room 4", "online_url": "",
              "capacity": None}
    values.update(changes)
    return events.EventDraft(**values)


@pytest.fixture
def world(app_ctx, make_user, make_course, make_learner):
    owner = make_user("owner@example.org", role="editor")
    course = make_course("Python", owner=owner)
    other = make_course("Other", owner=owner)
    return {
        "owner": owner, "course": course, "other": other,
        "learner": make_learner("ann@example.org", enrolled_in=[course]),
        "learner2": make_learner("bob@example.org", enrolled_in=[course]),
        "learner3": make_learner("cid@example.org", enrolled_in=[course]),
        "stranger": make_learner("eve@example.org", enrolled_in=[other]),
        "outsider": make_learner("out@example.org"),
        "co_editor": make_user("ed@example.org", role="editor"),
        "admin": make_user("admin@example.org", role="admin"),
    }


def test_times_are_stored_in_utc_from_the_organisers_zone(world):
    event = events.create_event(world["owner"], world["course"], draft(
        starts_local=datetime(2090, 7, 1, 18, 0), ends_local=datetime(2090, 7, 1, 20, 0),
        time_zone="Europe/Paris"))
    db.session.commit()
    assert event.starts_at == datetime(2090, 7, 1, 16, 0, tzinfo=UTC)  # CEST is UTC+2
    assert event.ends_at == datetime(2090, 7, 1, 18, 0, tzinfo=UTC)
    assert event.time_zone == "Europe/Paris"
    assert "<strong>loops</strong>" in event.body_html


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone", "not a time zone"),
    ({"time_zone": ""}, "time_zone", "Choose the time zone"),
    ({"ends_local": soon() - timedelta(hours=1)}, "ends_at", "end must be after the start"),
    ({"ends_local": soon()}, "ends_at", "end must be after the start"),
    ({"ends_local": soon() + timedelta(days=40)}, "ends_at", "at most 31 days"),
    ({"starts_local": None}, "starts_at", "Give the start"),
    ({"starts_local": datetime(1, 1, 1), "ends_local": datetime(1, 1, 2)}, "starts_at",
     "between 2000 and 2100"),
    ({"starts_local": datetime(2020, 1, 1), "ends_local": datetime(2020, 1, 2)},
     "starts_at", "in the past"),
    ({"online_url": "javascript:alert(1)"}, "online_url", "https://"),
    ({"online_url": "ftp://files.example/x"}, "online_url", "https://"),
    ({"online_url": "https://"}, "online_url", "https://"),
    ({"online_url": "https://" + "a" * 600 + ".example"}, "online_url", "the most is 500"),
    ({"place": "", "online_url": ""}, "place", "Give a place, an online link"),
    ({"capacity": 0}, "capacity", "from 1 to"),
    ({"capacity": -3}, "capacity", "from 1 to"),
    ({"capacity": 2**40}, "capacity", "from 1 to"),
    ({"title": "\x00\x01 "}, "title", "at least 3"),
    ({"title": "x" * 201}, "title", "the most is 200"),
])
def test_every_field_is_checked(world, changes, field, message):
    with pytest.raises(ValidationFailed, match=message) as refused:
        events.create_event(world["owner"], world["course"], draft(**changes))
    assert refused.value.field == field
    assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def test_online_links_are_kept_and_control_characters_stripped(world):
    event = events.create_event(world["owner"], world["course"], draft(
        place="", online_url="https://meet.example/abc?x=1", title="Q&A \x07hour"))
    assert (event.online_url, event.title) == ("https://meet.example/abc?x=1", "Q&A hour")


def test_who_may_organise(world):
    course = world["course"]
    for who in ("learner", "outsider", "co_editor"):
        with pytest.raises(PermissionDenied):
            events.create_event(world[who], course, draft())
    for who in ("learner", "owner", "co_editor"):
        with pytest.raises(PermissionDenied, match="administrators"):
            events.create_event(world[who], None, draft())
    assert events.create_event(world["admin"], None, draft()).course_id is None
    assert events.create_event(world["admin"], course, draft()).course_id == course.id
    assert events.create_event(world["owner"], course, draft()).course_id == course.id


def test_who_may_rsvp(world):
    event = events.create_event(world["owner"], world["course"], draft())
    site = events.create_event(world["admin"], None, draft())
    db.session.commit()
    assert events.rsvp(world["learner"], event.id, True, mail_context=None) == "going"
    assert events.rsvp(world["owner"], event.id, True, mail_context=None) == "going"
    assert events.rsvp(world["admin"], event.id, True, mail_context=None) == "going"
    for who in ("stranger", "outsider"):
        with pytest.raises(PermissionDenied, match="Enroll in this course"):
            events.rsvp(world[who], event.id, True, mail_context=None)
        assert events.rsvp(world[who], site.id, True, mail_context=None) == "going"
    with pytest.raises(NotFound):
        events.rsvp(world["learner"], 10**6, True, mail_context=None)


def test_capacity_waitlist_and_promotion_notifies_the_first_waiting(world, smtp_server):
    ann, bob, cid = world["learner"], world["learner2"], world["learner3"]
    event = events.create_event(world["owner"], world["course"], draft(capacity=1))
    db.session.commit()
    assert events.rsvp(ann, event.id, True, mail_context=CONTEXT) == "going"
    assert events.rsvp(bob, event.id, True, mail_context=CONTEXT) == "waitlisted"
    assert events.rsvp(cid, event.id, True, mail_context=CONTEXT) == "waitlisted"
    # A second "going" from someone going or waiting changes nothing.
    assert events.rsvp(ann, event.id, True, mail_context=CONTEXT) == "going"
    assert events.rsvp(bob, event.id, True, mail_context=CONTEXT) == "waitlisted"
    db.session.commit()
    page = events.event_page(cid, event.id)
    assert (page.waitlisted, page.my_place) == (2, 2)
    assert events.rsvp(ann, event.id, False, mail_context=CONTEXT) == "not_going"
    db.session.commit()
    statuses = dict(db.session.execute(select(EventRsvp.user_id, EventRsvp.status).where(
        EventRsvp.event_id == event.id)).all())
    assert statuses == {ann.id: "not_going", bob.id: "going", cid.id: "waitlisted"}
    db.session.refresh(event)
    assert event.going_count == 1
    promoted = db.session.scalars(select(Notification).where(
        Notification.kind == "waitlist_promoted")).all()
    assert [(n.user_id, n.title) for n in promoted] == [(bob.id, "You have a place: Study evening")]
    assert [m["To"] for m in smtp_server.messages] == ["bob@example.org"]
    assert events.event_page(cid, event.id).my_place == 1
    # Leaving the waiting list frees nothing; a second "not going" counts nothing.
    assert events.rsvp(cid, event.id, False, mail_context=CONTEXT) == "not_going"
    assert events.rsvp(ann, event.id, False, mail_context=CONTEXT) == "not_going"
    db.session.refresh(event)
    assert event.going_count == 1


def test_raising_the_capacity_lets_waiting_people_in_and_lowering_below_going_is_refused(
        world):
    ann, bob = world["learner"], world["learner2"]
    event = events.create_event(world["owner"], world["course"], draft(capacity=1))
    db.session.commit()
    events.rsvp(ann, event.id, True, mail_context=None)
    events.rsvp(bob, event.id, True, mail_context=None)
    db.session.commit()
    events.update_event(world["owner"], event.id, draft(capacity=5), mail_context=None)
    db.session.commit()
    assert db.session.scalar(select(EventRsvp.status).where(
        EventRsvp.user_id == bob.id)) == "going"
    with pytest.raises(ValidationFailed, match="2 people are going"):
        events.update_event(world["owner"], event.id, draft(capacity=1), mail_context=None)


def test_moving_and_cancelling_tell_attendees_and_bump_the_sequence(world):
    ann, bob = world["learner"], world["learner2"]
    event = events.create_event(world["owner"], world["course"], draft(capacity=1))
    db.session.commit()
    events.rsvp(ann, event.id, True, mail_context=None)
    events.rsvp(bob, event.id, True, mail_context=None)
    db.session.commit()
    events.update_event(world["owner"], event.id, draft(body="New words", capacity=1),
                        mail_context=None)
    db.session.commit()
    assert event.sequence == 1
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    events.update_event(world["owner"], event.id, draft(place="Room 9", capacity=1),
                        mail_context=None)
    db.session.commit()
    assert event.sequence == 2
    titles = db.session.execute(select(Notification.user_id, Notification.title).where(
        Notification.kind == "event_update")).all()
    assert sorted(titles) == [(ann.id, "Changed: Study evening"),
                              (bob.id, "Changed: Study evening")]
    events.cancel_event(world["owner"], event.id, mail_context=None)
    db.session.commit()
    assert (event.state, event.sequence) == ("cancelled", 3)
    assert db.session.scalar(select(func.count()).where(
        Notification.title == "Cancelled: Study evening")) == 2
    with pytest.raises(ValidationFailed, match="cancelled"):
        events.rsvp(world["learner3"], event.id, True, mail_context=None)
    with pytest.raises(PermissionDenied):
        events.cancel_event(world["learner"], event.id, mail_context=None)


def test_reminders_go_once_to_people_going_within_a_day(world, app):
    ann, bob = world["learner"], world["learner2"]
    now = utcnow()
    tomorrow = events.create_event(world["owner"], world["course"], draft(
        time_zone="UTC", starts_local=(now + timedelta(hours=20)).replace(tzinfo=None),
        ends_local=(now + timedelta(hours=21)).replace(tzinfo=None)))
    later = events.create_event(world["owner"], world["course"], draft(
        starts_local=soon(days=5), ends_local=soon(days=5) + timedelta(hours=1)))
    db.session.commit()
    for event in (tomorrow, later):
        events.rsvp(ann, event.id, True, mail_context=None)
    events.rsvp(bob, tomorrow.id, False, mail_context=None)
    db.session.commit()
    assert events.send_due_reminders(utcnow(), None) == 1
    db.session.commit()
    assert events.send_due_reminders(utcnow(), None) == 0
    db.session.commit()
    reminders = db.session.execute(select(Notification.user_id, Notification.title).where(
        Notification.title.like("Reminder:%"))).all()
    assert len(reminders) == 1 and reminders[0].user_id == ann.id
    assert reminders[0].title.startswith("Reminder: Study evening starts ")
    # The periodic job does the same through the jobs layer (nothing left to send).
    from webapp.jobs.maintenance import remind_events

    db.session.commit()
    assert remind_events(app) == 0


def test_lists_show_the_viewers_events_keyset_paginated(world):
    owner, ann = world["owner"], world["learner"]
    made = [events.create_event(owner, world["course"], draft(
        title=f"Session {n}", starts_local=soon(days=n + 1),
        ends_local=soon(days=n + 1) + timedelta(hours=1))) for n in range(5)]
    events.create_event(owner, world["other"], draft(title="Elsewhere"))
    events.create_event(world["admin"], None, draft(title="Site party",
                                                    starts_local=soon(days=20),
                                                    ends_local=soon(days=20, hour=22)))
    db.session.commit()
    seen, cursor = [], None
    while True:
        page, cursor = events.list_events(ann, after=cursor, page_size=2)
        seen += [row.event.title for row in page]
        if cursor is None:
            break
    assert seen == [e.title for e in made] + ["Site party"]
    assert events.list_events(ann, past=True)[0] == []
    cursor = events.Cursor(made[1].starts_at, made[1].id)
    assert events.Cursor.parse(cursor.token()) == cursor
    for bad in ("", "x", "1.2.3", "9" * 30 + ".1", "1." + "9" * 12, "-.5"):
        assert events.Cursor.parse(bad) is None
