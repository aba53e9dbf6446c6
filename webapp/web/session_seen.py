"""Writing a session's "last seen" after its request, in a transaction of its own.

The user loader notices that a session's "last seen" is stale (``LiveSession.stale``)
and leaves its id in ``g``; this runs when the request is over. By then the view has
committed what it meant to (anything left would be rolled back anyway), so the write
starts a fresh transaction: on SQLite it takes the write lock as its first statement,
never upgrading a read snapshot that another writer may have outdated. It is
bookkeeping, not the request's work: a failure is logged and tried again on a later
request.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

from webapp.extensions import db
from webapp.services.sessions import touch_session

log = logging.getLogger(__name__)


def record_seen(session_id: int, *, ip: str | None) -> None:
    """Set "last seen" (and the address) of session ``session_id`` and commit."""
    db.session.rollback()
    try:
        touch_session(session_id, ip=ip)
        db.session.commit()
    except DBAPIError:
        db.session.rollback()
        log.warning("could not record when session %s was last seen", session_id,
                    exc_info=True)
