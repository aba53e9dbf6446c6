"""A learner's relation to courses: enrollment, progress, bookmarks, notes, certificates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.users import LearnerRow

PROGRESS_STATUSES = ("in_progress", "completed")


def _progress_checks() -> tuple[CheckConstraint, ...]:
    """A known status, and a completion date exactly when completed."""
    return (*choice_checks(status=PROGRESS_STATUSES),
            CheckConstraint("(status = 'completed' AND completed_at IS NOT NULL) "
                            "OR (status <> 'completed' AND completed_at IS NULL)",
                            name="completed_has_date"))


class Enrollment(LearnerRow, Base):
    __tablename__ = "enrollment"
    __table_args__ = (
        LearnerRow.one_per("enrollment", "course"),
        Index("ix_enrollment_user_activity", "user_id", "last_activity_at"),
        # A course's roster and its weekly figures: by enrollment date, by last activity.
        Index("ix_enrollment_course_created", "course_id", "created_at"),
        Index("ix_enrollment_course_activity", "course_id", "last_activity_at"),
    )

    course_id: Mapped[int] = fk_id("course", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Where "Resume" lands.
    last_lesson_id: Mapped[int | None] = fk_id("lesson", ondelete="SET NULL")
    last_section_id: Mapped[int | None] = fk_id("section", ondelete="SET NULL")
    completed_at: Mapped[datetime | None] = mapped_column(default=None)

    course = relationship("Course")


class _ProgressRow(LearnerRow):
    """A learner's progress through one unit of a course (a section or a lesson).

    ``course_id`` is denormalized so a course's progress is one indexed count.
    """

    course_id: Mapped[int] = fk_id("course")
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @staticmethod
    def table_args(table: str, unit: str, listed_by: str) -> tuple[object, ...]:
        """One row per learner and unit, the status checks, and the index that lists a
        learner's rows by the unit's parent."""
        return (LearnerRow.one_per(table, unit),
                *_progress_checks(),
                Index(f"ix_{table}_user_{listed_by}", "user_id", f"{listed_by}_id"),
                # A course's funnel: how many reached and completed each unit.
                Index(f"ix_{table}_course_{unit}", "course_id", f"{unit}_id", "completed_at"))


class SectionProgress(_ProgressRow, Base):
    __tablename__ = "section_progress"
    __table_args__ = _ProgressRow.table_args("section_progress", "section", "lesson")

    section_id: Mapped[int] = fk_id("section", index=True)
    # Denormalized so a lesson's progress is one indexed count.
    lesson_id: Mapped[int] = fk_id("lesson")
    status: Mapped[str] = mapped_column(String(16), default="completed")


class LessonProgress(_ProgressRow, Base):
    __tablename__ = "lesson_progress"
    __table_args__ = _ProgressRow.table_args("lesson_progress", "lesson", "course")

    lesson_id: Mapped[int] = fk_id("lesson", index=True)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    last_section_id: Mapped[int | None] = fk_id("section", ondelete="SET NULL")


class Bookmark(LearnerRow, Base):
    __tablename__ = "bookmark"
    __table_args__ = (
        LearnerRow.one_per("bookmark", "lesson"),
        Index("ix_bookmark_user_created", "user_id", "created_at"),
    )

    lesson_id: Mapped[int] = fk_id("lesson", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    lesson = relationship("Lesson")


class Note(LearnerRow, Base):
    """A learner's private Markdown note on a lesson, stored with its sanitized HTML."""

    __tablename__ = "note"
    __table_args__ = (LearnerRow.one_per("note", "lesson"),)

    lesson_id: Mapped[int] = fk_id("lesson", index=True)
    source: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str] = mapped_column(Text, default="")
    renderer_version: Mapped[str] = mapped_column(String(32), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}


class Certificate(LearnerRow, Base):
    __tablename__ = "certificate"
    __table_args__ = (
        LearnerRow.one_per("certificate", "course"),
    )

    course_id: Mapped[int] = fk_id("course", index=True)
    # Unguessable: the public verification URL is /certificates/<code>.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    # Frozen at issue time so the certificate still reads true after renames.
    learner_name: Mapped[str] = mapped_column(String(80))
    course_title: Mapped[str] = mapped_column(String(160))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

    course = relationship("Course")
