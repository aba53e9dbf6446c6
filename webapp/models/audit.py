"""Append-only records: the audit trail of writes, and security events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, fk_id, utcnow

SECURITY_EVENT_KINDS = (
    "login_succeeded",
    "login_failed",
    "login_throttled",
    "logout",
    "password_changed",
    "role_changed",
    "status_changed",
    "registered",
    "login_blocked",
    "password_reset_requested",
    "password_reset",
    "email_verification_sent",
    "email_verified",
    "email_change_requested",
    "email_changed",
    "session_ended",
    "account_exported",
    "account_deleted",
)


class AuditEvent(Base):
    """One write: who did what to which row, with only what changed."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column(Integer)
    # Opaque document ({"field": [before, after]}), never queried by content.
    delta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))


class SecurityEvent(Base):
    """Sign-ins, failures, throttling, password and role changes."""

    __tablename__ = "security_event"
    __table_args__ = choice_checks(kind=SECURITY_EVENT_KINDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    actor_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL")
    # The address typed at a failed login, kept even when no such account exists.
    email: Mapped[str | None] = mapped_column(String(254))
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
