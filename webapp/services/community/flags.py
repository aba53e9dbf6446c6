"""Flags: anyone signed in reports a question, answer, message, event, announcement, lesson,
branch lesson or profile to the moderators, with a reason and an optional note.

One flag per person and item (a unique constraint; a second one is refused with a clear
message). Flagging an item counts it on the item (``flag_count``) in the same transaction;
at the rule "flag_hide_threshold" a post's status becomes "hidden" until a moderator looks
(the moderation queue reads open flags, ``Flag.status == "open"``). Lessons are never
hidden by flags: a course's learners would lose their lesson; they wait for review. So do
branch lessons (marked AI-generated in the queue) and profiles (a person's public name).

A person can flag only what they can see: anything else does not exist for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import (
    Announcement,
    Channel,
    ChannelMessage,
    Course,
    Event,
    Flag,
    Lesson,
    ModerationItem,
    QaAnswer,
    QaQuestion,
    User,
)
from webapp.models.community import FLAG_REASONS, FLAG_TARGETS
from webapp.services import branches
from webapp.services.audit import record_audit
from webapp.services.community import access, rules
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed
from webapp.services.moderation import queue

# The words a person reads for each reason, in the order the form lists them.
REASON_LABELS = {
    "spam": "Spam or advertising",
    "abuse": "Rude, hateful or abusive",
    "off_topic": "Off topic",
    "wrong": "Wrong or misleading",
    "other": "Something else (say what in the note)",
}
KIND_LABELS = {
    "question": "question",
    "answer": "answer",
    "message": "message",
    "event": "event",
    "announcement": "announcement",
    "lesson": "lesson",
    "branch": "branch lesson",
    "profile": "profile",
}
NOTE_MAX = 500
EXCERPT_MAX = 160
assert tuple(REASON_LABELS) == FLAG_REASONS and set(KIND_LABELS) == set(FLAG_TARGETS)
_MODELS = {"question": QaQuestion, "answer": QaAnswer, "message": ChannelMessage,
           "event": Event, "announcement": Announcement}
# Flagged for review only: never hidden by a number of flags.
REVIEW_ONLY = ("lesson", "branch", "profile")


@dataclass(frozen=True)
class Target:
    """A flaggable item as the flag page shows it."""

    kind: str
    id: int
    course_id: int | None
    label: str  # its title, or the start of its text
    author_id: int | None
    row: object


@dataclass(frozen=True)
class FlagResult:
    flag: Flag
    # The item became hidden with this flag.
    hidden: bool
    # Flags on lessons are queued for review, never hide the lesson.
    kept_for_review: bool


def _excerpt(text: str) -> str:
    words = " ".join((text or "").split())
    return words if len(words) <= EXCERPT_MAX else words[:EXCERPT_MAX - 1].rstrip() + "…"


def _course(course_id: int | None) -> Course | None:
    return db.session.get(Course, course_id) if course_id is not None else None


def _visible(user: User, kind: str, row) -> tuple[bool, int | None]:
    """Whether ``user`` sees the item, and the course it belongs to."""
    if kind == "lesson":
        course = _course(row.course_id)
        return (course is not None and (course.status == "published"
                                        or access.is_staff(user, course))), row.course_id
    if row.status != "visible":
        return False, None
    if kind == "question":
        course = _course(row.course_id)
        return course is not None and access.can_read(user, course), row.course_id
    if kind == "answer":
        question = db.session.get(QaQuestion, row.question_id)
        if question is None or question.status != "visible":
            return False, None
        course = _course(question.course_id)
        return course is not None and access.can_read(user, course), question.course_id
    if kind == "message":
        channel = db.session.get(Channel, row.channel_id)
        if channel is None:
            return False, None
        if channel.course_id is None:
            return True, None
        course = _course(channel.course_id)
        return course is not None and access.is_member(user, course), channel.course_id
    # Events and announcements: a site event is for everyone; a course's for its members.
    if getattr(row, "course_id", None) is None:
        return True, None
    course = _course(row.course_id)
    return course is not None and access.is_member(user, course), row.course_id


def _review_target(user: User, kind: str, target_id: int) -> Target:
    """A branch lesson its reader may see (written, not hidden) or an active account's
    profile; ``NotFound`` otherwise."""
    if kind == "branch":
        try:
            item = branches.get_branch_for(user, target_id)
        except NotFound:
            raise NotFound("There is no such branch lesson.") from None
        if item.state != "ready":
            raise NotFound("There is no such branch lesson.")
        branch = item.branch
        return Target(kind=kind, id=branch.id, course_id=branch.course_id,
                      label=branch.title or branch.topic, author_id=None, row=branch)
    person = db.session.get(User, target_id)
    if person is None or person.status != "active":
        raise NotFound("There is no such profile.")
    return Target(kind=kind, id=person.id, course_id=None, label=person.display_name,
                  author_id=person.id, row=person)


def get_target(user: User, kind: str, target_id: int) -> Target:
    """The item ``kind``/``target_id`` when ``user`` may see it; ``NotFound`` otherwise
    (an unknown kind, a missing, hidden or deleted item, or one outside their courses)."""
    if kind not in KIND_LABELS or (kind not in REVIEW_ONLY and kind not in _MODELS):
        raise NotFound("There is nothing to flag at this address.")
    if user is None or not user.is_active:
        raise NotFound(f"There is no such {KIND_LABELS[kind]}.")
    if kind in ("branch", "profile"):
        return _review_target(user, kind, target_id)
    model = Lesson if kind == "lesson" else _MODELS[kind]
    row = db.session.get(model, target_id)
    if row is None or user is None or not user.is_active:
        raise NotFound(f"There is no such {KIND_LABELS[kind]}.")
    visible, course_id = _visible(user, kind, row)
    if not visible:
        raise NotFound(f"There is no such {KIND_LABELS[kind]}.")
    title = getattr(row, "title", None)
    label = title if title else _excerpt(getattr(row, "body", ""))
    return Target(kind=kind, id=row.id, course_id=course_id, label=label,
                  author_id=getattr(row, "author_id", None), row=row)


def existing_flag(user: User, target: Target) -> Flag | None:
    return db.session.scalar(select(Flag).where(
        Flag.user_id == user.id, Flag.target_kind == target.kind,
        Flag.target_id == target.id))


def _already(target: Target) -> Conflict:
    return Conflict(f"You have already flagged this {KIND_LABELS[target.kind]}; the "
                    "moderators will look at it.")


def flag_item(user: User, kind: str, target_id: int, reason: str,
              note: str | None = "") -> FlagResult:
    """Record ``user``'s flag on the item, count it on the item and hide the item when it
    reaches the threshold, in the caller's transaction. Refused (``Conflict``) when they
    flagged it already, (``ValidationFailed``) for an unknown reason, a too-long note or
    their own post; ``NotFound`` for what they cannot see."""
    target = get_target(user, kind, target_id)
    if reason not in REASON_LABELS:
        raise ValidationFailed("Choose a reason from the list.", field="reason")
    note = rules.clean_text(note, field="note", label="Note", max_length=NOTE_MAX,
                            min_length=0)
    if reason == "other" and not note:
        raise ValidationFailed("Say in the note what is wrong.", field="note")
    if target.author_id is not None and target.author_id == user.id:
        raise ValidationFailed(
            "This is your own profile: change it on your account page instead."
            if kind == "profile" else
            f"This is your own {KIND_LABELS[kind]}: edit or delete it instead.",
            field="reason")
    if existing_flag(user, target) is not None:
        raise _already(target)
    flag = Flag(user_id=user.id, target_kind=kind, target_id=target.id,
                course_id=target.course_id, reason=reason, note=note, status="open")
    try:
        # Two submissions at once: the unique constraint lets one in.
        with db.session.begin_nested():
            db.session.add(flag)
    except IntegrityError:
        raise _already(target) from None
    if kind in REVIEW_ONLY:
        queue.enqueue(kind, target.id, source="flags", course_id=target.course_id,
                      author_id=target.author_id, reason=reason,
                      ai_generated=kind == "branch"
                      or getattr(target.row, "ai_generated_at", None) is not None)
        return FlagResult(flag=flag, hidden=False, kept_for_review=True)
    model = _MODELS[kind]
    db.session.execute(
        update(model).where(model.id == target.id)
        .values(flag_count=model.flag_count + 1)
        .execution_options(synchronize_session=False))
    # The threshold counts the flags still open (the queue item's count): after a
    # moderator dismissed flags and restored the item, it takes N new ones to hide it again.
    item = queue.enqueue(kind, target.id, source="flags", course_id=target.course_id,
                         author_id=target.author_id, reason=reason)
    count = item.flag_count
    hidden = False
    if count >= rules.value("flag_hide_threshold"):
        hidden = bool(db.session.execute(
            update(model).where(model.id == target.id, model.status == "visible")
            .values(status="hidden")
            .execution_options(synchronize_session=False)).rowcount)
    if hidden:
        queue.set_hidden(item, True)
        record_audit(None, "community.hide_by_flags", kind, target.id,
                     {"status": ["visible", "hidden"], "flag_count": [None, count]})
        queue.record_action("hide", moderator=None, target_kind=kind, target_id=target.id,
                            subject_id=target.author_id, course_id=target.course_id,
                            item=item, reason=reason,
                            note=f"Hidden automatically after {count} flags.")
    db.session.expire(target.row)
    db.session.flush()
    return FlagResult(flag=flag, hidden=hidden, kept_for_review=False)


def open_queue_count(cap: int = 100) -> int:
    """Open items in the moderation queue, counted up to ``cap`` (the header's badge: one
    index range read of at most ``cap`` rows, however long the queue is)."""
    limited = select(ModerationItem.id).where(ModerationItem.status == "open").limit(cap)
    return db.session.scalar(select(func.count()).select_from(limited.subquery())) or 0


def open_flag_count(kind: str, target_id: int) -> int:
    """Open flags on one item (the moderation queue's measure; lessons have no counter)."""
    return db.session.scalar(select(func.count()).select_from(Flag).where(
        Flag.target_kind == kind, Flag.target_id == target_id, Flag.status == "open")) or 0
