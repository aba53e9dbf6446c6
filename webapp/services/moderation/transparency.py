"""The public transparency report: what moderation did over the last twelve months.

Counts only — moderation actions by type, by reason, automated or by a person, and by
month; appeals and how they ended; the median time an item waited before a moderator (or a
rule) acted on it. Nothing names a person or a post.

Months are calendar months in UTC. Each month is one range read on
``ix_moderation_action_created`` grouped in SQL (the same query on SQLite and PostgreSQL,
no date functions that differ between them). The median is read in SQL too: the count,
then the middle row(s) by ``OFFSET`` in ``waited_seconds`` order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Appeal, ModerationAction
from webapp.models.base import utcnow
from webapp.models.moderation import ACTION_KINDS, ACTION_REASONS, APPEAL_STATUSES

MONTHS = 12
# What the report calls each action.
ACTION_LABELS = {
    "dismiss": "Flags dismissed", "hide": "Hidden", "restore": "Restored",
    "delete": "Deleted", "edit": "Edited by a moderator", "approve": "Held post approved",
    "reject": "Held post rejected", "warn": "Warning", "silence": "Silenced (no posting)",
    "suspend": "Suspended", "ban": "Banned", "delete_posts": "All posts of a person deleted",
    "lift": "Silence, suspension or ban lifted", "appeal_granted": "Appeal granted",
    "appeal_denied": "Appeal denied",
}
CSV_HEADER = ("month", "action", "reason", "automated", "count")


def month_starts(now: datetime, months: int = MONTHS) -> list[datetime]:
    """The first moments (UTC) of the last ``months`` calendar months, oldest first, plus
    the start of the next month (the end of the last range)."""
    year, month = now.astimezone(UTC).year, now.astimezone(UTC).month
    starts = []
    for back in range(months - 1, -2, -1):
        y, m = divmod((year * 12 + month - 1) - back, 12)
        starts.append(datetime(y, m + 1, 1, tzinfo=UTC))
    return starts


@dataclass
class Report:
    months: list[str]
    # (month, action, reason, automated) -> count
    actions: Counter = field(default_factory=Counter)
    # (month, status) -> appeals filed that month, by how they stand now
    appeals: Counter = field(default_factory=Counter)
    median_seconds: float | None = None
    timed_actions: int = 0

    def total(self) -> int:
        return sum(self.actions.values())

    def by(self, position: int) -> list[tuple[str, int]]:
        counts: Counter = Counter()
        for key, n in self.actions.items():
            counts[key[position]] += n
        order = {"action": ACTION_KINDS, "reason": ACTION_REASONS}
        keys = order["action"] if position == 1 else order["reason"] \
            if position == 2 else (False, True)
        return [(k, counts[k]) for k in keys if counts[k]]

    def per_month(self) -> list[tuple[str, int, int]]:
        """Each month: actions by people, automated actions."""
        rows = []
        for month in self.months:
            human = sum(n for k, n in self.actions.items() if k[0] == month and not k[3])
            auto = sum(n for k, n in self.actions.items() if k[0] == month and k[3])
            rows.append((month, human, auto))
        return rows

    def appeal_totals(self) -> list[tuple[str, int]]:
        counts: Counter = Counter()
        for (_month, status), n in self.appeals.items():
            counts[status] += n
        return [(s, counts[s]) for s in APPEAL_STATUSES]

    def csv_rows(self) -> list[tuple[str, str, str, str, int]]:
        """``CSV_HEADER`` rows: one per month, action, reason and automated ("yes"/"no")
        with its count; then one per month and appeal outcome, with action "appeal", the
        outcome (open, granted, denied) in the reason column and automated empty."""
        rows = [(m, a, r, "yes" if auto else "no", n)
                for (m, a, r, auto), n in sorted(self.actions.items())]
        rows += [(m, "appeal", status, "", n) for (m, status), n in sorted(self.appeals.items())]
        return rows


def _median(stmt_filter) -> tuple[float | None, int]:
    base = select(ModerationAction.waited_seconds).where(
        ModerationAction.waited_seconds.is_not(None), *stmt_filter)
    count = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    if not count:
        return None, 0
    ordered = base.order_by(ModerationAction.waited_seconds)
    middle = list(db.session.scalars(ordered.offset((count - 1) // 2)
                                     .limit(1 if count % 2 else 2)))
    return sum(middle) / len(middle), count


def build(now: datetime | None = None, months: int = MONTHS) -> Report:
    now = now or utcnow()
    starts = month_starts(now, months)
    report = Report(months=[s.strftime("%Y-%m") for s in starts[:-1]])
    for start, end, label in zip(starts, starts[1:], report.months, strict=False):
        for action, reason, automated, n in db.session.execute(
                select(ModerationAction.action, ModerationAction.reason,
                       ModerationAction.automated, func.count())
                .where(ModerationAction.created_at >= start, ModerationAction.created_at < end)
                .group_by(ModerationAction.action, ModerationAction.reason,
                          ModerationAction.automated)):
            report.actions[(label, action, reason, bool(automated))] += n
        for status, n in db.session.execute(
                select(Appeal.status, func.count())
                .where(Appeal.created_at >= start, Appeal.created_at < end)
                .group_by(Appeal.status)):
            report.appeals[(label, status)] += n
    # A person's response time: a rule acts the moment its threshold is met.
    report.median_seconds, report.timed_actions = _median(
        (ModerationAction.created_at >= starts[0], ModerationAction.created_at < starts[-1],
         ModerationAction.automated.is_(False)))
    return report


def duration_words(seconds: float | None) -> str:
    """"3 minutes", "5.5 hours", "2 days" for the median."""
    if seconds is None:
        return "no actions yet"
    if seconds < 90:
        return f"{round(seconds)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"
