"""Courses and their content: tags, prerequisites, modules, lessons, sections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, choice_checks, fk_id, utcnow

COURSE_STATUSES = ("draft", "published", "archived")
LEVELS = ("beginner", "intermediate", "advanced")


class AIProvenance:
    """Which provider, model and prompt wrote the content, and when (None when a
    person wrote it). These columns come after the table's own."""

    ai_provider: Mapped[str | None] = mapped_column(String(40), default=None)
    ai_model: Mapped[str | None] = mapped_column(String(120), default=None)
    ai_prompt_version: Mapped[str | None] = mapped_column(String(40), default=None)
    ai_generated_at: Mapped[datetime | None] = mapped_column(default=None)


class Tag(Base):
    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(40))


class CourseTag(Base):
    __tablename__ = "course_tag"

    course_id: Mapped[int] = fk_id("course", primary_key=True)
    tag_id: Mapped[int] = fk_id("tag", primary_key=True, index=True)


class CoursePrerequisite(Base):
    """``course`` recommends finishing ``prerequisite`` first."""

    __tablename__ = "course_prerequisite"
    __table_args__ = (CheckConstraint("course_id <> prerequisite_id", name="not_self"),)

    course_id: Mapped[int] = fk_id("course", primary_key=True)
    prerequisite_id: Mapped[int] = fk_id("course", primary_key=True, index=True)


class Course(AIProvenance, Base):
    __tablename__ = "course"
    __table_args__ = (
        *choice_checks(status=COURSE_STATUSES, level=LEVELS),
        CheckConstraint("estimated_minutes >= 0", name="estimated_minutes_positive"),
        CheckConstraint(
            "status <> 'published' OR published_at IS NOT NULL", name="published_has_date"
        ),
        # The catalog lists published courses by (published_at, id) with keyset pagination.
        Index("ix_course_status_published", "status", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(160))
    summary: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    level: Mapped[str] = mapped_column(String(16), default="beginner")
    estimated_minutes: Mapped[int] = mapped_column(Integer, default=0)
    owner_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    # The metadata and outline version an edit form started from. Bumped by the
    # authoring services (a compare-and-set UPDATE), not on every row update, so
    # a learner-facing change such as an estimate refresh is never a conflict.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(default=None)

    modules: Mapped[list[Module]] = relationship(
        back_populates="course", order_by="Module.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    tags: Mapped[list[Tag]] = relationship(secondary="course_tag", order_by="Tag.name")
    prerequisites: Mapped[list[Course]] = relationship(
        secondary="course_prerequisite",
        primaryjoin="Course.id == CoursePrerequisite.course_id",
        secondaryjoin="Course.id == CoursePrerequisite.prerequisite_id",
        order_by="Course.title",
    )


class Module(Base):
    __tablename__ = "module"
    __table_args__ = (Index("ix_module_course_position", "course_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = fk_id("course")
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(160))

    course: Mapped[Course] = relationship(back_populates="modules")
    lessons: Mapped[list[Lesson]] = relationship(
        back_populates="module", order_by="Lesson.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )


class Lesson(AIProvenance, Base):
    __tablename__ = "lesson"
    __table_args__ = (
        UniqueConstraint("course_id", "slug", name="uq_lesson_course_slug"),
        Index("ix_lesson_module_position", "module_id", "position"),
        CheckConstraint("estimated_minutes >= 0", name="estimated_minutes_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Denormalized from the module so that slugs are unique per course in the database.
    course_id: Mapped[int] = fk_id("course")
    module_id: Mapped[int] = fk_id("module")
    # Global order within the course (module order, then lesson order), kept by services.
    position: Mapped[int] = mapped_column(Integer)
    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(160))
    source: Mapped[str] = mapped_column(Text, default="")
    # The rendered, sanitized HTML is cached per step in ``Section.html``, made
    # at save time; ``renderer_version`` names the renderer and sanitizer policy
    # that made it, so ``tangent content rerender`` knows what to rebuild.
    renderer_version: Mapped[str] = mapped_column(String(32), default="")
    estimated_minutes: Mapped[int] = mapped_column(Integer, default=5)
    # The content version (title + source): each save bumps it with a
    # compare-and-set UPDATE and records a ``LessonRevision`` holding the delta.
    # Outline moves do not bump it, so reordering never conflicts with an edit.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    module: Mapped[Module] = relationship(back_populates="lessons")
    course: Mapped[Course] = relationship()
    sections: Mapped[list[Section]] = relationship(
        back_populates="lesson", order_by="Section.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )


class Section(Base):
    """One step of a lesson, derived from its headings.

    ``key`` comes from the heading text, so re-rendering unchanged text keeps the
    same rows (and the learners' progress on them).
    """

    __tablename__ = "section"
    __table_args__ = (UniqueConstraint("lesson_id", "key", name="uq_section_lesson_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lesson_id: Mapped[int] = fk_id("lesson")
    key: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    html: Mapped[str] = mapped_column(Text, default="")

    lesson: Mapped[Lesson] = relationship(back_populates="sections")
