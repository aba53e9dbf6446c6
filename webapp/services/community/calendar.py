"""Events as iCalendar (RFC 5545): one event's ``.ics`` file, and each user's calendar feed.

The files are built with the ``icalendar`` library (escaping, line folding, UTC times).
An event keeps one UID for life (``event-<id>@<site host>``) and its ``SEQUENCE`` grows with
every change, so a calendar that imported it updates it in place; a cancelled event says
``STATUS:CANCELLED`` so calendars drop it.

A feed URL carries a secret token; only its sha256 is stored (``CalendarFeed``), so the URL
is shown once, when it is made, and "reset the link" replaces it (the old one stops
working).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import icalendar
from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.models import CalendarFeed, Event, User
from webapp.models.base import utcnow
from webapp.services.community.events import event_path

PRODID = "-//Tangent//Events//EN"
# token_urlsafe(32): 43 characters of [A-Za-z0-9_-].
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _host(site_url: str) -> str:
    return urlsplit(site_url).hostname or "tangent"


def _vevent(event: Event, site_url: str, stamp: datetime) -> icalendar.Event:
    item = icalendar.Event()
    item.add("uid", f"event-{event.id}@{_host(site_url)}")
    item.add("dtstamp", stamp)
    item.add("dtstart", _utc(event.starts_at))
    item.add("dtend", _utc(event.ends_at))
    item.add("summary", event.title)
    url = site_url.rstrip("/") + event_path(event.id)
    description = event.body + ("\n\n" if event.body else "") + url
    if event.online_url:
        description = f"Online: {event.online_url}\n\n{description}"
    item.add("description", description)
    if event.place or event.online_url:
        item.add("location", event.place or event.online_url)
    item.add("url", url)
    item.add("sequence", event.sequence)
    item.add("status", "CANCELLED" if event.state == "cancelled" else "CONFIRMED")
    item.add("created", _utc(event.created_at))
    item.add("last-modified", _utc(event.edited_at or event.created_at))
    return item


def _calendar(events: Iterable[Event], site_url: str, name: str | None = None) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    stamp = utcnow().replace(microsecond=0)
    for event in events:
        cal.add_component(_vevent(event, site_url, stamp))
    return cal.to_ical()


def event_ics(event: Event, site_url: str) -> bytes:
    """One event as an .ics file (the caller checked that its reader may see it)."""
    return _calendar([event], site_url)


def feed_ics(events: Iterable[Event], site_url: str, name: str) -> bytes:
    return _calendar(events, site_url, name)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_feed(user: User) -> bool:
    return db.session.scalar(select(CalendarFeed.id).where(
        CalendarFeed.user_id == user.id)) is not None


def reset_feed(user: User) -> str:
    """A new secret for ``user``'s calendar feed (any old link stops working); the token,
    which is not stored and cannot be shown again."""
    token = secrets.token_urlsafe(32)
    db.session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user.id))
    db.session.add(CalendarFeed(user_id=user.id, token_hash=_digest(token)))
    db.session.flush()
    return token


def feed_owner(token: str) -> User | None:
    """The active user whose feed ``token`` opens, else None."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    user = db.session.scalar(select(User).join(CalendarFeed, CalendarFeed.user_id == User.id)
                             .where(CalendarFeed.token_hash == _digest(token)))
    return user if user is not None and user.status == "active" else None
