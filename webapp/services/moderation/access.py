"""Who moderates what.

Moderators and admins moderate everything, people included. A course's editors (owner
and co-editors) moderate their own course's content — its questions, answers, channel
messages, events, announcements, lessons and branch lessons — but not people, profiles,
site-wide items or appeals. Every service function checks this itself; the pages under
``/moderation`` are for moderators and admins only (course editors work their course's
items from the course's editor pages).
"""

from __future__ import annotations

from webapp.extensions import db
from webapp.models import Course, ModerationItem, User
from webapp.services.authoring.access import can_edit
from webapp.services.exceptions import PermissionDenied

# Kinds that belong to a course and that its editors may moderate.
COURSE_KINDS = ("question", "answer", "message", "event", "announcement", "lesson", "branch")


def is_moderator(user: User | None) -> bool:
    """A site-wide moderator (or admin), active and signed in."""
    return bool(user is not None and getattr(user, "is_authenticated", False)
                and user.is_active and user.is_moderator)


def can_moderate_course(user: User | None, course_id: int | None) -> bool:
    """Whether ``user`` moderates the content of course ``course_id``."""
    if is_moderator(user):
        return True
    if course_id is None or user is None or not getattr(user, "is_authenticated", False) \
            or not user.is_active:
        return False
    course = db.session.get(Course, course_id)
    return course is not None and can_edit(user, course)


def can_act_on_item(user: User | None, item: ModerationItem) -> bool:
    """Content actions on ``item``: moderators always; a course's editors on their own
    course's content (never on profiles, appeals or site-wide items)."""
    if is_moderator(user):
        return True
    return item.target_kind in COURSE_KINDS and item.course_id is not None \
        and can_moderate_course(user, item.course_id)


def require_moderator(user: User | None) -> None:
    if not is_moderator(user):
        raise PermissionDenied("Only moderators can do this.")


def require_item_access(user: User | None, item: ModerationItem) -> None:
    if not can_act_on_item(user, item):
        raise PermissionDenied("Only moderators and the course's editors can do this.")
