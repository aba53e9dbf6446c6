"""Reading the audit trail and the security events: filtered, newest first, keyset pages
on ``id`` (each filter has an index ending in ``id``, see ``webapp.models.audit``), the
CSV export of a filtered audit log, and the last day's summary of sign-in trouble.

Nothing here writes: audit rows are only ever appended (``services.audit``) and the
database refuses to change them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, false, func, select, text

from webapp.extensions import db
from webapp.models import AuditEvent, SecurityEvent, User
from webapp.models.audit import SECURITY_EVENT_KINDS
from webapp.models.base import MAX_ID, utcnow
from webapp.services.exceptions import ValidationFailed

TEXT_MAX = 254
CSV_BATCH = 1000
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class DateRange:
    """Whole days, both ends included, in UTC."""

    start: date | None = None
    end: date | None = None

    @property
    def since(self) -> datetime | None:
        return datetime.combine(self.start, time.min, tzinfo=UTC) if self.start else None

    @property
    def before(self) -> datetime | None:
        return (datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)
                if self.end else None)

    def where(self, column) -> list:
        clauses = []
        if self.since:
            clauses.append(column >= self.since)
        if self.before:
            clauses.append(column < self.before)
        return clauses


def parse_day(raw: str, field: str) -> date | None:
    """A ``YYYY-MM-DD`` from a form, or None when empty; ``ValidationFailed`` otherwise."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("Give a date as YYYY-MM-DD (2026-03-31).", field=field) from None
    if not 2000 <= day.year <= 9998:
        raise ValidationFailed("Give a date between the years 2000 and 9998.", field=field)
    return day


def date_range(start: str, end: str) -> DateRange:
    period = DateRange(parse_day(start, "start"), parse_day(end, "end"))
    if period.start and period.end and period.end < period.start:
        raise ValidationFailed("The end date comes before the start date.", field="end")
    return period


def _text(raw: str, field: str) -> str:
    value = (raw or "").strip()
    if len(value) > TEXT_MAX:
        raise ValidationFailed(f"Use at most {TEXT_MAX} characters.", field=field)
    return value


# Rows are numbered in the order they are written and stamped with the time of writing,
# so ids and times rise together, give or take transactions committing out of order.
ID_SLACK = 1000


def _id_range(model, period: DateRange, before: int | None) -> list:
    """Id bounds for a page of rows written in ``period``, older than ``before``.

    Without them, the newest-first walk to a range far in the past would step over every
    later row first (a million rows deep, seconds). Each end of the period is one step
    down the ``created_at`` index; ``ID_SLACK`` ids either side cover rows committed out
    of order, and the ``created_at`` conditions still decide which rows match. The upper
    bound is one condition, the lower of the period's end and the page cursor: given
    two, SQLite may walk from the wrong one.
    """
    upper = before
    clauses = []
    if period.since:
        first = db.session.scalar(select(model.id).where(model.created_at >= period.since)
                                  .order_by(model.created_at, model.id).limit(1))
        if first is None:
            return [false()]
        clauses.append(model.id >= first - ID_SLACK)
    if period.before:
        last = db.session.scalar(select(model.id).where(model.created_at < period.before)
                                 .order_by(model.created_at.desc(), model.id.desc()).limit(1))
        if last is None:
            return [false()]
        upper = last + ID_SLACK + 1 if upper is None else min(upper, last + ID_SLACK + 1)
    if upper is not None:
        clauses.append(model.id < upper)
    return [*clauses, *period.where(model.created_at)]


# --- the audit log -----------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    actor_id: int | None = None
    # The actor was given but names nobody: the filter matches no row.
    actor_unknown: bool = False
    action: str = ""
    target_type: str = ""
    target_id: int | None = None
    period: DateRange = DateRange()

    @property
    def active(self) -> bool:
        return bool(self.actor_id is not None or self.actor_unknown or self.action
                    or self.target_type or self.target_id is not None
                    or self.period.start or self.period.end)


def _id_or_none(raw: str, field: str) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) > MAX_ID:
        raise ValidationFailed("Give an id: a whole number.", field=field)
    return int(raw)


def audit_filter(*, actor: str = "", action: str = "", target_type: str = "",
                 target_id: str = "", start: str = "", end: str = "") -> AuditFilter:
    """The filter from a form's text: ``actor`` is an email or a user id."""
    actor = _text(actor, "actor")
    actor_id, unknown = None, False
    if actor.isdigit():
        actor_id = _id_or_none(actor, "actor")
    elif actor:
        actor_id = db.session.scalar(select(User.id).where(User.email == actor.lower()))
        unknown = actor_id is None
    return AuditFilter(actor_id=actor_id, actor_unknown=unknown,
                       action=_text(action, "action")[:64],
                       target_type=_text(target_type, "target_type")[:32],
                       target_id=_id_or_none(target_id, "target_id"),
                       period=date_range(start, end))


def _audit_select(f: AuditFilter, before: int | None = None) -> Select:
    """The rows ``f`` matches (older than ``before``), in no order yet."""
    stmt = select(AuditEvent)
    if f.actor_unknown:
        return stmt.where(False)
    if f.actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == f.actor_id)
    if f.action:
        stmt = stmt.where(AuditEvent.action == f.action)
    if f.target_type:
        stmt = stmt.where(AuditEvent.target_type == f.target_type)
    if f.target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == f.target_id)
    return stmt.where(*_id_range(AuditEvent, f.period, before))


def list_audit(f: AuditFilter, *, before: int | None = None, page_size: int = 50,
               ) -> tuple[list[AuditEvent], int | None]:
    """One page of audit rows, newest first, and the cursor of the next page (or None)."""
    stmt = _audit_select(f, before).order_by(AuditEvent.id.desc()).limit(page_size + 1)
    rows = list(db.session.scalars(stmt))
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, rows[-1].id
    return rows, None


def audit_actions() -> list[str]:
    """The actions recorded so far, for the filter's list (a few dozen distinct values).

    A loose index scan: each step asks the (action, id) index for the next action after
    the last one, so the list costs a few dozen index probes however many rows there are
    (PostgreSQL's plain DISTINCT read the whole table: 231 ms at a million rows)."""
    return list(db.session.scalars(text(
        "WITH RECURSIVE seen(action) AS ("
        " SELECT min(action) FROM audit_event"
        " UNION ALL"
        " SELECT (SELECT min(e.action) FROM audit_event e WHERE e.action > seen.action)"
        " FROM seen WHERE seen.action IS NOT NULL)"
        " SELECT action FROM seen WHERE action IS NOT NULL ORDER BY action")))


def emails_of(ids: set[int | None]) -> dict[int, str]:
    """User emails by id, in one query (a page names each row's actor)."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())


def format_value(value: Any) -> str:
    """One side of a delta as people read it: "—" for nothing, JSON for structures."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def delta_lines(delta: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``[(field, before, after)]`` from a ``{field: [before, after]}`` delta; a value
    that is not a pair is shown as the after side."""
    lines = []
    for field, change in sorted((delta or {}).items()):
        if isinstance(change, list) and len(change) == 2:
            lines.append((field, format_value(change[0]), format_value(change[1])))
        else:
            lines.append((field, "—", format_value(change)))
    return lines


def csv_cell(value: Any) -> str:
    """A cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def audit_csv(f: AuditFilter) -> Iterator[str]:
    """The filtered audit log as CSV text, in chunks of a batch of rows (for streaming:
    each batch is a keyset page, so memory stays flat however many rows match)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "created_at", "actor_id", "actor_email", "action", "target_type",
                     "target_id", "changes", "request_id"])
    yield out.getvalue()
    before = None
    while True:
        rows, before = list_audit(f, before=before, page_size=CSV_BATCH)
        emails = emails_of({row.actor_id for row in rows})
        out.seek(0)
        out.truncate()
        for row in rows:
            changes = "; ".join(f"{field}: {old} → {new}"
                                for field, old, new in delta_lines(row.delta))
            writer.writerow([csv_cell(v) for v in (
                row.id, row.created_at.isoformat(), row.actor_id, emails.get(row.actor_id),
                row.action, row.target_type, row.target_id, changes, row.request_id)])
        yield out.getvalue()
        if before is None:
            return


# --- security events ---------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityFilter:
    kind: str = ""
    email: str = ""
    ip: str = ""
    period: DateRange = DateRange()


def security_filter(*, kind: str = "", email: str = "", ip: str = "", start: str = "",
                    end: str = "") -> SecurityFilter:
    kind = (kind or "").strip()
    if kind and kind not in SECURITY_EVENT_KINDS:
        raise ValidationFailed("Choose a kind of event from the list.", field="kind")
    return SecurityFilter(kind=kind, email=_text(email, "email").lower(),
                          ip=_text(ip, "ip")[:64], period=date_range(start, end))


def list_security_events(f: SecurityFilter, *, before: int | None = None,
                         page_size: int = 50) -> tuple[list[SecurityEvent], int | None]:
    """Security events newest first. ``email`` matches the address typed at a failed
    sign-in or the account's own address, exactly (an attack is about one address)."""
    stmt = select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(page_size + 1)
    if f.kind:
        stmt = stmt.where(SecurityEvent.kind == f.kind)
    if f.email:
        user_id = db.session.scalar(select(User.id).where(User.email == f.email))
        stmt = stmt.where(SecurityEvent.email == f.email) if user_id is None else stmt.where(
            (SecurityEvent.email == f.email) | (SecurityEvent.user_id == user_id))
    if f.ip:
        stmt = stmt.where(SecurityEvent.ip == f.ip)
    stmt = stmt.where(*_id_range(SecurityEvent, f.period, before))
    rows = list(db.session.scalars(stmt))
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, rows[-1].id
    return rows, None


@dataclass(frozen=True)
class AttackSummary:
    since: datetime
    failed_by_email: list[tuple[str, int]]
    failed_by_ip: list[tuple[str, int]]
    failed: int
    throttled: int
    blocked: int


def attack_summary(now: datetime | None = None, top: int = 10) -> AttackSummary:
    """The last 24 hours: failed sign-ins by address and by IP (the top ``top``), how many
    failed, were throttled (locked out) or were refused for a suspended or banned account."""
    since = (now or utcnow()) - timedelta(hours=24)
    recent = SecurityEvent.created_at >= since

    def top_by(column) -> list[tuple[str, int]]:
        count = func.count(SecurityEvent.id)
        rows = db.session.execute(
            select(column, count).where(recent, SecurityEvent.kind == "login_failed",
                                        column.is_not(None))
            .group_by(column).order_by(count.desc(), column).limit(top))
        return [(value, n) for value, n in rows]

    counts = dict(db.session.execute(
        select(SecurityEvent.kind, func.count(SecurityEvent.id))
        .where(recent, SecurityEvent.kind.in_(("login_failed", "login_throttled",
                                               "login_blocked")))
        .group_by(SecurityEvent.kind)).all())
    return AttackSummary(since, top_by(SecurityEvent.email), top_by(SecurityEvent.ip),
                         counts.get("login_failed", 0), counts.get("login_throttled", 0),
                         counts.get("login_blocked", 0))
