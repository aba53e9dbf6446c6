"""Who takes part in a course's community.

Members of a course's community: learners enrolled in it (while it is published), its
editors (owner and co-editors) and admins. Staff: its editors and admins; their answers
are marked as staff, they post announcements and course events, and they moderate their
own course's community (hide, restore) until the moderation issue adds site moderators.
The general channel and site events are open to every active, signed-in user.
"""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Course, CourseEditor, Enrollment, User
from webapp.services.authoring.access import can_edit
from webapp.services.exceptions import NotFound, PermissionDenied


def is_staff(user: User | None, course: Course) -> bool:
    return can_edit(user, course)


def is_member(user: User | None, course: Course) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if is_staff(user, course):
        return True
    if course.status != "published":
        return False
    return db.session.scalar(select(Enrollment.id).where(
        Enrollment.user_id == user.id, Enrollment.course_id == course.id)) is not None


def can_read(user: User | None, course: Course) -> bool:
    """Questions and answers of a published course are readable by anyone signed in (a
    learner deciding whether to enroll sees them); everything else needs membership."""
    if course.status == "published" and user is not None and user.is_authenticated:
        return True
    return is_member(user, course)


def get_course(course_id: int) -> Course:
    course = db.session.get(Course, course_id)
    if course is None:
        raise NotFound("There is no such course.")
    return course


def require_member(user: User | None, course: Course) -> None:
    if not is_member(user, course):
        if course.status != "published" and not is_staff(user, course):
            raise NotFound("There is no such course.")
        raise PermissionDenied(
            "Enroll in this course to take part in its questions and discussions.")


def require_staff(user: User | None, course: Course) -> None:
    if not is_staff(user, course):
        raise PermissionDenied("Only the course's teachers can do this.")


def member_ids(course: Course) -> list[int]:
    """Everyone in the course's community: enrolled learners, editors, admins (active)."""
    enrolled = select(Enrollment.user_id).where(Enrollment.course_id == course.id)
    editors = select(CourseEditor.user_id).where(CourseEditor.course_id == course.id)
    rows = db.session.scalars(select(User.id).where(
        User.status == "active",
        (User.id.in_(enrolled)) | (User.id.in_(editors)) | (User.role == "admin")
        | (User.id == course.owner_id))).all()
    return list(rows)
