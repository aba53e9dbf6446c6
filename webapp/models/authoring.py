"""Authoring: co-editors, the revision events of lessons and courses, and AI rewrites
of lessons waiting for an editor's review.

The lesson and course rows stay the single source of truth. A revision row is
an event: which aggregate, which version it produced, who, when, and only the
delta from the previous version (``webapp.content.diff`` describes the shape),
so any earlier version can be rebuilt by walking back from the current row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.users import User

REVISION_KINDS = ("create", "edit", "restore", "import", "metadata", "publish", "unpublish")
PROPOSAL_STATUSES = ("pending", "published", "discarded")
_PENDING_SQL = text("status = 'pending'")


class CourseEditor(Base):
    """A user the owner invited to edit a course (the owner is not listed here)."""

    __tablename__ = "course_editor"

    course_id: Mapped[int] = fk_id("course", primary_key=True)
    user_id: Mapped[int] = fk_id("user", primary_key=True, index=True)
    added_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL")
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class _RevisionEvent:
    """Columns every revision event has; the subclass adds the aggregate's key."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The version a restore went back to.
    restored_from: Mapped[int | None] = mapped_column(Integer, default=None)

    @declared_attr
    def actor_id(cls) -> Mapped[int | None]:
        return fk_id("user", ondelete="SET NULL", index=True)

    @declared_attr
    def actor(cls) -> Mapped[User | None]:
        return relationship()

    @staticmethod
    def table_args(table: str, owner: str) -> tuple[Any, ...]:
        """One revision per version of each ``owner`` row; a known kind; versions from 1."""
        return (UniqueConstraint(f"{owner}_id", "version", name=f"uq_{table}_{owner}_version"),
                *choice_checks(kind=REVISION_KINDS),
                CheckConstraint("version >= 1", name="version_positive"))


class LessonRevision(_RevisionEvent, Base):
    __tablename__ = "lesson_revision"
    __table_args__ = _RevisionEvent.table_args("lesson_revision", "lesson")

    lesson_id: Mapped[int] = fk_id("lesson")
    # {"title": [before, after], "source": [[start, end, old_lines, new_lines], …]}
    delta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CourseRevision(_RevisionEvent, Base):
    __tablename__ = "course_revision"
    __table_args__ = _RevisionEvent.table_args("course_revision", "course")

    course_id: Mapped[int] = fk_id("course")
    # {"field": [before, after]} for the metadata fields (and status) that changed.
    delta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LessonProposal(Base):
    """An AI rewrite of a lesson that no learner sees until an editor publishes it.

    A regeneration job stores its result here instead of saving the lesson. The
    editor reviews it against the lesson, then publishes it (an ordinary revision
    made against ``base_version``, so edits made meanwhile are never overwritten)
    or discards it. At most one proposal per lesson waits for review.
    """

    __tablename__ = "lesson_proposal"
    __table_args__ = (
        *choice_checks(status=PROPOSAL_STATUSES),
        CheckConstraint("(status = 'pending') = (decided_at IS NULL)", name="decided_has_date"),
        CheckConstraint("status <> 'published' OR published_version IS NOT NULL",
                        name="published_has_version"),
        CheckConstraint("base_version >= 1", name="base_version_positive"),
        # One rewrite waits for review per lesson, in every process.
        Index("uq_lesson_proposal_pending_lesson", "lesson_id", unique=True,
              sqlite_where=_PENDING_SQL, postgresql_where=_PENDING_SQL),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = fk_id("lesson", index=True)
    # The job that wrote it: one proposal per job, so a job run twice stores it once.
    job_id: Mapped[int | None] = fk_id("generation_job", ondelete="SET NULL", unique=True)
    # The lesson version the rewrite started from; publishing is a save against it.
    base_version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))
    source: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(40), default="")
    model: Mapped[str] = mapped_column(String(120), default="")
    prompt_version: Mapped[str] = mapped_column(String(40), default="")
    requested_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    # The lesson version publishing it made.
    published_version: Mapped[int | None] = mapped_column(Integer, default=None)

    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
