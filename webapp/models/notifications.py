"""What a user wants to hear about, and how: one row per kind they changed from its default."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, utcnow
from webapp.models.users import LearnerRow

# What happened (the community, events, branches and drafts send these).
NOTIFICATION_KINDS = (
    "question_answered",
    "answer_accepted",
    "mention",
    "thread_reply",
    "announcement",
    "event_update",
    "waitlist_promoted",
    "branch_ready",
    "draft_finished",
    # A moderator acted on the reader's post or account, or decided their appeal.
    "moderation",
)
# How: on the site, an email at once, a daily digest email, or not at all.
NOTIFICATION_CHANNELS = ("in_app", "email", "digest", "off")


class NotificationPreference(LearnerRow, Base):
    """A user's choice of channel for one kind. No row: the kind's default
    (``webapp.services.notification_prefs.DEFAULTS``)."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        UniqueConstraint("user_id", "kind", name="uq_notification_preference_user_kind"),
        *choice_checks(kind=NOTIFICATION_KINDS, channel=NOTIFICATION_CHANNELS),
    )

    kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
