"""Kept figures of the teaching-insight pages: what a course-wide aggregate (the funnel,
the weekly activity, a quiz's difficulty) came to at ``computed_at``. With a million
progress rows an aggregate takes far longer than a page may; the pages read the kept
figures, say how old they are, and recompute them when they are older than a few
minutes (``webapp.services.insight.snapshots``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, fk_id, utcnow


class InsightSnapshot(Base):
    __tablename__ = "insight_snapshot"
    __table_args__ = (UniqueConstraint("course_id", "name", name="uq_insight_snapshot_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = fk_id("course")
    # "funnel", "activity", "difficulty", "quiz:<id>".
    name: Mapped[str] = mapped_column(String(40))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[Any] = mapped_column(JSON)
