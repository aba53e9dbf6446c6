"""Append-only records: the audit trail of writes, and security events.

The audit trail is append-only in the database itself: triggers refuse every UPDATE and
DELETE on ``audit_event`` (``install_append_only_guard``), so neither an application bug
nor a hand-typed SQL statement can rewrite history. The one way around them is a schema
change by the table's owner (dropping the triggers, or PostgreSQL's TRUNCATE, which fires
no row triggers) — the migrations' business, never the application's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Connection, Index, Integer, String, text
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
    # The audit log pages newest first (keyset on id) under one filter at a time: each
    # index ends with ``id`` so a filtered page is one index range read backwards, as
    # fast a million rows deep as on the first page (bench/audit_log.py).
    __table_args__ = (
        Index("ix_audit_event_target", "target_type", "target_id", "id"),
        Index("ix_audit_event_actor_page", "actor_id", "id"),
        Index("ix_audit_event_action_page", "action", "id"),
    )

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
    # Filtered pages of /admin/security, newest first (as for the audit log).
    __table_args__ = (
        *choice_checks(kind=SECURITY_EVENT_KINDS),
        Index("ix_security_event_kind_page", "kind", "id"),
        Index("ix_security_event_ip_page", "ip", "id"),
        Index("ix_security_event_email_page", "email", "id"),
    )

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


# --- the append-only guard --------------------------------------------------------------

APPEND_ONLY_MESSAGE = "audit_event is append-only"
_PG_FUNCTION = "audit_event_append_only"
_TRIGGERS = {"update": "audit_event_no_update", "delete": "audit_event_no_delete"}


def install_append_only_guard(conn: Connection) -> None:
    """Make the database refuse UPDATE and DELETE on ``audit_event`` (the migration calls
    this; the test suite too, after emptying the table between tests on SQLite).

    A foreign key's ``ON DELETE SET NULL`` is an UPDATE as well: a user with audit rows
    cannot be deleted, which is the rule anyway (closed accounts are anonymized).
    A migration that rebuilds ``audit_event`` on SQLite (batch mode) drops its triggers
    and must call this again."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(
            f"CREATE OR REPLACE FUNCTION {_PG_FUNCTION}() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN"
            f" RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'"
            " USING ERRCODE = 'integrity_constraint_violation';"
            " END $$"))
        for operation, name in _TRIGGERS.items():
            conn.execute(text(
                f"CREATE TRIGGER {name} BEFORE {operation.upper()} ON audit_event"
                f" FOR EACH ROW EXECUTE FUNCTION {_PG_FUNCTION}()"))
    else:
        for operation, name in _TRIGGERS.items():
            conn.execute(text(
                f"CREATE TRIGGER {name} BEFORE {operation.upper()} ON audit_event"
                f" BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"))


def remove_append_only_guard(conn: Connection) -> None:
    """Undo ``install_append_only_guard`` (the migration's downgrade; on SQLite the test
    suite's cleanup, which reinstalls it in the same transaction)."""
    for name in _TRIGGERS.values():
        on_table = " ON audit_event" if conn.dialect.name == "postgresql" else ""
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}{on_table}"))
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()"))
