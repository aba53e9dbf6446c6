"""Outgoing mail: the one place Tangent sends email.

Sending is two steps, so that no request ever waits on (or fails with) a mail server
and no message leaves for a change that was rolled back:

1. ``queue_mail`` renders the message from ``templates/email/<name>.txt`` and
   ``.html`` and writes an ``outgoing_mail`` row in the caller's transaction.
2. After that transaction commits, the job queue runs ``deliver`` for the row
   (``webapp/jobs``): it goes out through flask-mailman, by SMTP or, without a mail
   server (development, the demo), into a file in ``instance/mail/``. Transient
   failures (no connection, a 4xx answer) are retried; the last error stays on the row
   for the admins' mail log.

Unlike the other services this module renders templates and uses the app's flask-mailman
extension: messages are views of their own, and the queue task has no request to do it in.
"""

from __future__ import annotations

import logging
import smtplib
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app as _app
from flask import render_template, url_for
from flask_mailman import EmailMultiAlternatives
from flask_mailman.backends.file import EmailBackend as _FileBackend
from sqlalchemy import select, update

from webapp.extensions import db, mail
from webapp.models import OutgoingMail, User
from webapp.models.base import utcnow
from webapp.models.mail import MAIL_STATUSES
from webapp.services.audit import record_audit
from webapp.services.exceptions import NotFound, ValidationFailed
from webapp.settings import Settings

log = logging.getLogger(__name__)

# Each message, its subject; its bodies are templates/email/<name>.txt and .html.
SUBJECTS = {
    "password_reset": "Reset your Tangent password",
    "verify_email": "Confirm your email address for Tangent",
    "register_existing": "Someone tried to create a Tangent account with your address",
    "email_change_confirm": "Confirm your new email address for Tangent",
    "email_change_notice": "Your Tangent email address is being changed",
    "email_changed": "Your Tangent email address was changed",
    "password_changed": "Your Tangent password was changed",
    "notification": "News from Tangent",
    "digest": "Your daily Tangent digest",
    "moderation": "A moderator acted on your Tangent account or post",
}
# Messages that carry a single-use link. The link's token is stored only hashed, so once
# such a message is sent (or has failed for good) its bodies are blanked: a copy of the
# database must not hold working links. A failed one cannot be retried; its owner asks
# for a new link.
SECRET_TEMPLATES = frozenset({"password_reset", "verify_email", "email_change_confirm"})
REDACTED = "(Removed once sent: this message held a single-use link.)"
# Tries in all (the first send and the retries) before a message is marked failed.
MAX_ATTEMPTS = 5
ERROR_MAX = 500
MAIL_FOLDER = "mail"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
# Set on the session: the ids of mail rows its transaction wrote, sent once it commits.
PENDING_KEY = "tangent.outgoing_mail"


class FileBackend(_FileBackend):
    """flask-mailman's file backend with one ``.eml`` file per message (open it in any mail
    program) and a log line saying where it went."""

    def _get_filename(self) -> str:
        if self._fname is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            self._fname = str(Path(self.file_path) / f"{stamp}.eml")
        return self._fname

    def write_message(self, message) -> None:
        self.stream.write(message.message().as_bytes())
        log.info("mail to %s written to %s", ", ".join(message.to), self._get_filename())


def absolute_url(base_url: str, endpoint: str, **values: Any) -> str:
    """The link to ``endpoint`` on the site at ``base_url`` (for mail and the CLI)."""
    with _app.test_request_context("/", base_url=base_url):
        return url_for(endpoint, _external=True, **values)


def queue_mail(
    name: str,
    recipient: str,
    *,
    user: User | None = None,
    site_url: str,
    subject: str | None = None,
    **context: Any,
) -> OutgoingMail:
    """Render message ``name`` for ``recipient`` and queue it; sent after the caller commits.
    ``subject`` replaces the message's usual subject (notifications say what happened)."""
    subject = subject or SUBJECTS[name]
    context = {"subject": subject, "recipient": recipient, "user": user,
               "site_url": site_url, **context}
    row = OutgoingMail(
        recipient=recipient,
        subject=subject,
        template=name,
        text_body=render_template(f"email/{name}.txt", **context),
        html_body=render_template(f"email/{name}.html", **context),
        user_id=user.id if user else None,
        status="queued",
        attempts=0,
    )
    db.session.add(row)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append(row.id)
    return row


def _connection(settings: Settings):
    if settings.mail_transport == "file":
        return mail.get_connection(backend=FileBackend,
                                   file_path=str(Path(settings.instance_path) / MAIL_FOLDER))
    return mail.get_connection(
        host=settings.mail_host, port=settings.mail_port,
        username=settings.mail_user or "", password=settings.mail_password or "",
        use_tls=settings.mail_security == "starttls", use_ssl=settings.mail_security == "tls",
        timeout=settings.mail_timeout,
    )


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError,
                            ConnectionError, socket.timeout, TimeoutError, OSError))


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        message = exc.smtp_error
        text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
        return f"{exc.smtp_code} {text}"[:ERROR_MAX]
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


def claim(mail_id: int) -> bool:
    """Count a try of a queued message, so that one worker sends it even when it was
    enqueued twice; False when it is not queued or another worker claimed this try. The
    caller commits before ``deliver``."""
    row = db.session.get(OutgoingMail, mail_id)
    if row is None or row.status != "queued":
        return False
    result = db.session.execute(
        update(OutgoingMail)
        .where(OutgoingMail.id == mail_id, OutgoingMail.status == "queued",
               OutgoingMail.attempts == row.attempts)
        .values(attempts=row.attempts + 1)
        .execution_options(synchronize_session=False))
    db.session.expire(row)
    return result.rowcount == 1


def deliver(mail_id: int, settings: Settings) -> str:
    """Send one claimed message; what became of it: "sent", "failed", "retry" (a transient
    error: it stays queued, to be tried again later) or "skipped" (it was not queued).
    The caller commits the row's new state."""
    row = db.session.get(OutgoingMail, mail_id)
    if row is None or row.status != "queued":
        return "skipped"
    try:
        # The connection closes whatever happens (flask-mailman leaves it open on errors).
        with _connection(settings) as connection:
            message = EmailMultiAlternatives(
                subject=row.subject, body=row.text_body, from_email=settings.mail_from,
                to=[row.recipient], connection=connection,
            )
            message.attach_alternative(row.html_body, "text/html")
            message.send()
    except Exception as exc:  # noqa: BLE001 - whatever the server says goes into the log
        row.last_error = _describe(exc)
        transient = _is_transient(exc)
        if not transient or row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        log.warning("mail %s to %s: attempt %s failed: %s", row.id, row.recipient,
                    row.attempts, row.last_error)
        if row.status == "queued":
            return "retry"
        _redact(row)
        return "failed"
    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
    _redact(row)
    return "sent"


def _redact(row: OutgoingMail) -> None:
    if row.template in SECRET_TEMPLATES:
        row.text_body = row.html_body = REDACTED


def can_retry(row: OutgoingMail) -> bool:
    """Whether "Retry" can send ``row`` again (a failed message without a spent link)."""
    return row.status == "failed" and row.template not in SECRET_TEMPLATES


def retry_mail(mail_id: int, *, actor: User) -> OutgoingMail:
    """Queue a failed message again (the admin's "Retry"); sent after the caller commits."""
    row = db.session.get(OutgoingMail, mail_id)
    if row is None:
        raise NotFound("No such message.")
    if row.status != "failed":
        raise ValidationFailed("Only a message that failed can be sent again.")
    if not can_retry(row):
        raise ValidationFailed("This message held a single-use link, removed after the last "
                               "try: its owner asks for a new link instead.")
    row.status, row.attempts = "queued", 0
    db.session.flush()
    record_audit(actor, "mail.retry", "outgoing_mail", row.id, {"status": ["failed", "queued"]})
    db.session.info.setdefault(PENDING_KEY, []).append(row.id)
    return row


def list_mail(status: str | None, *, before: int | None = None,
              page_size: int = 50) -> tuple[Sequence[OutgoingMail], int | None]:
    """The mail log, newest first: a page of messages with ids below ``before`` (keyset
    pagination), and the ``before`` of the next page (None on the last)."""
    if status is not None and status not in MAIL_STATUSES:
        raise ValidationFailed(f"Status must be one of {', '.join(MAIL_STATUSES)}.")
    stmt = select(OutgoingMail).order_by(OutgoingMail.id.desc()).limit(page_size + 1)
    if status:
        stmt = stmt.where(OutgoingMail.status == status)
    if before is not None:
        stmt = stmt.where(OutgoingMail.id < before)
    rows = db.session.scalars(stmt).all()
    if len(rows) > page_size:
        return rows[:page_size], rows[page_size - 1].id
    return rows, None


def unsent_ids(older_than: timedelta = timedelta(minutes=15)) -> list[int]:
    """Queued messages never tried for ``older_than``: their enqueue was lost (the process
    stopped between the commit and the queue); the consumers enqueue them again."""
    return list(db.session.scalars(
        select(OutgoingMail.id).where(OutgoingMail.status == "queued",
                                      OutgoingMail.attempts == 0,
                                      OutgoingMail.created_at < utcnow() - older_than)
        .order_by(OutgoingMail.id).limit(500)))


def pending_ids(session) -> list[int]:
    """Take the ids of mail that ``session``'s just-committed transaction queued."""
    return session.info.pop(PENDING_KEY, [])


def discard_pending(session) -> None:
    """Forget the mail of a rolled-back transaction: its rows are gone."""
    session.info.pop(PENDING_KEY, None)
