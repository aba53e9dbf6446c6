"""A member's public profile, as other signed-in members see it: their public name, since
when they are a member and how many posts they have (visible questions, answers and channel
messages). Closed, suspended and banned accounts have no profile."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ChannelMessage, QaAnswer, QaQuestion, User
from webapp.services.exceptions import NotFound


@dataclass(frozen=True)
class Profile:
    user_id: int
    display_name: str
    member_since: datetime
    posts: int
    # The viewer is looking at their own profile.
    own: bool


def public_profile(viewer: User | None, user_id: int) -> Profile:
    """The profile of the active account ``user_id`` for the signed-in ``viewer``;
    ``NotFound`` for anyone else, and for a closed, suspended or banned account."""
    if viewer is None or not getattr(viewer, "is_authenticated", False) \
            or not viewer.is_active:
        raise NotFound("There is no such profile.")
    person = db.session.get(User, user_id)
    if person is None or person.status != "active":
        raise NotFound("There is no such profile.")
    posts = sum(db.session.scalar(select(func.count()).select_from(model).where(
        model.author_id == person.id, model.status == "visible")) or 0
        for model in (QaQuestion, QaAnswer, ChannelMessage))
    return Profile(user_id=person.id, display_name=person.display_name,
                   member_since=person.created_at, posts=posts, own=person.id == viewer.id)
