"""Co-editors: the owner or an admin invites other editors to a course, or removes them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Course, CourseEditor, User
from webapp.services.audit import record_audit
from webapp.services.authoring.access import can_manage
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed

NOT_AN_EDITOR = ("No active editor account has that address. Co-editors must already be "
                 "editors: an admin can give an account the editor role.")


def co_editors(course: Course) -> Sequence[CourseEditor]:
    return db.session.scalars(
        select(CourseEditor).where(CourseEditor.course_id == course.id)
        .options(selectinload(CourseEditor.user)).order_by(CourseEditor.added_at)
    ).all()


def invite_editor(actor: User, course: Course, email: str) -> CourseEditor:
    """Add an existing editor (or admin) account as co-editor; owner or admin only."""
    if not can_manage(actor, course):
        raise PermissionDenied("Only the course owner or an admin can invite co-editors.")
    email = (email or "").strip().lower()
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is not None and user.id == course.owner_id:
        raise ValidationFailed("That is the course owner.", field="email")
    # One answer for "no account", "a learner's account" and "an inactive account": the
    # form must not tell an editor which addresses belong to learners.
    if user is None or not user.is_editor or user.status != "active":
        raise ValidationFailed(NOT_AN_EDITOR, field="email")
    if db.session.get(CourseEditor, (course.id, user.id)) is not None:
        raise Conflict(f"{user.email} is already a co-editor.", field="email")
    entry = CourseEditor(course_id=course.id, user_id=user.id, added_by_id=actor.id)
    db.session.add(entry)
    db.session.flush()
    record_audit(actor, "course.editor_add", "course", course.id, {"editor": [None, user.email]})
    return entry


def remove_editor(actor: User, course: Course, user_id: int) -> None:
    if not can_manage(actor, course):
        raise PermissionDenied("Only the course owner or an admin can remove co-editors.")
    entry = db.session.get(CourseEditor, (course.id, user_id))
    if entry is None:
        raise NotFound("That person is not a co-editor of this course.")
    email = entry.user.email
    db.session.execute(delete(CourseEditor).where(CourseEditor.course_id == course.id,
                                                  CourseEditor.user_id == user_id))
    record_audit(actor, "course.editor_remove", "course", course.id, {"editor": [email, None]})
    db.session.flush()
