"""Outgoing mail: each message is a row first, sent later by the job queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, fk_id, utcnow

MAIL_STATUSES = ("queued", "sent", "failed")


class OutgoingMail(Base):
    """One message to one recipient, written in the transaction that decided to send it;
    a queue task sends it after that transaction commits (never from inside it)."""

    __tablename__ = "outgoing_mail"
    __table_args__ = (
        *choice_checks(status=MAIL_STATUSES),
        # The admin's mail log: newest first, optionally one status.
        Index("ix_outgoing_mail_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    # The name of the message in templates/email/ ("password_reset").
    template: Mapped[str] = mapped_column(String(64))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    # The account the message is about, when there is one (kept if the account goes).
    user_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True, default=None)
