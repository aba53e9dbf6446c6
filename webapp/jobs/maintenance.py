"""Scheduled maintenance: what runs when, and the lease that makes it run once.

``TASKS`` is the registry: each task's name, what it does and when it runs, in words
for the admin jobs page and as a huey crontab (in UTC), and its function. Every
consumer (``tangent worker``, ``tangent serve``'s embedded one) fires every periodic
task; ``run_task`` lets exactly one of them run it:

- the task's ``maintenance_task`` row is created on first use (insert if absent);
- one conditional UPDATE takes the lease: free (``lease_until`` empty or past) and not
  already started in this period (``last_started_at`` older than half the task's
  interval, unless *forced* by "Run now" or ``tangent maintenance run --force``);
- the others skip and record nothing, so the row keeps the last real run;
- the run's outcome (ok, failed with the error's one line, skipped), detail and duration
  are written when it ends, and the lease is released. A failing task never stops the
  consumer.

Each task is idempotent: running it twice in a row does nothing more.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Flask
from huey import crontab
from sqlalchemy import and_, or_, select, text, update

from webapp.jobs import mail_context_for, recover

log = logging.getLogger(__name__)

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# Why a run was skipped.
RUNNING_ELSEWHERE = "already running in another process"
ALREADY_RAN = "already ran in this period"


class UnknownTask(LookupError):
    """No maintenance task has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No maintenance task is named {name!r}; the tasks are: "
                         f"{', '.join(TASKS)}.")


class Skip(Exception):
    """Raised by a task that had nothing it could do here (recorded as "skipped")."""


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    does: str
    schedule: str
    cron: dict[str, str]
    # Seconds between scheduled runs: a run counts for half of this (see run_task).
    interval: int
    # How long a run may hold the task before another process may take it over.
    lease: int
    run: Callable[[Flask, datetime], str]

    def crontab(self):
        return crontab(**self.cron)


@dataclass(frozen=True)
class RunResult:
    name: str
    outcome: str  # ok | failed | skipped
    detail: str
    # False when another process holds the task or it already ran in this period.
    ran: bool = True


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# --- the tasks (each runs outside any app context and opens its own) ------------------------


def _committed(app: Flask, work: Callable[[], int]) -> int:
    """``work()`` in an app context of its own, committed; its result."""
    from webapp.extensions import db

    with app.app_context():
        try:
            result = work()
            db.session.commit()
        finally:
            db.session.remove()
    return result


def send_notification_digests(app: Flask, now: datetime | None = None) -> int:
    """The daily digest emails (``notifications.send_digests``), committed; how many."""
    from webapp.models.base import utcnow
    from webapp.services.community import notifications

    sent = _committed(app, lambda: notifications.send_digests(now or utcnow(),
                                                              mail_context_for(app)))
    log.info("queued %s digest emails", sent)
    return sent


def purge_old_notifications(app: Flask, now: datetime | None = None) -> int:
    """Delete notifications older than the rule "notification_retention_days"; how many."""
    from webapp.models.base import utcnow
    from webapp.services.community import notifications, rules

    removed = _committed(app, lambda: notifications.purge_notifications(
        now or utcnow(), rules.value("notification_retention_days")))
    log.info("purged %s old notifications", removed)
    return removed


def remind_events(app: Flask, now: datetime | None = None) -> int:
    """Remind people going to events that start within a day (each event once; see
    ``services.community.events.send_due_reminders``); the number of events reminded of."""
    from webapp.models.base import utcnow
    from webapp.services.community.events import send_due_reminders

    return _committed(app, lambda: send_due_reminders(now or utcnow(), mail_context_for(app)))


def purge_old_security_events(app: Flask, now: datetime | None = None) -> int:
    """Delete security events older than the rule "security_event_retention_days"."""
    from webapp.models.base import utcnow
    from webapp.services.audit import purge_security_events
    from webapp.services.community import rules

    removed = _committed(app, lambda: purge_security_events(
        now or utcnow(), rules.value("security_event_retention_days")))
    log.info("purged %s old security events", removed)
    return removed


def prune_audio(app: Flask, now: datetime | None = None):
    """Remove audio files no row references (``AudioStore.prune_unreferenced``)."""
    from webapp.extensions import db
    from webapp.services.audio_store import AudioStore
    from webapp.settings import get_settings

    with app.app_context():
        try:
            store = AudioStore.for_settings(get_settings(app))
            return store.prune_unreferenced(now=now.timestamp() if now else None)
        finally:
            db.session.remove()


def database_upkeep(app: Flask, now: datetime | None = None) -> str:
    """Fresh planner statistics, and on SQLite a checkpoint that empties the WAL file.
    Never a full VACUUM (it locks the database while the site serves)."""
    from webapp.extensions import db

    with app.app_context():
        try:
            dialect = db.engine.dialect.name
            if dialect == "sqlite":
                # Outside SQLAlchemy's transactions (checkpointing needs no open one);
                # analysis_limit keeps ANALYZE to a sample of each index, so it is cheap.
                raw = db.engine.raw_connection()
                try:
                    cursor = raw.cursor()
                    cursor.execute("PRAGMA analysis_limit=1000")
                    cursor.execute("ANALYZE")
                    cursor.execute("PRAGMA optimize")
                    busy, wal_pages, _done = cursor.execute(
                        "PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    cursor.close()
                finally:
                    raw.close()
                state = "WAL busy, checkpoint left for next time" if busy else (
                    f"WAL checkpointed ({_plural(max(wal_pages, 0), 'page')})")
                return f"SQLite analyzed and optimized; {state}"
            if dialect == "postgresql":
                tables = [table.name for table in db.metadata.sorted_tables]
                for name in tables:
                    db.session.execute(text(f'ANALYZE "{name}"'))
                db.session.commit()
                return f"PostgreSQL analyzed {_plural(len(tables), 'table')}"
            raise Skip(f"no upkeep for the {dialect} database")
        finally:
            db.session.remove()


def _recover(app: Flask, now: datetime) -> str:
    return f"re-enqueued {_plural(len(recover(app)), 'job')}"


def _reminders(app: Flask, now: datetime) -> str:
    return f"reminded of {_plural(remind_events(app, now), 'event')}"


def _digests(app: Flask, now: datetime) -> str:
    return f"queued {_plural(send_notification_digests(app, now), 'digest email')}"


def _notifications(app: Flask, now: datetime) -> str:
    return f"purged {_plural(purge_old_notifications(app, now), 'notification')}"


def _security_events(app: Flask, now: datetime) -> str:
    return f"purged {_plural(purge_old_security_events(app, now), 'security event')}"


def _audio(app: Flask, now: datetime) -> str:
    pruned = prune_audio(app, now)
    return f"removed {_plural(pruned.files, 'unreferenced file')} ({pruned.bytes:,} bytes)"


def _upkeep(app: Flask, now: datetime) -> str:
    return database_upkeep(app, now)


TASKS: dict[str, Task] = {task.name: task for task in (
    Task("recover_jobs", "Recover stalled jobs",
         "Re-queues waiting jobs and running jobs whose worker stopped, and mail whose "
         "sending was lost.",
         "Every minute", {"minute": "*"}, MINUTE, 5 * MINUTE, _recover),
    Task("send_event_reminders", "Event reminders",
         "Reminds people going to an event that starts within a day (once per event).",
         "Every 10 minutes", {"minute": "*/10"}, 10 * MINUTE, 10 * MINUTE, _reminders),
    Task("send_digests", "Notification digests",
         "Emails each person who chose digests one summary of the day's notifications.",
         "Daily at 06:00 UTC", {"minute": "0", "hour": "6"}, DAY, HOUR, _digests),
    Task("purge_notifications", "Purge old notifications",
         "Deletes notifications older than the “Keep notifications for” setting.",
         "Daily at 03:30 UTC", {"minute": "30", "hour": "3"}, DAY, HOUR, _notifications),
    Task("purge_security_events", "Purge old security events",
         "Deletes sign-in and account security events older than the “Keep security "
         "events for” setting. The audit trail is kept.",
         "Daily at 03:40 UTC", {"minute": "40", "hour": "3"}, DAY, HOUR, _security_events),
    Task("prune_audio", "Prune unused audio files",
         "Removes narration files no lesson refers to any more (never one a lesson "
         "refers to, never one less than an hour old).",
         "Daily at 03:50 UTC", {"minute": "50", "hour": "3"}, DAY, HOUR, _audio),
    Task("database_upkeep", "Database upkeep",
         "Refreshes the database's query-planning statistics; on SQLite also empties "
         "the write-ahead log. No full vacuum.",
         "Weekly, Sundays at 04:15 UTC", {"minute": "15", "hour": "4", "day_of_week": "0"},
         7 * DAY, HOUR, _upkeep),
)}


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTask(name) from None


# --- running one: lease, run, record --------------------------------------------------------


def _holder() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _one_line(exc: BaseException) -> str:
    from webapp.models.maintenance import DETAIL_MAX

    first = (str(exc).strip().splitlines() or [""])[0]
    line = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return line if len(line) <= DETAIL_MAX else line[:DETAIL_MAX - 1] + "…"


def _ensure_row(name: str) -> None:
    """Insert the task's row unless it exists, without failing when another process
    inserts it at the same moment (ON CONFLICT DO NOTHING on SQLite and PostgreSQL)."""
    from sqlalchemy.dialects import postgresql, sqlite

    from webapp.extensions import db
    from webapp.models.maintenance import MaintenanceTask

    if db.session.get(MaintenanceTask, name) is not None:
        return
    dialect = db.engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(MaintenanceTask).values(name=name, run_count=0)
                       .on_conflict_do_nothing(index_elements=["name"]))


def _claim(task: Task, holder: str, now: datetime, forced: bool) -> bool:
    from webapp.extensions import db
    from webapp.models.maintenance import MaintenanceTask as Row

    conditions = [Row.name == task.name,
                  or_(Row.lease_until.is_(None), Row.lease_until < now)]
    if not forced:
        conditions.append(or_(Row.last_started_at.is_(None),
                              Row.last_started_at <= now - timedelta(seconds=task.interval / 2)))
    result = db.session.execute(
        update(Row).where(and_(*conditions)).values(
            lease_holder=holder, lease_until=now + timedelta(seconds=task.lease),
            last_started_at=now).execution_options(synchronize_session=False))
    return result.rowcount == 1


def _why_skipped(name: str, now: datetime) -> str:
    from webapp.extensions import db
    from webapp.models.maintenance import MaintenanceTask

    row = db.session.get(MaintenanceTask, name)
    if row is not None and row.lease_until is not None and row.lease_until >= now:
        return RUNNING_ELSEWHERE
    return ALREADY_RAN


def run_task(app: Flask, name: str, *, now: datetime | None = None,
             forced: bool = False) -> RunResult:
    """Run the maintenance task ``name`` here unless another process holds it or it already
    ran in this period (``forced`` runs it again anyway, but never beside a running one).
    Its outcome is recorded on its row; errors are recorded, logged and not raised."""
    from webapp.extensions import db
    from webapp.models.base import utcnow
    from webapp.models.maintenance import DETAIL_MAX
    from webapp.models.maintenance import MaintenanceTask as Row

    task = get_task(name)
    now = now or utcnow()
    holder = _holder()
    with app.app_context():
        try:
            _ensure_row(name)
            claimed = _claim(task, holder, now, forced)
            db.session.commit()
            if not claimed:
                detail = _why_skipped(name, now)
                log.info("maintenance %s skipped: %s", name, detail)
                return RunResult(name, "skipped", detail, ran=False)
        finally:
            db.session.remove()
    started = time.monotonic()
    try:
        outcome, detail = "ok", task.run(app, now)
    except Skip as exc:
        outcome, detail = "skipped", str(exc)
    except Exception as exc:
        log.exception("maintenance task %s failed", name)
        outcome, detail = "failed", _one_line(exc)
    duration_ms = round((time.monotonic() - started) * 1000)
    with app.app_context():
        try:
            db.session.execute(
                update(Row).where(Row.name == name, Row.lease_holder == holder).values(
                    last_finished_at=utcnow(), last_outcome=outcome,
                    last_detail=detail[:DETAIL_MAX], last_duration_ms=duration_ms,
                    run_count=Row.run_count + 1, lease_holder=None, lease_until=None)
                .execution_options(synchronize_session=False))
            db.session.commit()
        finally:
            db.session.remove()
    log.info("maintenance %s: %s (%s) in %s ms", name, outcome, detail, duration_ms)
    return RunResult(name, outcome, detail)


# --- what the admin page and the CLI read ----------------------------------------------------


@dataclass(frozen=True)
class TaskState:
    task: Task
    row: object | None  # MaintenanceTask, or None before its first run
    running: bool


def states(now: datetime | None = None) -> list[TaskState]:
    """Every task with its row (one query), in the registry's order; inside an app context."""
    from webapp.extensions import db
    from webapp.models.base import utcnow
    from webapp.models.maintenance import MaintenanceTask

    now = now or utcnow()
    rows = {row.name: row for row in db.session.scalars(select(MaintenanceTask))}
    result = []
    for name, task in TASKS.items():
        row = rows.get(name)
        running = bool(row and row.lease_until and row.lease_until >= now)
        result.append(TaskState(task, row, running))
    return result


def enqueue_run(app: Flask, name: str) -> None:
    """Ask a consumer to run ``name`` now (forced; through the same lease)."""
    get_task(name)
    app.extensions["tangent.run_maintenance"](name)
