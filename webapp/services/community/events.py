"""Events on a course (its staff organise them) or on the whole site (admins do), and who
is going.

Times are given by the organiser in a time zone they pick and stored in UTC; pages show
them in each viewer's zone. A capacity, when set, is guarded by a conditional UPDATE on
``event.going_count``: a seat is taken only ``WHERE going_count < capacity``, so two
people taking the last seat at once leave one going and one on the waiting list, on
SQLite and PostgreSQL alike. Every change of an RSVP's status is itself a conditional
UPDATE (``WHERE status = <the status read>``), so a double click never counts twice.
When someone going cancels, the first person waiting takes the seat in the same
transaction and hears about it ("waitlist_promoted").

Changes to the time or place, and cancellation, bump ``sequence`` (the .ics SEQUENCE)
and tell everyone going or waiting ("event_update"). ``send_due_reminders`` tells
everyone going, once per event, the day before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, false, func, or_, select, true, update

from webapp.content.render import render_post
from webapp.content.sanitize import POLICY_VERSION
from webapp.extensions import db
from webapp.models import Course, CourseEditor, Enrollment, Event, EventRsvp, User
from webapp.models.base import utcnow
from webapp.services.community import access, rules
from webapp.services.community.notifications import MailContext, notify
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed
from webapp.settings import TIME_ZONE_MAX, is_time_zone

PAGE_SIZE = 20
MAX_CAPACITY = 10_000
PLACE_MAX = 200
URL_MAX = 500
TITLE_MAX = 200
TITLE_MIN = 3
# Events are planned within these years (also keeps time zone arithmetic in range).
FIRST_YEAR, LAST_YEAR = 2000, 2100
LONGEST = timedelta(days=31)
REMIND_BEFORE = timedelta(hours=24)
# Events a calendar feed lists: from this long ago onwards, at most FEED_LIMIT of them.
FEED_PAST = timedelta(days=60)
FEED_LIMIT = 500


def event_path(event_id: int) -> str:
    """The event's page on this site (notifications and .ics files link to it)."""
    return f"/events/{event_id}"


@dataclass(frozen=True)
class EventDraft:
    """What an organiser typed. Times are wall-clock times (naive) in ``time_zone``."""

    title: str | None
    body: str | None
    starts_local: datetime | None
    ends_local: datetime | None
    time_zone: str | None
    place: str | None = ""
    online_url: str | None = ""
    capacity: int | None = None


@dataclass(frozen=True)
class EventRow:
    """One line of an events list: the event, its course's title, the viewer's RSVP."""

    event: Event
    course_title: str | None
    my_status: str | None


@dataclass(frozen=True)
class EventPage:
    event: Event
    course: Course | None
    my_status: str | None
    waitlisted: int
    # 1 for the first person waiting; None when the viewer is not waiting.
    my_place: int | None
    can_manage: bool
    can_rsvp: bool
    over: bool


@dataclass(frozen=True)
class Cursor:
    """Where a page of events ends: the last event's start and id."""

    starts_at: datetime
    event_id: int

    def token(self) -> str:
        return f"{int(self.starts_at.timestamp() * 1_000_000)}.{self.event_id}"

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """The cursor in a ``?after=`` value, or None for anything that is not one."""
        if not token or len(token) > 40:
            return None
        micros, _, event_id = token.partition(".")
        if not (micros.lstrip("-").isdigit() and event_id.isdigit()):
            return None
        number, stamp = int(event_id), int(micros)
        if number > 2**31 - 1 or not -(10**17) < stamp < 10**17:
            return None
        try:
            moment = datetime.fromtimestamp(stamp / 1_000_000, UTC)
        except (OverflowError, OSError, ValueError):
            return None
        return cls(moment, number)


# --- validation ---------------------------------------------------------------------------


def _clean_url(raw: str | None) -> str:
    url = rules.clean_text(raw, field="online_url", label="Online link", max_length=URL_MAX,
                           min_length=0, single_line=True)
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname \
            or " " in url:
        raise ValidationFailed(
            "The online link must be a web address starting with https:// or http://.",
            field="online_url")
    return url


def _clean_zone(raw: str | None) -> str:
    zone = (raw or "").strip()
    if not is_time_zone(zone):
        shown = "".join(ch for ch in zone[:TIME_ZONE_MAX] if ch.isprintable())
        raise ValidationFailed(
            f"“{shown}” is not a time zone. Choose one from the list." if shown
            else "Choose the time zone of the times.", field="time_zone")
    return zone


def _to_utc(local: datetime | None, zone: str, *, field: str, label: str) -> datetime:
    if local is None:
        raise ValidationFailed(f"Give the {label} date and time.", field=field)
    if not FIRST_YEAR <= local.year <= LAST_YEAR:
        raise ValidationFailed(
            f"The {label} must be between {FIRST_YEAR} and {LAST_YEAR}.", field=field)
    naive = local.replace(tzinfo=None, second=0, microsecond=0)
    return naive.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def _clean_capacity(value: int | None) -> int | None:
    if value is None:
        return None
    if not 1 <= value <= MAX_CAPACITY:
        raise ValidationFailed(
            f"The capacity is a number of people from 1 to {MAX_CAPACITY:,}; leave it empty "
            "for no limit.", field="capacity")
    return value


@dataclass(frozen=True)
class _Clean:
    title: str
    body: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    place: str
    online_url: str
    capacity: int | None


def _clean(author: User, draft: EventDraft) -> _Clean:
    title = rules.clean_text(draft.title, field="title", label="Title", max_length=TITLE_MAX,
                             min_length=TITLE_MIN, single_line=True)
    body = rules.clean_text(draft.body, field="body", label="Description",
                            max_length=rules.POST_MAX, min_length=0)
    zone = _clean_zone(draft.time_zone)
    starts = _to_utc(draft.starts_local, zone, field="starts_at", label="start")
    ends = _to_utc(draft.ends_local, zone, field="ends_at", label="end")
    if ends <= starts:
        raise ValidationFailed("The end must be after the start.", field="ends_at")
    if ends - starts > LONGEST:
        raise ValidationFailed(f"An event lasts at most {LONGEST.days} days.", field="ends_at")
    place = rules.clean_text(draft.place, field="place", label="Place", max_length=PLACE_MAX,
                             min_length=0, single_line=True)
    online_url = _clean_url(draft.online_url)
    if not place and not online_url:
        raise ValidationFailed("Give a place, an online link, or both.", field="place")
    rules.check_links(author, title, body, online_url, field="body")
    return _Clean(title, body, starts, ends, zone, place, online_url,
                  _clean_capacity(draft.capacity))


# --- who may do what ----------------------------------------------------------------------


def course_of(event: Event) -> Course | None:
    return db.session.get(Course, event.course_id) if event.course_id is not None else None


def can_manage(user: User | None, event: Event, course: Course | None) -> bool:
    """Staff of the event's course; admins for site events (and every event)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if course is None:
        return user.is_admin
    return access.is_staff(user, course)


def _require_signed_in(user: User | None) -> None:
    if user is None or not user.is_authenticated or not user.is_active:
        raise PermissionDenied("Sign in to see events.")


def _readable(user: User | None, event_id: int) -> tuple[Event, Course | None]:
    _require_signed_in(user)
    event = db.session.get(Event, event_id)
    if event is None or event.status == "deleted":
        raise NotFound("There is no such event.")
    course = course_of(event)
    managing = can_manage(user, event, course)
    if event.status != "visible" and not managing:
        raise NotFound("There is no such event.")
    if course is not None and not managing and not access.can_read(user, course):
        raise NotFound("There is no such event.")
    return event, course


def _may_attend(user: User, course: Course | None) -> bool:
    return course is None or access.is_member(user, course)


def get_event(user: User | None, event_id: int) -> Event:
    """The event, when ``user`` may see it (else ``NotFound``)."""
    return _readable(user, event_id)[0]


def get_managed_event(user: User | None, event_id: int) -> Event:
    """The event, when ``user`` organises it (else ``NotFound``/``PermissionDenied``)."""
    event, course = _readable(user, event_id)
    if not can_manage(user, event, course):
        raise PermissionDenied("Only the organisers of this event can change it.")
    return event


def require_organiser(user: User | None, course: Course | None) -> None:
    """Course events: the course's staff; site events: admins."""
    _require_signed_in(user)
    if course is None:
        if not user.is_admin:
            raise PermissionDenied("Only administrators create site-wide events.")
    else:
        access.require_staff(user, course)


# --- writing ------------------------------------------------------------------------------


def create_event(actor: User, course: Course | None, draft: EventDraft) -> Event:
    """A new event on ``course`` (None: the whole site), starting in the future."""
    require_organiser(actor, course)
    clean = _clean(actor, draft)
    if clean.starts_at <= utcnow():
        raise ValidationFailed("The start is in the past.", field="starts_at")
    event = Event(author_id=actor.id, course_id=course.id if course else None,
                  title=clean.title, body=clean.body, body_html=render_post(clean.body),
                  html_policy=POLICY_VERSION, starts_at=clean.starts_at,
                  ends_at=clean.ends_at, time_zone=clean.time_zone, place=clean.place,
                  online_url=clean.online_url, capacity=clean.capacity)
    db.session.add(event)
    db.session.flush()
    return event


def _attendee_ids(event_id: int) -> list[int]:
    return list(db.session.scalars(select(EventRsvp.user_id).where(
        EventRsvp.event_id == event_id, EventRsvp.status.in_(("going", "waitlisted")))))


def _bump(event_id: int) -> None:
    db.session.execute(update(Event).where(Event.id == event_id).values(
        sequence=Event.sequence + 1).execution_options(synchronize_session=False))


def update_event(actor: User, event_id: int, draft: EventDraft, *,
                 mail_context: MailContext | None) -> Event:
    """Change an event. A new time or place tells everyone going or waiting; a larger
    capacity lets people in from the waiting list; a capacity below the number already
    going is refused."""
    event = get_managed_event(actor, event_id)
    if event.state == "cancelled":
        raise ValidationFailed("This event is cancelled; it can no longer be changed.")
    clean = _clean(actor, draft)
    moved = (clean.starts_at, clean.ends_at, clean.place, clean.online_url) != (
        event.starts_at, event.ends_at, event.place, event.online_url)
    if moved and clean.starts_at != event.starts_at and clean.starts_at <= utcnow():
        raise ValidationFailed("The new start is in the past.", field="starts_at")
    db.session.refresh(event, ["going_count"])
    if clean.capacity is not None and clean.capacity < event.going_count:
        raise ValidationFailed(
            f"{event.going_count} people are going already; the capacity cannot be lower.",
            field="capacity")
    if clean.starts_at != event.starts_at:
        event.reminder_sent_at = None  # a moved event is reminded of again
    event.title, event.body = clean.title, clean.body
    event.body_html, event.html_policy = render_post(clean.body), POLICY_VERSION
    event.starts_at, event.ends_at, event.time_zone = (clean.starts_at, clean.ends_at,
                                                       clean.time_zone)
    event.place, event.online_url, event.capacity = (clean.place, clean.online_url,
                                                     clean.capacity)
    event.edited_at = utcnow()
    event.sequence = event.sequence + 1
    db.session.flush()
    promoted = _fill_seats(event.id)
    if moved:
        notify(_attendee_ids(event.id), "event_update", f"Changed: {event.title}",
               event_path(event.id), mail_context=mail_context, actor=actor,
               course_id=event.course_id)
    _tell_promoted(event, promoted, mail_context, actor)
    return event


def cancel_event(actor: User, event_id: int, *, mail_context: MailContext | None) -> Event:
    """Cancel the event (it stays listed, marked cancelled) and tell everyone going or
    waiting."""
    event = get_managed_event(actor, event_id)
    claimed = db.session.execute(update(Event).where(
        Event.id == event.id, Event.state == "scheduled").values(
        state="cancelled", sequence=Event.sequence + 1, edited_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount
    db.session.refresh(event)
    if claimed:
        notify(_attendee_ids(event.id), "event_update", f"Cancelled: {event.title}",
               event_path(event.id), mail_context=mail_context, actor=actor,
               course_id=event.course_id)
    return event


# --- RSVPs --------------------------------------------------------------------------------


def _take_seat(event_id: int) -> bool:
    return db.session.execute(update(Event).where(
        Event.id == event_id,
        or_(Event.capacity.is_(None), Event.going_count < Event.capacity)).values(
        going_count=Event.going_count + 1).execution_options(
        synchronize_session=False)).rowcount == 1


def _free_seat(event_id: int) -> None:
    db.session.execute(update(Event).where(Event.id == event_id, Event.going_count > 0)
                       .values(going_count=Event.going_count - 1)
                       .execution_options(synchronize_session=False))


def _move(rsvp_id: int, old: str, new: str, **values) -> bool:
    """Change an RSVP's status from ``old`` to ``new`` unless someone changed it first."""
    return db.session.execute(update(EventRsvp).where(
        EventRsvp.id == rsvp_id, EventRsvp.status == old).values(
        status=new, updated_at=utcnow(), **values).execution_options(
        synchronize_session=False)).rowcount == 1


def _fill_seats(event_id: int) -> list[int]:
    """Give free seats to the people waiting, first come first served (their user ids)."""
    promoted: list[int] = []
    while _take_seat(event_id):
        while True:
            first = db.session.execute(select(EventRsvp.id, EventRsvp.user_id).where(
                EventRsvp.event_id == event_id, EventRsvp.status == "waitlisted").order_by(
                EventRsvp.waitlisted_at, EventRsvp.id).limit(1)).first()
            if first is None:
                _free_seat(event_id)
                return promoted
            if _move(first.id, "waitlisted", "going", waitlisted_at=None):
                promoted.append(first.user_id)
                break
    return promoted


def _tell_promoted(event: Event, user_ids: list[int], mail_context: MailContext | None,
                   actor: User | None) -> None:
    if user_ids:
        notify(user_ids, "waitlist_promoted", f"You have a place: {event.title}",
               event_path(event.id), mail_context=mail_context, course_id=event.course_id)


def rsvp(user: User, event_id: int, going: bool, *,
         mail_context: MailContext | None) -> str:
    """Answer going or not going; the status that results ("going", "waitlisted" when
    the event is full, "not_going"). Cancelling a seat hands it to the first person
    waiting. Members of the event's course only (anyone signed in for site events)."""
    event, course = _readable(user, event_id)
    if not _may_attend(user, course):
        raise PermissionDenied("Enroll in this course to sign up for its events.")
    if event.state == "cancelled":
        raise ValidationFailed("This event is cancelled.")
    if event.status != "visible":
        raise ValidationFailed("This event is hidden while moderators look at it.")
    if event.ends_at <= utcnow():
        raise ValidationFailed("This event is over.")
    row = db.session.scalar(select(EventRsvp).where(
        EventRsvp.event_id == event.id, EventRsvp.user_id == user.id))
    if row is None:
        row = EventRsvp(user_id=user.id, event_id=event.id, status="not_going")
        db.session.add(row)
        db.session.flush()
    db.session.refresh(row, ["status"])
    old = row.status
    if going:
        if old == "going":
            return old
        if _take_seat(event.id):
            if not _move(row.id, old, "going", waitlisted_at=None):
                _free_seat(event.id)
        elif old == "not_going":
            _move(row.id, old, "waitlisted", waitlisted_at=utcnow())
    elif old != "not_going" and _move(row.id, old, "not_going", waitlisted_at=None) \
            and old == "going":
        _free_seat(event.id)
        _tell_promoted(event, _fill_seats(event.id), mail_context, user)
    db.session.refresh(row, ["status"])
    db.session.expire(event, ["going_count"])
    return row.status


def release_rsvps(user: User) -> int:
    """Take back every answer of ``user`` (their account is closing): each seat they held
    goes to the first person waiting (told on the site), then their RSVPs go; how many."""
    rows = db.session.execute(select(EventRsvp.id, EventRsvp.event_id, EventRsvp.status)
                              .where(EventRsvp.user_id == user.id)).all()
    for rsvp_id, event_id, status in rows:
        if status == "going" and _move(rsvp_id, "going", "not_going", waitlisted_at=None):
            _free_seat(event_id)
            event = db.session.get(Event, event_id)
            if event is not None and event.state == "scheduled" and event.ends_at > utcnow():
                _tell_promoted(event, _fill_seats(event_id), None, None)
    if rows:
        db.session.execute(delete(EventRsvp).where(EventRsvp.user_id == user.id)
                           .execution_options(synchronize_session=False))
    return len(rows)


# --- reading ------------------------------------------------------------------------------


def _member_course_ids(user: User):
    """The ids of the courses whose events ``user`` sees in lists (a subquery)."""
    enrolled = select(Enrollment.course_id).join(Course, Course.id == Enrollment.course_id) \
        .where(Enrollment.user_id == user.id, Course.status == "published")
    if not user.is_editor:
        return enrolled
    owned = select(Course.id).where(Course.owner_id == user.id)
    edited = select(CourseEditor.course_id).where(CourseEditor.user_id == user.id)
    return enrolled.union(owned, edited)


def _visible(user: User, course: Course | None) -> ColumnElement[bool]:
    if course is not None:
        return Event.course_id == course.id
    if user.is_admin:
        return true()
    return or_(Event.course_id.is_(None), Event.course_id.in_(_member_course_ids(user)))


def list_events(user: User, *, past: bool = False, course: Course | None = None,
                after: Cursor | None = None, page_size: int = PAGE_SIZE,
                now: datetime | None = None) -> tuple[list[EventRow], Cursor | None]:
    """Upcoming events (not over yet, soonest first) or past ones (latest first): the site's
    and those of ``user``'s courses, or one course's. One statement; keyset by start and
    id. Returns the page and the cursor of the next one (None when it is the last)."""
    _require_signed_in(user)
    if course is not None and not access.can_read(user, course):
        raise NotFound("There is no such course.")
    now = now or utcnow()
    stmt = (select(Event, Course.title, EventRsvp.status)
            .outerjoin(Course, Course.id == Event.course_id)
            .outerjoin(EventRsvp, and_(EventRsvp.event_id == Event.id,
                                       EventRsvp.user_id == user.id))
            .where(Event.status == "visible", _visible(user, course)))
    if past:
        stmt = stmt.where(Event.ends_at <= now).order_by(Event.starts_at.desc(),
                                                          Event.id.desc())
        if after:
            stmt = stmt.where(or_(Event.starts_at < after.starts_at, and_(
                Event.starts_at == after.starts_at, Event.id < after.event_id)))
    else:
        stmt = stmt.where(Event.ends_at > now).order_by(Event.starts_at, Event.id)
        if after:
            stmt = stmt.where(or_(Event.starts_at > after.starts_at, and_(
                Event.starts_at == after.starts_at, Event.id > after.event_id)))
    rows = db.session.execute(stmt.limit(page_size + 1)).all()
    page = [EventRow(event, title, status) for event, title, status in rows[:page_size]]
    more = len(rows) > page_size
    return page, (Cursor(page[-1].event.starts_at, page[-1].event.id) if more else None)


def event_page(user: User | None, event_id: int) -> EventPage:
    """Everything the event's page shows, in a constant number of statements."""
    event, course = _readable(user, event_id)
    mine = db.session.execute(select(EventRsvp.status, EventRsvp.waitlisted_at, EventRsvp.id)
                              .where(EventRsvp.event_id == event.id,
                                     EventRsvp.user_id == user.id)).first()
    ahead: ColumnElement[bool] = false()
    if mine is not None and mine.status == "waitlisted":
        ahead = or_(EventRsvp.waitlisted_at < mine.waitlisted_at,
                    and_(EventRsvp.waitlisted_at == mine.waitlisted_at,
                         EventRsvp.id <= mine.id))
    waiting = db.session.execute(select(func.count(), func.count().filter(ahead)).where(
        EventRsvp.event_id == event.id, EventRsvp.status == "waitlisted")).one()
    status = mine.status if mine else None
    over = event.ends_at <= utcnow()
    return EventPage(
        event=event, course=course, my_status=status, waitlisted=waiting[0],
        my_place=waiting[1] if status == "waitlisted" else None,
        can_manage=can_manage(user, event, course),
        can_rsvp=not over and event.state == "scheduled" and event.status == "visible"
        and _may_attend(user, course), over=over)


def feed_events(user: User, now: datetime | None = None) -> list[Event]:
    """A calendar feed's events: those ``user`` is going to or waiting for, and every
    event of their courses, from two months ago on (cancelled ones too, so calendars
    drop them)."""
    since = (now or utcnow()) - FEED_PAST
    mine = select(EventRsvp.event_id).where(EventRsvp.user_id == user.id,
                                            EventRsvp.status.in_(("going", "waitlisted")))
    return list(db.session.scalars(select(Event).where(
        Event.status == "visible", Event.ends_at > since,
        or_(Event.id.in_(mine), Event.course_id.in_(_member_course_ids(user))))
        .order_by(Event.starts_at, Event.id).limit(FEED_LIMIT)))


# --- reminders ----------------------------------------------------------------------------


def _reminder_title(event: Event) -> str:
    local = event.starts_at.astimezone(ZoneInfo(event.time_zone))
    return (f"Reminder: {event.title} starts {local:%d %b %Y, %H:%M} "
            f"({event.time_zone.replace('_', ' ')})")


def send_due_reminders(now: datetime, mail_context: MailContext | None) -> int:
    """Remind everyone going to an event that starts within the next 24 hours, once per
    event: each event is claimed with a conditional UPDATE of ``reminder_sent_at``, so
    two workers never both remind. The caller commits. Returns the events reminded of."""
    due = db.session.scalars(select(Event.id).where(
        Event.reminder_sent_at.is_(None), Event.state == "scheduled",
        Event.status == "visible", Event.starts_at > now,
        Event.starts_at <= now + REMIND_BEFORE).order_by(Event.starts_at)).all()
    sent = 0
    for event_id in due:
        claimed = db.session.execute(update(Event).where(
            Event.id == event_id, Event.reminder_sent_at.is_(None)).values(
            reminder_sent_at=now).execution_options(synchronize_session=False)).rowcount
        if not claimed:
            continue
        event = db.session.get(Event, event_id)
        going = db.session.scalars(select(EventRsvp.user_id).where(
            EventRsvp.event_id == event_id, EventRsvp.status == "going")).all()
        notify(going, "event_update", _reminder_title(event), event_path(event_id),
               mail_context=mail_context, course_id=event.course_id)
        sent += 1
    return sent
