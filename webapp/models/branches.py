"""Branch lessons ("go deeper"): a lesson generated on a learner's subtopic, attached to
the lesson it grew from, with who asked for it and who has finished it.

One branch per (parent lesson, normalized topic): a second learner asking the same
question shares the first one's branch (and its job). A branch is visible to the
learners who asked for it (``BranchRequest``) until an editor promotes it to the
whole course.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.courses import AIProvenance, Lesson

# "held": a newcomer's request waits for a moderator before anything is generated.
BRANCH_STATUSES = ("pending", "ready", "failed", "held")
# requesters: those who asked; course: every learner (promoted by an editor);
# hidden: nobody but the course's editors (off-topic or unusable).
BRANCH_VISIBILITIES = ("requesters", "course", "hidden")


class Branch(AIProvenance, Base):
    __tablename__ = "branch"
    __table_args__ = (
        *choice_checks(status=BRANCH_STATUSES, visibility=BRANCH_VISIBILITIES),
        CheckConstraint("status <> 'ready' OR ai_generated_at IS NOT NULL",
                        name="ready_has_date"),
        CheckConstraint("visibility <> 'course' OR promoted_at IS NOT NULL",
                        name="promoted_has_date"),
        UniqueConstraint("parent_lesson_id", "topic_key", name="uq_branch_parent_topic"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_lesson_id: Mapped[int] = fk_id("lesson")
    # Denormalized from the parent lesson, for per-course budgets and editor checks.
    course_id: Mapped[int] = fk_id("course", index=True)
    topic: Mapped[str] = mapped_column(String(120))  # as the first learner typed it
    topic_key: Mapped[str] = mapped_column(String(120))  # jobs.normalize_topic(topic)
    # "pending" until its job stores the text; a pending branch whose job failed or was
    # cancelled counts as failed (see webapp.services.branches.branch_state).
    status: Mapped[str] = mapped_column(String(16), default="pending")
    title: Mapped[str] = mapped_column(String(160), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    # Rendered and sanitized once, when generated (sections joined); reads never render.
    html: Mapped[str] = mapped_column(Text, default="")
    renderer_version: Mapped[str] = mapped_column(String(32), default="")
    visibility: Mapped[str] = mapped_column(String(16), default="requesters")
    promoted_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", index=True)
    promoted_at: Mapped[datetime | None] = mapped_column(default=None)
    job_id: Mapped[int | None] = fk_id("generation_job", ondelete="SET NULL", index=True)
    # After the AI provenance columns (sort_order), where they have always been.
    created_at: Mapped[datetime] = mapped_column(default=utcnow, sort_order=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, sort_order=1)

    parent_lesson: Mapped[Lesson] = relationship()


class BranchRequest(Base):
    """A learner asked for this branch: they may see it while it is not promoted."""

    __tablename__ = "branch_request"

    branch_id: Mapped[int] = fk_id("branch", primary_key=True)
    user_id: Mapped[int] = fk_id("user", primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BranchProgress(Base):
    """A learner finished reading a branch (its own progress, apart from the course's)."""

    __tablename__ = "branch_progress"

    branch_id: Mapped[int] = fk_id("branch", primary_key=True)
    user_id: Mapped[int] = fk_id("user", primary_key=True, index=True)
    completed_at: Mapped[datetime] = mapped_column(default=utcnow)
