"""A course's activity per week: enrollments, active learners and completions.

Weeks are ISO weeks (Monday to Monday, in UTC). Their boundaries are worked out here in
Python and the database only compares timestamps with them, so SQLite and PostgreSQL
put every row in the same week (no date functions, no time zone of the server). Two
statements whatever the number of learners or rows:

- enrollments and completions: one pass over the course's enrollments with a
  ``CASE``-bucketed ``SUM`` per week;
- active learners (a learner who completed at least one section of the course that
  week): ``DISTINCT (week, learner)`` over the course's section progress of those
  weeks, counted per week.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import and_, case, func, literal, or_, select

from webapp.extensions import db
from webapp.models import Course, Enrollment, SectionProgress
from webapp.models.base import utcnow

WEEKS = 12


@dataclass(frozen=True)
class Week:
    start: date  # a Monday
    enrollments: int
    active: int
    completions: int

    @property
    def label(self) -> str:
        return f"{self.start:%d %b}"

    @property
    def iso(self) -> str:
        year, week, _ = self.start.isocalendar()
        return f"{year}-W{week:02d}"


def week_starts(now: datetime, weeks: int = WEEKS) -> list[datetime]:
    """The starts of the last ``weeks`` ISO weeks up to ``now`` (the current one last),
    plus the end of the current week: ``weeks + 1`` UTC boundaries."""
    now = now.astimezone(UTC) if now.tzinfo is not None else now.replace(tzinfo=UTC)
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), time(), tzinfo=UTC)
    first = monday - timedelta(weeks=weeks - 1)
    return [first + timedelta(weeks=n) for n in range(weeks + 1)]


def _bucket(column, bounds: list[datetime]):
    """The index of the week ``column`` falls in (NULL outside all of them)."""
    return case(*((and_(column >= bounds[n], column < bounds[n + 1]), literal(n))
                  for n in range(len(bounds) - 1)), else_=None)


def _sums(column, bounds: list[datetime]) -> list:
    return [func.coalesce(func.sum(case((and_(column >= bounds[n], column < bounds[n + 1]), 1),
                                        else_=0)), 0)
            for n in range(len(bounds) - 1)]


def course_activity(course: Course, *, now: datetime | None = None,
                    weeks: int = WEEKS) -> list[Week]:
    """The last ``weeks`` weeks of ``course``, oldest first; weeks with nothing are zeros."""
    bounds = week_starts(now or utcnow(), weeks)
    start, end = bounds[0], bounds[-1]
    n = len(bounds) - 1
    figures = db.session.execute(
        select(*_sums(Enrollment.created_at, bounds), *_sums(Enrollment.completed_at, bounds))
        .where(Enrollment.course_id == course.id,
               or_(and_(Enrollment.created_at >= start, Enrollment.created_at < end),
                   and_(Enrollment.completed_at >= start, Enrollment.completed_at < end)))
    ).one()
    enrollments, completions = [int(v) for v in figures[:n]], [int(v) for v in figures[n:]]
    bucket = _bucket(SectionProgress.completed_at, bounds).label("week")
    per_learner = (
        select(bucket, SectionProgress.user_id)
        .where(SectionProgress.course_id == course.id,
               SectionProgress.completed_at >= start, SectionProgress.completed_at < end)
        .distinct()
        .subquery()
    )
    active = [0] * n
    for week, count in db.session.execute(
            select(per_learner.c.week, func.count()).group_by(per_learner.c.week)):
        if week is not None:
            active[int(week)] = count
    return [Week(start=bounds[i].date(), enrollments=enrollments[i], active=active[i],
                 completions=completions[i]) for i in range(n)]


# --- kept figures (``webapp.services.insight.snapshots``) ---------------------------------

def to_json(weeks: list[Week]) -> list[dict]:
    return [{"start": w.start.isoformat(), "enrollments": w.enrollments, "active": w.active,
             "completions": w.completions} for w in weeks]


def from_json(data: list[dict]) -> list[Week]:
    return [Week(start=date.fromisoformat(w["start"]), enrollments=w["enrollments"],
                 active=w["active"], completions=w["completions"]) for w in data]
