"""Moderation: the queue of items that wait for a moderator, what moderators (and the
automatic rules) did, and the authors' appeals.

``ModerationItem`` is the queue: one row per item that was ever flagged, auto-hidden or
held (a question, answer, message, event, announcement, lesson, branch lesson, held
branch request, user profile) or appealed. Its counters and sort keys are kept in the
transaction that changes them (a flag, an action), so the queue pages are index range
reads, as fast 100,000 items deep as on the first page (``bench/moderation_queue.py``).

``ModerationAction`` is what happened, human or automatic: the transparency report counts
these (by type, reason, month) and never shows who. ``Appeal``: one per action.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.community import FLAG_TARGETS

# What a queue item points at: everything that can be flagged, plus appeals.
ITEM_KINDS = (*FLAG_TARGETS, "appeal")
# Why it is in the queue: people flagged it; a rule held it before anyone saw it
# (a newcomer's link, a newcomer's branch request); or its author appealed an action.
ITEM_SOURCES = ("flags", "held", "appeal")
ITEM_STATUSES = ("open", "closed")
# What a moderator (or a rule, with no moderator) did.
ACTION_KINDS = (
    # on content
    "dismiss", "hide", "restore", "delete", "edit", "approve", "reject",
    # on people
    "warn", "silence", "suspend", "ban", "delete_posts",
    # undoing an action on a person (lift a silence, reactivate)
    "lift",
    # an appeal decided
    "appeal_granted", "appeal_denied",
)
# The reasons a moderator chooses from (plus a note in their own words).
ACTION_REASONS = ("spam", "abuse", "harassment", "off_topic", "wrong", "personal_data",
                  "illegal", "repeated", "other")
APPEAL_STATUSES = ("open", "granted", "denied")


class ModerationItem(Base):
    """One item in the moderation queue (one row per target, reopened by new flags)."""

    __tablename__ = "moderation_item"
    __table_args__ = (
        UniqueConstraint("target_kind", "target_id", name="uq_moderation_item_target"),
        *choice_checks(target_kind=ITEM_KINDS, source=ITEM_SOURCES, status=ITEM_STATUSES),
        # The three orders of the queue, each a keyset over (status, key, id).
        Index("ix_moderation_item_newest", "status", "last_flagged_at", "id"),
        Index("ix_moderation_item_most", "status", "flag_count", "id"),
        Index("ix_moderation_item_oldest", "status", "waiting_since", "id"),
        Index("ix_moderation_item_kind", "status", "target_kind", "last_flagged_at", "id"),
        Index("ix_moderation_item_course", "status", "course_id", "last_flagged_at", "id"),
        Index("ix_moderation_item_author", "author_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    course_id: Mapped[int | None] = fk_id("course", ondelete="SET NULL", nullable=True)
    author_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    source: Mapped[str] = mapped_column(String(16), default="flags")
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Open flags on the item (0 for held items and appeals).
    flag_count: Mapped[int] = mapped_column(Integer, default=0)
    # The reasons of its open flags, each between commas (",spam,abuse,"): the reason
    # filter is a LIKE on the rows an index range already picked.
    reasons: Mapped[str] = mapped_column(String(120), default="")
    # The item was written by the AI (a generated lesson or a branch lesson).
    ai_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    # The item's content is hidden now (by flags, a rule or a moderator).
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Since when it waits (set again when a closed item is reopened).
    waiting_since: Mapped[datetime] = mapped_column(default=utcnow)
    last_flagged_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who is handling it; a claim older than the rule "claim_minutes" is free again.
    claimed_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    # The action that closed it ("dismiss", "hide" …), for the list.
    outcome: Mapped[str] = mapped_column(String(24), default="")


class ModerationAction(Base):
    """One moderation action on one item or one person, by a moderator or (``automated``)
    by a rule. Kept for the author's history, appeals and the transparency report."""

    __tablename__ = "moderation_action"
    __table_args__ = (
        *choice_checks(action=ACTION_KINDS, reason=ACTION_REASONS),
        Index("ix_moderation_action_subject", "subject_id", "id"),
        Index("ix_moderation_action_item", "item_id", "id"),
        Index("ix_moderation_action_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    item_id: Mapped[int | None] = fk_id("moderation_item", ondelete="SET NULL", nullable=True)
    # None: a rule acted (``automated``).
    moderator_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(24))
    # What it was done to: a content kind (see ``ITEM_KINDS``) or "user".
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int | None] = mapped_column(Integer, default=None)
    # The person it concerns (the author, or the user acted on).
    subject_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    course_id: Mapped[int | None] = fk_id("course", ondelete="SET NULL", nullable=True)
    reason: Mapped[str] = mapped_column(String(16), default="other")
    # The moderator's words, shown to the author.
    note: Mapped[str] = mapped_column(Text, default="")
    # A silence or suspension ends then (None: until lifted).
    until: Mapped[datetime | None] = mapped_column(default=None)
    # Seconds the item waited in the queue before this action (the report's median).
    waited_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    # Set when undone (by a moderator or a granted appeal).
    undone_at: Mapped[datetime | None] = mapped_column(default=None)
    undone_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    # The actions of one bulk submission share this key.
    batch: Mapped[str | None] = mapped_column(String(32), default=None)


class Appeal(Base):
    """The author's one appeal against one action, decided by another moderator."""

    __tablename__ = "appeal"
    __table_args__ = (
        UniqueConstraint("action_id", name="uq_appeal_action"),
        *choice_checks(status=APPEAL_STATUSES),
        Index("ix_appeal_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = fk_id("moderation_action")
    user_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True,
                                        index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    decided_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    # The deciding moderator's words, sent to the author.
    decision_note: Mapped[str] = mapped_column(Text, default="")
