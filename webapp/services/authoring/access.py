"""Who may edit a course, and loading what an editor works on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Course, CourseEditor, Lesson, Module, User
from webapp.services.authoring.checks import PAGE_SIZE
from webapp.services.exceptions import NotFound, PermissionDenied
from webapp.services.paging import split_page


def can_edit(actor: User | None, course: Course) -> bool:
    """Admins, the owner and invited co-editors (who must still hold an editor role)."""
    if actor is None or not actor.is_active or not actor.is_editor:
        return False
    if actor.is_admin or course.owner_id == actor.id:
        return True
    return db.session.get(CourseEditor, (course.id, actor.id)) is not None


def require_editor(actor: User | None, course: Course) -> None:
    if not can_edit(actor, course):
        raise PermissionDenied("You are not an editor of this course.")


def can_manage(actor: User | None, course: Course) -> bool:
    """Owner or admin: may invite and remove co-editors."""
    return can_edit(actor, course) and (actor.is_admin or course.owner_id == actor.id)


def get_course_for_edit(actor: User, course_id: int) -> Course:
    """A course the actor may edit, with its outline (modules → lessons) loaded."""
    course = db.session.scalar(
        select(Course).where(Course.id == course_id).options(
            selectinload(Course.modules).selectinload(Module.lessons),
            selectinload(Course.tags),
        )
    )
    if course is None:
        raise NotFound("There is no such course.")
    require_editor(actor, course)
    return course


def get_lesson_for_edit(actor: User, lesson_id: int) -> Lesson:
    return _get_for_edit(actor, Lesson, lesson_id, "lesson")


def get_module_for_edit(actor: User, module_id: int) -> Module:
    return _get_for_edit(actor, Module, module_id, "module")


def _get_for_edit(actor: User, model: type[Lesson] | type[Module], row_id: int, what: str):
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(f"There is no such {what}.")
    require_editor(actor, row.course)
    return row


@dataclass(frozen=True)
class CoursePage:
    courses: Sequence[Course]
    next_cursor: int | None


def editable_courses(actor: User, after: int | None = None,
                     page_size: int = PAGE_SIZE) -> CoursePage:
    """The courses the actor owns or co-edits (all, for an admin), newest first."""
    stmt = select(Course).order_by(Course.id.desc()).limit(page_size + 1)
    if not actor.is_admin:
        stmt = stmt.where(or_(
            Course.owner_id == actor.id,
            Course.id.in_(select(CourseEditor.course_id).where(CourseEditor.user_id == actor.id)),
        ))
    if after is not None:
        stmt = stmt.where(Course.id < after)
    rows, last = split_page(db.session.scalars(stmt).all(), page_size)
    return CoursePage(rows, last.id if last else None)
