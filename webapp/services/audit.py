"""Writing the audit trail and security events, inside the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from webapp.extensions import db
from webapp.logs import current_request_id
from webapp.models import AuditEvent, SecurityEvent, User


def delta_of(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Only what changed: ``{field: [before, after]}``."""
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def record_audit(
    actor: User | None,
    action: str,
    target_type: str,
    target_id: int | None,
    delta: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an audit row for a write; the caller commits it with the write."""
    entry = AuditEvent(
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        delta=delta or {},
        request_id=current_request_id(),
    )
    db.session.add(entry)
    return entry


def record_security_event(
    kind: str,
    *,
    user: User | None = None,
    actor: User | None = None,
    email: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> SecurityEvent:
    """Append a security event; the caller commits it."""
    event = SecurityEvent(
        kind=kind,
        user_id=user.id if user else None,
        actor_id=actor.id if actor else None,
        email=email,
        ip=ip,
        request_id=current_request_id(),
        detail=detail,
    )
    db.session.add(event)
    return event


def purge_security_events(now: datetime, retention_days: int) -> int:
    """Delete security events older than ``retention_days`` (the rule
    "security_event_retention_days"); how many. The caller commits; safe to repeat. The
    audit trail (``audit_event``) is append-only and never purged."""
    cutoff = now - timedelta(days=retention_days)
    result = db.session.execute(
        delete(SecurityEvent).where(SecurityEvent.created_at < cutoff)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0
