"""Kept figures for the course-wide insight aggregates (the funnel, the weekly activity,
what is hard): with 20,000 learners and a million progress rows such an aggregate takes
hundreds of milliseconds, far longer than a page may. A page reads the figures kept in
``insight_snapshot`` (one indexed row) and says how old they are; figures older than
``MAX_AGE`` — or asked for with "Recompute now" — are computed again, by the one request
that finds them stale, and kept for everyone after it.

Figures are kept as JSON: each kind gives ``encode``/``decode`` for its dataclasses.
The write gets a short transaction of its own after the page's reading one (retried when
the database is busy), as the lesson page does for the reading position: on SQLite a
reading transaction must not turn into a writing one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.database import reset_begin_mode, run_in_transaction, set_read_only
from webapp.extensions import db
from webapp.models import Course, InsightSnapshot
from webapp.models.base import utcnow

T = TypeVar("T")
# Figures older than this are computed again when a page needs them.
MAX_AGE = timedelta(minutes=10)


@dataclass(frozen=True)
class Kept(Generic[T]):
    value: T
    computed_at: datetime
    # Computed by this request (rather than read from the kept row).
    just_computed: bool


def _store(course_id: int, name: str, data: Any, now: datetime) -> None:
    def work() -> None:
        row = db.session.scalar(select(InsightSnapshot).where(
            InsightSnapshot.course_id == course_id, InsightSnapshot.name == name))
        if row is None:
            try:
                with db.session.begin_nested():
                    db.session.add(InsightSnapshot(course_id=course_id, name=name,
                                                   computed_at=now, data=data))
                return
            except IntegrityError:  # another request kept it a moment ago
                row = db.session.scalar(select(InsightSnapshot).where(
                    InsightSnapshot.course_id == course_id, InsightSnapshot.name == name))
        if row is not None and row.computed_at < now:
            row.data, row.computed_at = data, now

    db.session.commit()  # end the page's reading transaction first
    token = set_read_only(False)
    try:
        run_in_transaction(db.session, work)
    finally:
        reset_begin_mode(token)


def figures(course: Course, name: str, compute: Callable[[], T], *,
            encode: Callable[[T], Any], decode: Callable[[Any], T],
            refresh: bool = False, max_age: timedelta = MAX_AGE,
            now: datetime | None = None) -> Kept[T]:
    """``name``'s figures for ``course``: the kept ones when younger than ``max_age``
    (and not ``refresh``), else ``compute()``-d now and kept."""
    now = now or utcnow()
    row = db.session.execute(select(InsightSnapshot.data, InsightSnapshot.computed_at).where(
        InsightSnapshot.course_id == course.id, InsightSnapshot.name == name)).first()
    if row is not None and not refresh and row.computed_at > now - max_age:
        try:
            return Kept(decode(row.data), row.computed_at, False)
        except (KeyError, TypeError, ValueError):
            pass  # kept by an older shape of the figures: compute them again
    value = compute()
    _store(course.id, name, encode(value), now)
    return Kept(value, now, True)
