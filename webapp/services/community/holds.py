"""Posts held for a moderator before anyone sees them: a newcomer's question, answer or
channel message with a link (rule "hold_links_from_newcomers", ``rules.hold_links``) is
saved hidden and put in the moderation queue as *held*; a moderator approves (shows) or
rejects it from the queue. Its author sees it, marked as waiting."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import ModerationItem
from webapp.services.moderation import queue


def hold_post(kind: str, post, *, course_id: int | None) -> None:
    """Queue the just-written ``post`` (already hidden and flushed) as held, with the
    rule's automatic action on record. Flushes."""
    item = queue.enqueue(kind, post.id, source="held", course_id=course_id,
                         author_id=post.author_id, hidden=True)
    queue.record_action("hide", moderator=None, target_kind=kind, target_id=post.id,
                        subject_id=post.author_id, course_id=course_id, item=item,
                        reason="other",
                        note="Held for review: a new member's post with a link.")


def waiting(kind: str, ids: list[int]) -> set[int]:
    """Which of the ``kind`` items ``ids`` are held and still wait for a moderator (one
    query on the queue's unique (kind, id) index; none for an empty list)."""
    if not ids:
        return set()
    return set(db.session.scalars(select(ModerationItem.target_id).where(
        ModerationItem.target_kind == kind, ModerationItem.target_id.in_(ids),
        ModerationItem.source == "held", ModerationItem.status == "open")))
