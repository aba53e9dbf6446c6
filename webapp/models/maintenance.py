"""Scheduled maintenance: one row per task (``webapp.jobs.maintenance``), holding its last
run and the lease that lets exactly one process run it at a time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks

MAINTENANCE_OUTCOMES = ("ok", "failed", "skipped")
# The longest detail kept ("purged 12 notifications", an error's one-line summary).
DETAIL_MAX = 200


class MaintenanceTask(Base):
    __tablename__ = "maintenance_task"
    __table_args__ = choice_checks(last_outcome=MAINTENANCE_OUTCOMES)

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(default=None)
    last_finished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_outcome: Mapped[str | None] = mapped_column(String(10), default=None)
    last_detail: Mapped[str | None] = mapped_column(String(DETAIL_MAX), default=None)
    last_duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    # Who runs it now ("host:pid:random") and until when; a lease past its time is free.
    lease_holder: Mapped[str | None] = mapped_column(String(80), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
