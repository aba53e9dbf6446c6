"""Signed-in sessions kept on the server, so that signing out really ends one.

The session cookie carries a random token; the database keeps its SHA-256 hash in a
``user_session`` row. A request is signed in only while that row exists (and the
user's ``session_version`` still matches), so signing out, "sign out everywhere",
a password change, a suspension or a ban make copies of old cookies worthless.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, delete, func, or_, select, update

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.models.base import utcnow
from webapp.services.audit import record_security_event
from webapp.services.exceptions import NotFound

USER_AGENT_MAX = 200
IP_MAX = 64
# "Last seen" is refreshed by the requests of a session at most this often: one
# UPDATE per session every few minutes rather than a write on every page.
SEEN_EVERY = timedelta(minutes=5)
# The account page lists this many sessions, newest first, and counts the rest.
LISTED_SESSIONS = 50


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, *, user_agent: str = "", ip: str | None = None) -> str:
    """A new session for ``user``; returns the token for the cookie (only its hash is kept).

    It is "seen" now, from ``ip``: a fresh session needs no write for its first minutes.
    """
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_hash(token),
                               user_agent=(user_agent or "")[:USER_AGENT_MAX],
                               last_seen_at=utcnow(), ip=(ip or None) and ip[:IP_MAX]))
    db.session.flush()
    return token


# Built once: every signed-in request runs it, and building a select() and its cache
# key costs more than running it.
_SESSION_USER = (
    select(User, UserSession.id, UserSession.last_seen_at)
    .join(UserSession, UserSession.user_id == User.id)
    .where(User.id == bindparam("user_id"), User.session_version == bindparam("version"),
           UserSession.token_hash == bindparam("token_hash"))
)


class LiveSession(NamedTuple):
    user: User
    session_id: int
    last_seen_at: datetime | None

    def stale(self, now: datetime | None = None) -> bool:
        """True when "last seen" is old enough to be written again (see ``SEEN_EVERY``)."""
        return self.last_seen_at is None or self.last_seen_at <= (now or utcnow()) - SEEN_EVERY


def session_user(user_id: int, session_version: int, token: str) -> LiveSession | None:
    """The user of a live session with the session's id and when it was last seen (one
    query), or None when it has ended."""
    row = db.session.execute(_SESSION_USER, {"user_id": user_id, "version": session_version,
                                             "token_hash": _hash(token)}).first()
    return LiveSession(*row) if row else None


def touch_session(session_id: int, *, ip: str | None, now: datetime | None = None) -> bool:
    """Record that session ``session_id`` was seen now, from ``ip``; a conditional UPDATE
    that writes only when "last seen" is stale, so two requests at once write it once.
    True when it wrote."""
    now = now or utcnow()
    result = db.session.execute(
        update(UserSession)
        .where(UserSession.id == session_id,
               or_(UserSession.last_seen_at.is_(None),
                   UserSession.last_seen_at <= now - SEEN_EVERY))
        .values(last_seen_at=now, ip=(ip or None) and ip[:IP_MAX])
        .execution_options(synchronize_session=False))
    return bool(result.rowcount)


def end_session(token: str | None) -> None:
    """End the session with ``token`` (signing out); nothing when there is none."""
    if token:
        db.session.execute(delete(UserSession).where(UserSession.token_hash == _hash(token)))


def end_sessions(user: User, *, keep_token: str | None = None) -> int:
    """End every session of ``user`` but the one with ``keep_token``; how many ended."""
    stmt = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_token:
        stmt = stmt.where(UserSession.token_hash != _hash(keep_token))
    return db.session.execute(stmt).rowcount or 0


def sign_out_everywhere(user: User, *, ip: str | None = None) -> int:
    """End all of ``user``'s sessions, this one included; how many there were."""
    ended = end_sessions(user)
    user.session_version += 1
    record_security_event("logout", user=user, actor=user, ip=ip, everywhere=True, sessions=ended)
    return ended


def end_user_session(user: User, session_id: int, *, actor: User | None = None,
                     ip: str | None = None) -> UserSession:
    """End one of ``user``'s sessions ("sign out" on another device); returns the ended
    row. ``NotFound`` when ``user`` has no session ``session_id`` (another user's
    session included)."""
    row = db.session.scalar(select(UserSession).where(UserSession.id == session_id,
                                                      UserSession.user_id == user.id))
    if row is None:
        raise NotFound("That session has already ended.")
    db.session.delete(row)
    db.session.flush()
    record_security_event("session_ended", user=user, actor=actor or user, ip=ip,
                          session=session_id, device=describe_browser(row.user_agent))
    return row


def list_sessions(user: User, limit: int = LISTED_SESSIONS) -> Sequence[UserSession]:
    """The user's sessions, most recently seen first (the account page lists them)."""
    return db.session.scalars(
        select(UserSession).where(UserSession.user_id == user.id)
        .order_by(func.coalesce(UserSession.last_seen_at, UserSession.created_at).desc(),
                  UserSession.id.desc())
        .limit(limit)).all()


def count_sessions(user: User) -> int:
    """How many sessions ``user`` has open."""
    return db.session.scalar(select(func.count()).select_from(UserSession)
                             .where(UserSession.user_id == user.id)) or 0


# Ordered: Edge and Opera say "Chrome" too, Chrome says "Safari".
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"),
             ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
            ("Windows", "Windows"), ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"),
            ("Linux", "Linux"))


def describe_browser(user_agent: str) -> str:
    """"Firefox on Windows" from a User-Agent header, for people to recognise a session."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown browser"


def is_current(row: UserSession, token: str | None) -> bool:
    return bool(token) and row.token_hash == _hash(token)
