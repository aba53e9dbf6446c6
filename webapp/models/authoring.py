"""Authoring: co-editors and the revision events of lessons and courses.

The lesson and course rows stay the single source of truth. A revision row is
an event: which aggregate, which version it produced, who, when, and only the
delta from the previous version (``webapp.content.diff`` describes the shape),
so any earlier version can be rebuilt by walking back from the current row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from webapp.models.base import Base, check_in, utcnow
from webapp.models.users import User

REVISION_KINDS = ("create", "edit", "restore", "import", "metadata", "publish", "unpublish")


class CourseEditor(Base):
    """A user the owner invited to edit a course (the owner is not listed here)."""

    __tablename__ = "course_editor"

    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
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
        return mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)

    @declared_attr
    def actor(cls) -> Mapped[User | None]:
        return relationship()

    @staticmethod
    def checks() -> tuple[CheckConstraint, ...]:
        return (CheckConstraint(check_in("kind", REVISION_KINDS), name="kind"),
                CheckConstraint("version >= 1", name="version_positive"))


class LessonRevision(_RevisionEvent, Base):
    __tablename__ = "lesson_revision"
    __table_args__ = (
        UniqueConstraint("lesson_id", "version", name="uq_lesson_revision_lesson_version"),
        *_RevisionEvent.checks(),
    )

    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"))
    # {"title": [before, after], "source": [[start, end, old_lines, new_lines], …]}
    delta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CourseRevision(_RevisionEvent, Base):
    __tablename__ = "course_revision"
    __table_args__ = (
        UniqueConstraint("course_id", "version", name="uq_course_revision_course_version"),
        *_RevisionEvent.checks(),
    )

    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    # {"field": [before, after]} for the metadata fields (and status) that changed.
    delta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
