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

from sqlalchemy import bindparam, delete, select

from webapp.extensions import db
from webapp.models import User, UserSession
from webapp.services.audit import record_security_event

USER_AGENT_MAX = 200


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, *, user_agent: str = "") -> str:
    """A new session for ``user``; returns the token for the cookie (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, token_hash=_hash(token),
                               user_agent=(user_agent or "")[:USER_AGENT_MAX]))
    db.session.flush()
    return token


# Built once: every signed-in request runs it, and building a select() and its cache
# key costs more than running it.
_SESSION_USER = (
    select(User).join(UserSession, UserSession.user_id == User.id)
    .where(User.id == bindparam("user_id"), User.session_version == bindparam("version"),
           UserSession.token_hash == bindparam("token_hash"))
)


def session_user(user_id: int, session_version: int, token: str) -> User | None:
    """The user of a live session (one query), or None when it has ended."""
    return db.session.scalar(_SESSION_USER, {"user_id": user_id, "version": session_version,
                                             "token_hash": _hash(token)})


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


def list_sessions(user: User, limit: int = 50) -> Sequence[UserSession]:
    """The user's sessions, newest first (the account page lists them)."""
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                              .order_by(UserSession.id.desc()).limit(limit)).all()


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
