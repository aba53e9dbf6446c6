"""Background work and what it costs: generation jobs, the provider-call ledger, and
narration audio assets.

``GenerationJob`` is the source of truth for background work. A partial unique
index allows one *active* (queued or running) job per subject key, so "only one
generation per topic" holds across restarts and any number of processes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import MONEY, Base, choice_checks, fk_id, utcnow
from webapp.models.users import User

JOB_KINDS = ("course_draft", "branch", "lesson_regeneration", "narration")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
CALL_KINDS = ("text", "speech")
COST_SOURCES = ("reported", "configured", "free")
_ACTIVE_SQL = text("status IN ('queued', 'running')")


class GenerationJob(Base):
    __tablename__ = "generation_job"
    __table_args__ = (
        *choice_checks(kind=JOB_KINDS, status=JOB_STATUSES),
        CheckConstraint("step_index >= 0 AND step_count >= 0 AND step_index <= step_count",
                        name="steps"),
        CheckConstraint("attempts >= 0", name="attempts_positive"),
        CheckConstraint("cost >= 0", name="cost_positive"),
        CheckConstraint(
            "(status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)",
            name="finished_has_date",
        ),
        # At most one active job per subject, across every process and restart.
        Index("uq_generation_job_active_subject", "subject_key", unique=True,
              sqlite_where=_ACTIVE_SQL, postgresql_where=_ACTIVE_SQL),
        Index("ix_generation_job_status_heartbeat", "status", "heartbeat_at"),
        Index("ix_generation_job_requester_created", "requester_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    # What the job is about, normalized: "course:<topic>", "narration:<lesson>:<version>" …
    subject_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    step: Mapped[str] = mapped_column(String(40), default="")
    step_index: Mapped[int] = mapped_column(Integer, default=0)
    step_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    requester_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    course_id: Mapped[int | None] = fk_id("course", ondelete="SET NULL", index=True)
    lesson_id: Mapped[int | None] = fk_id("lesson", ondelete="SET NULL", index=True)
    # The request (topic, level …) and the steps' outputs so far: opaque documents
    # the job reads back to resume, never queried by content.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    provider: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(120), default="")
    prompt_version: Mapped[str] = mapped_column(String(40), default="")
    # Sum of this job's provider calls, kept in the same transaction as each call row.
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)

    requester: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def percent(self) -> int:
        if self.status == "succeeded":
            return 100
        return round(100 * self.step_index / self.step_count) if self.step_count else 0


class ProviderCall(Base):
    """The cost ledger: one row per call to an AI or speech provider."""

    __tablename__ = "provider_call"
    __table_args__ = (
        *choice_checks(kind=CALL_KINDS, cost_source=COST_SOURCES),
        CheckConstraint("cost >= 0", name="cost_positive"),
        CheckConstraint("input_tokens >= 0 AND output_tokens >= 0 AND characters >= 0",
                        name="usage_positive"),
        # A step's n-th call is recorded once, even when a resumed job replays the step.
        UniqueConstraint("job_id", "call_key", name="uq_provider_call_job_call_key"),
        Index("ix_provider_call_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = fk_id("generation_job", ondelete="SET NULL")
    course_id: Mapped[int | None] = fk_id("course", ondelete="SET NULL", index=True)
    call_key: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    job_kind: Mapped[str] = mapped_column(String(24), default="")
    provider: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(120), default="")
    prompt_version: Mapped[str] = mapped_column(String(40), default="")
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    characters: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    cost_source: Mapped[str] = mapped_column(String(16), default="free")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AudioAsset(Base):
    """Narration of one lesson version in one voice; the file lives in the instance
    folder under its content hash and is served only through the audio view."""

    __tablename__ = "audio_asset"
    __table_args__ = (
        UniqueConstraint("lesson_id", "lesson_version", "voice",
                         name="uq_audio_asset_lesson_version_voice"),
        CheckConstraint("size_bytes > 0 AND duration_ms >= 0", name="size_positive"),
        CheckConstraint("cost >= 0", name="cost_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = fk_id("lesson", index=True)
    lesson_version: Mapped[int] = mapped_column(Integer)
    voice: Mapped[str] = mapped_column(String(80))
    provider: Mapped[str] = mapped_column(String(40))
    mime_type: Mapped[str] = mapped_column(String(40))
    # Relative to the instance folder's audio store: "ab/abcdef….mp3".
    storage_name: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    # Where each section starts, for "listen from here": {section_key: milliseconds}.
    section_offsets: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cost: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
