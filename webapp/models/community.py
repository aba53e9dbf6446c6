"""The community around each course: questions and answers, channels and their messages,
announcements, events, notifications and flags.

Every piece of user-written text is stored twice: the Markdown the author typed
(``body``) and the sanitized HTML made from it (``body_html``, by the one sanitizer
module, recorded with ``html_policy`` so ``tangent content rerender`` can rebuild it).
Nothing here is deleted by a user: ``status`` goes to "deleted" (restorable by a
moderator) or "hidden" (by flags, pending review).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.notifications import NOTIFICATION_KINDS
from webapp.models.users import LearnerRow

# What a post can be: shown, hidden by flags until a moderator looks, or deleted (soft).
POST_STATUSES = ("visible", "hidden", "deleted")
# What a flag can point at (``Flag.target_kind``); the moderation queue reads them all.
# "branch": a branch lesson (also a held branch request); "profile": a user's public name.
FLAG_TARGETS = ("question", "answer", "message", "event", "lesson", "announcement", "branch",
                "profile")
FLAG_REASONS = ("spam", "abuse", "off_topic", "wrong", "other")
FLAG_STATUSES = ("open", "dismissed", "upheld")
RSVP_STATUSES = ("going", "waitlisted", "not_going")
EVENT_STATUSES = ("scheduled", "cancelled")
# How a notification reached (or will reach) its reader beyond the site.
DELIVERIES = ("in_app", "email", "digest")
TITLE_MAX = 200
SECTION_KEY_MAX = 120


def _partial(condition: str) -> dict[str, object]:
    """A partial index's WHERE clause for both backends."""
    return {"sqlite_where": text(condition), "postgresql_where": text(condition)}


class _Post:
    """What every piece of community writing has: an author, the Markdown and its HTML,
    a status, and when it was written and last edited."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-3)
    author_id: Mapped[int] = fk_id("user", index=True, sort_order=-1)
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    html_policy: Mapped[str] = mapped_column(String(16), default="")
    status: Mapped[str] = mapped_column(String(16), default="visible")
    flag_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None] = mapped_column(default=None)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class QaQuestion(_Post, Base):
    """A question on a course, optionally about one lesson or one of its sections."""

    __tablename__ = "qa_question"
    __table_args__ = (
        *choice_checks(status=POST_STATUSES),
        Index("ix_qa_question_course_newest", "course_id", "id"),
        Index("ix_qa_question_course_score", "course_id", "score", "id"),
        Index("ix_qa_question_lesson", "lesson_id", "id"),
    )

    course_id: Mapped[int] = fk_id("course", sort_order=-2)
    lesson_id: Mapped[int | None] = fk_id("lesson", ondelete="SET NULL", nullable=True)
    # The section's stable key (``Section.key``); kept as text so re-rendering a lesson
    # never breaks the link.
    section_key: Mapped[str | None] = mapped_column(String(SECTION_KEY_MAX), default=None)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    # Lower-cased title and body for search (``LIKE``) and "similar questions".
    search_text: Mapped[str] = mapped_column(Text, default="")
    # Sum of the votes, kept in the transaction that changes a vote.
    score: Mapped[int] = mapped_column(Integer, default=0)
    answer_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_answer_id: Mapped[int | None] = mapped_column(Integer, default=None)
    last_activity_at: Mapped[datetime] = mapped_column(default=utcnow)


class QaAnswer(_Post, Base):
    __tablename__ = "qa_answer"
    __table_args__ = (
        *choice_checks(status=POST_STATUSES),
        Index("ix_qa_answer_question", "question_id", "id"),
        # At most one accepted answer per question.
        Index("uq_qa_answer_accepted", "question_id", unique=True,
              **_partial("accepted")),
    )

    question_id: Mapped[int] = fk_id("qa_question", sort_order=-2)
    score: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)


class QaVote(LearnerRow, Base):
    """One person's vote (+1 or -1) on one question or one answer."""

    __tablename__ = "qa_vote"
    __table_args__ = (
        UniqueConstraint("user_id", "question_id", name="uq_qa_vote_user_question"),
        UniqueConstraint("user_id", "answer_id", name="uq_qa_vote_user_answer"),
        CheckConstraint("(question_id IS NULL) <> (answer_id IS NULL)", name="one_target"),
        CheckConstraint("value IN (-1, 1)", name="value"),
    )

    question_id: Mapped[int | None] = fk_id("qa_question", nullable=True, index=True)
    answer_id: Mapped[int | None] = fk_id("qa_answer", nullable=True, index=True)
    value: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostRevision(Base):
    """The text a question, answer or message held before an edit."""

    __tablename__ = "post_revision"
    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN question_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN answer_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN message_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int | None] = fk_id("qa_question", nullable=True, index=True)
    answer_id: Mapped[int | None] = fk_id("qa_answer", nullable=True, index=True)
    message_id: Mapped[int | None] = fk_id("channel_message", nullable=True, index=True)
    editor_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    title: Mapped[str | None] = mapped_column(String(TITLE_MAX), default=None)
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Channel(Base):
    """The site's general channel (no course) or one course's channel."""

    __tablename__ = "channel"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "general", or "course-<id>".
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    course_id: Mapped[int | None] = fk_id("course", nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelMessage(_Post, Base):
    """A message in a channel; a reply when it has a ``parent_id`` (the thread's first
    message). The channel lists messages without a parent, newest last, by id."""

    __tablename__ = "channel_message"
    __table_args__ = (
        *choice_checks(status=POST_STATUSES),
        Index("ix_channel_message_channel_top", "channel_id", "parent_id", "id"),
        Index("ix_channel_message_thread", "parent_id", "id"),
    )

    channel_id: Mapped[int] = fk_id("channel", sort_order=-2)
    parent_id: Mapped[int | None] = fk_id("channel_message", nullable=True)
    reply_count: Mapped[int] = mapped_column(Integer, default=0)
    last_reply_at: Mapped[datetime | None] = mapped_column(default=None)


class Announcement(_Post, Base):
    __tablename__ = "announcement"
    __table_args__ = (
        *choice_checks(status=POST_STATUSES),
        Index("ix_announcement_course", "course_id", "id"),
    )

    course_id: Mapped[int] = fk_id("course", sort_order=-2)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))


class Event(_Post, Base):
    """An event on a course or on the whole site (no course). Times are stored in UTC;
    ``time_zone`` is the zone the organiser gave them in."""

    __tablename__ = "event"
    __table_args__ = (
        *choice_checks(status=POST_STATUSES, state=EVENT_STATUSES),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity"),
        CheckConstraint("going_count >= 0", name="going_count"),
        Index("ix_event_starts", "starts_at", "id"),
        Index("ix_event_course_starts", "course_id", "starts_at"),
    )

    course_id: Mapped[int | None] = fk_id("course", nullable=True, sort_order=-2)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    place: Mapped[str] = mapped_column(String(200), default="")
    online_url: Mapped[str] = mapped_column(String(500), default="")
    # None: no limit.
    capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    # People going, kept in the transaction that changes an RSVP (the seat count that
    # a conditional UPDATE guards).
    going_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="scheduled")
    # Bumped on every change; the .ics SEQUENCE.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(default=None)


class EventRsvp(LearnerRow, Base):
    """One person's answer to one event. Waiting-list order is ``waitlisted_at``."""

    __tablename__ = "event_rsvp"
    __table_args__ = (
        LearnerRow.one_per("event_rsvp", "event"),
        *choice_checks(status=RSVP_STATUSES),
        Index("ix_event_rsvp_event_status", "event_id", "status", "waitlisted_at"),
    )

    event_id: Mapped[int] = fk_id("event")
    status: Mapped[str] = mapped_column(String(16))
    waitlisted_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CalendarFeed(LearnerRow, Base):
    """The secret of a user's calendar feed URL, stored hashed (sha256)."""

    __tablename__ = "calendar_feed"
    __table_args__ = (UniqueConstraint("user_id", name="uq_calendar_feed_user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(LearnerRow, Base):
    """Something a user should hear about. ``title`` is plain text (escaped when shown);
    ``url`` is a path on this site."""

    __tablename__ = "notification"
    __table_args__ = (
        *choice_checks(kind=NOTIFICATION_KINDS, delivery=DELIVERIES),
        Index("ix_notification_user_id_id", "user_id", "id"),
        Index("ix_notification_unread", "user_id", **_partial("read_at IS NULL")),
        Index("ix_notification_digest", "delivery", "digested_at"),
        Index("ix_notification_created", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
    course_id: Mapped[int | None] = fk_id("course", nullable=True)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(500), default="")
    delivery: Mapped[str] = mapped_column(String(16), default="in_app")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    # For delivery "digest": when it went out in a digest email.
    digested_at: Mapped[datetime | None] = mapped_column(default=None)


class Flag(Base):
    """One person's report of one item. ``target_kind``/``target_id`` name the item
    (question, answer, message, event, lesson, announcement); the moderation queue
    reads them all. One flag per person and item. Not a ``LearnerRow``: a report outlives
    its reporter's account (closing it leaves the flag under the pseudonym), so that
    moderators keep the evidence."""

    __tablename__ = "flag"
    __table_args__ = (
        UniqueConstraint("user_id", "target_kind", "target_id", name="uq_flag_user_target"),
        *choice_checks(target_kind=FLAG_TARGETS, reason=FLAG_REASONS, status=FLAG_STATUSES),
        Index("ix_flag_target", "target_kind", "target_id"),
        Index("ix_flag_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-2)
    user_id: Mapped[int] = fk_id("user", sort_order=-1)
    target_kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    course_id: Mapped[int | None] = fk_id("course", nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    resolved_by_id: Mapped[int | None] = fk_id("user", ondelete="SET NULL", nullable=True)
