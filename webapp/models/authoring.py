"""Authoring: co-editors and the revision events of lessons and courses.

The lesson and course rows stay the single source of truth. A revision row is
an event: which aggregate, which version it produced, who, when, and only the
delta from the previous version (``webapp.content.diff`` describes the shape),
so any earlier version can be rebuilt by walking back from the current row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.users import User

REVISION_KINDS = ("create", "edit", "restore", "import", "metadata", "publish", "unpublish")


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
