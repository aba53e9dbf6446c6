"""Error handlers: a page for normal requests, a small partial for htmx, never a trace.

Database errors are told apart: a unique violation is 409, a foreign-key or
other constraint violation 400, an unreachable or busy database 503.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import time

from flask import Flask, g, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from webapp import htmx
from webapp.extensions import db, login_manager
from webapp.services.exceptions import DomainError

log = logging.getLogger(__name__)

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
MESSAGES = {
    400: "The request could not be understood. Please check what you sent and try again.",
    403: "You do not have permission to do that.",
    404: "There is nothing at this address.",
    405: "This address does not accept that kind of request.",
    409: "That conflicts with something that already exists or changed meanwhile.",
    413: "What you sent is larger than this site accepts.",
    429: "You are going faster than this site allows. Please wait a moment and try again.",
    500: "An unexpected error happened. It has been logged; please try again.",
    503: "The service is briefly unavailable. Please try again in a few seconds.",
}
RETRY_AFTER_503 = "5"


def render_error(status: int, message: str | None = None, headers: dict | None = None):
    """Render the error page (or the htmx partial) for ``status``."""
    _resolve_user()
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message or MESSAGES.get(status, ""),
    }
    # Boosted navigation and history restores swap the whole page, so they get it.
    response = htmx.render("errors/page.html", "errors/_error.html", status_code=status,
                           **context)
    if htmx.is_partial():
        htmx.retarget(response, "#flash")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _signed_out_view() -> None:
    """Render the rest of this request as signed out (the session itself is kept).

    Flask-Login keeps the loaded user in ``g._login_user``; setting it stops the
    layout from loading the user again from a database that just failed.
    """
    if "_login_user" not in g:
        g._login_user = login_manager.anonymous_user()


def _resolve_user() -> None:
    """Load the signed-in user now, so a database failure cannot break the error page."""
    if "_login_user" in g:
        return
    try:
        current_user._get_current_object()
    except DBAPIError:
        _rollback()
        _signed_out_view()


def _integrity_status(exc: IntegrityError) -> int:
    orig = exc.orig
    if isinstance(orig, sqlite3.IntegrityError):
        name = getattr(orig, "sqlite_errorname", "") or ""
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            return 409
        return 400
    sqlstate = getattr(orig, "sqlstate", None)
    return 409 if sqlstate == "23505" else 400


def _rollback() -> None:
    try:
        db.session.rollback()
    except DBAPIError:
        log.warning("rollback failed after a database error", exc_info=True)


def _seconds_until_reset() -> int:
    """Seconds until the limit that was just hit lets the client in again."""
    from webapp.extensions import limiter

    current = limiter.current_limit
    if current is None:
        return 60
    # reset_at is rounded up to whole seconds; never promise more than one window.
    window = current.limit.get_expiry()
    return max(1, min(window, math.ceil(current.reset_at - time.time())))


# A refused body up to this size is read and discarded before the 413 is sent: a client
# that sends its whole body before reading (many do) would otherwise see the connection
# reset instead of the page. Larger bodies are cut off with "Connection: close".
DRAIN_LIMIT = 16 * 1024 * 1024
DRAIN_CHUNK = 64 * 1024


def _drain_body() -> bool:
    """Read and drop the rest of a refused request body; False when it was too large."""
    length = request.content_length
    if length is None:
        return False
    if length > DRAIN_LIMIT:
        return False
    stream = request.environ.get("wsgi.input")
    remaining = length
    try:
        while remaining > 0 and stream is not None:
            chunk = stream.read(min(DRAIN_CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
    except OSError:
        return False
    return True


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        headers = {}
        if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
            headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
        if status == 429:
            headers["Retry-After"] = str(_seconds_until_reset())
        if status == 413 and not _drain_body():
            headers["Connection"] = "close"
        # abort(400, "why") says why; werkzeug's generic descriptions are replaced by ours.
        message = exc.description if exc.description != type(exc).description else None
        if isinstance(exc, CSRFError):
            message = (
                "Your form expired or was not sent from this site. Reload the page and try again."
            )
        return render_error(status, message, headers)

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError):
        _rollback()
        wait = getattr(exc, "retry_after", None)
        return render_error(exc.status, exc.message,
                            {"Retry-After": str(wait)} if wait else None)

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError):
        _rollback()
        status = _integrity_status(exc)
        log.info("integrity error mapped to %s", status, extra={"error": str(exc.orig)[:200]})
        return render_error(status)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError):
        _rollback()
        return render_error(
            409, "Someone else changed this at the same time. Reload and try again."
        )

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _unavailable(exc: DBAPIError):
        _rollback()
        # Do not ask the unreachable database for the user again to draw the page.
        _signed_out_view()
        log.error("database unavailable: %s", type(exc.orig).__name__)
        return render_error(503, headers={"Retry-After": RETRY_AFTER_503})

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, HTTPException):  # pragma: no cover - handled above
            return _http(exc)
        _rollback()
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(500)
