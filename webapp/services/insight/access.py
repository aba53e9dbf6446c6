"""Who sees a course's insight pages: its editors (owner and co-editors) and admins.
Anyone else — another editor included — gets "not found", as if the course had no such
pages: the names and results of a course's learners are its teachers' business only."""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import Course, User
from webapp.services.authoring.access import can_edit
from webapp.services.exceptions import NotFound


def course_for(user: User | None, course_id: int) -> Course:
    """The course ``course_id`` when ``user`` may see its insight; ``NotFound`` otherwise."""
    course = db.session.get(Course, course_id)
    if course is None or not can_edit(user, course):
        raise NotFound("There is no such course.")
    return course
