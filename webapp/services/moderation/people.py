"""Moderation actions on people: warn, silence (no posting) for a while, suspend for a
while, ban, lift (undo a silence, suspension or ban) and delete every post of a person.

Moderators and admins only; never against yourself or an admin, and a moderator cannot
act on another moderator (an admin can). Every action is one ``ModerationAction`` row, an
audit row and a notice to the person (on the site and by email, with the link to appeal),
in the caller's transaction. Suspension and ban go through ``accounts.set_status``, which
ends every session of the person at once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select, update

from webapp.extensions import db
from webapp.models import (
    ChannelMessage,
    ModerationAction,
    ModerationItem,
    QaAnswer,
    QaQuestion,
    User,
)
from webapp.models.base import utcnow
from webapp.models.moderation import ACTION_REASONS
from webapp.services import accounts
from webapp.services.audit import record_audit
from webapp.services.community import rules
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from webapp.services.moderation import access, appeals, queue
from webapp.services.moderation.notices import REASON_LABELS, Notice, tell

# The actions on the person page, in its order.
PEOPLE_ACTIONS = ("warn", "silence", "suspend", "ban", "lift", "delete_posts")
# The sanctions an author may appeal (``lift`` is an undo, not a sanction).
SANCTIONS = ("warn", "silence", "suspend", "ban", "delete_posts")
# Actions that last: they ask how long.
TIMED = ("silence", "suspend")
DURATIONS = {"1": timedelta(days=1), "3": timedelta(days=3), "7": timedelta(days=7),
             "30": timedelta(days=30), "lifted": None}
DURATION_LABELS = {"1": "1 day", "3": "3 days", "7": "1 week", "30": "30 days",
                   "lifted": "Until a moderator lifts it"}
# ``User.silenced_until`` for a silence "until lifted" (None there means not silenced).
FOREVER = datetime(9999, 12, 31, tzinfo=UTC)
NOTE_MAX = 1000
STATUS_REASON_MAX = accounts.STATUS_REASON_MAX
POST_MODELS = (QaQuestion, QaAnswer, ChannelMessage)
LIVE = ("visible", "hidden")


def get_person(user_id: int) -> User:
    person = db.session.get(User, user_id)
    if person is None:
        raise NotFound("There is no such person.")
    return person


def is_silenced(user: User, now: datetime | None = None) -> bool:
    return user.silenced_until is not None and user.silenced_until > (now or utcnow())


def require_may_post(user: User, *, when: str | None = None) -> None:
    """``PermissionDenied`` for a silenced user, saying until when (``when``: that moment
    as the reader reads it; the caller formats it in their time zone)."""
    if not is_silenced(user):
        return
    if user.silenced_until >= FOREVER:
        end = "until a moderator lifts it"
    else:
        end = f"until {when or user.silenced_until.strftime('%d %b %Y, %H:%M UTC')}"
    raise PermissionDenied(f"A moderator has silenced your account: you cannot post {end}. "
                           "You can still read everything.")


def check_target(person: User, moderator: User) -> None:
    """May ``moderator`` act on ``person`` at all (``PermissionDenied`` otherwise)."""
    access.require_moderator(moderator)
    if person.id == moderator.id:
        raise PermissionDenied("You cannot take moderation actions against yourself.")
    if person.is_admin:
        raise PermissionDenied("Admins cannot be moderated.")
    if person.is_moderator and not moderator.is_admin:
        raise PermissionDenied("Only an admin can take actions against another moderator.")
    if person.status == "deleted":
        raise Conflict("This account was closed: there is nothing to do with it.")


def post_counts(person: User) -> dict[str, int]:
    """The person's posts that are still shown or hidden for review, by kind."""
    return {model.__tablename__: db.session.scalar(
        select(func.count()).select_from(model).where(
            model.author_id == person.id, model.status.in_(LIVE))) or 0
        for model in POST_MODELS}


def count_posts(person: User) -> int:
    return sum(post_counts(person).values())


def clean_note(raw: str | None, reason: str) -> str:
    note = rules.clean_text(raw, field="note", label="Note", max_length=NOTE_MAX,
                            min_length=0)
    if reason == "other" and not note:
        raise ValidationFailed("With “Another reason”, say what the reason is.", field="note")
    return note


def clean_reason(reason: str | None) -> str:
    if reason not in ACTION_REASONS:
        raise ValidationFailed("Choose a reason from the list.", field="reason")
    return reason


def _until(action: str, duration: str | None, now: datetime) -> datetime | None:
    if action not in TIMED:
        return None
    if duration not in DURATIONS:
        raise ValidationFailed("Choose how long from the list.", field="duration")
    delta = DURATIONS[duration]
    return None if delta is None else now + delta


def _status_reason(reason: str, note: str) -> str:
    words = REASON_LABELS[reason] + (f": {note}" if note else "")
    return words[:STATUS_REASON_MAX]


def appeal_path(action: ModerationAction, secret: str | None = None) -> str:
    """Where the person appeals ``action``: signed in, or (suspended or banned, so unable
    to sign in) through a signed link."""
    if action.action in ("suspend", "ban") and secret is not None:
        return appeals.signed_path(action.subject_id, action.id, secret)
    return f"/appeals/actions/{action.id}"


def _title(action: str, duration: str | None, deleted: int) -> str:
    how_long = (DURATION_LABELS.get(duration or "", "").lower() if duration != "lifted"
                else "until a moderator lifts it")
    if action == "warn":
        return "A moderator warned you about your posts"
    if action == "silence":
        return (f"A moderator silenced your account: you cannot post "
                f"{'for ' + how_long if duration != 'lifted' else how_long}")
    if action == "suspend":
        return (f"Your account is suspended "
                f"{'for ' + how_long if duration != 'lifted' else how_long}")
    if action == "ban":
        return "Your account is banned"
    if action == "delete_posts":
        return f"A moderator deleted your posts ({deleted})"
    return "A moderator lifted the restrictions on your account"


@dataclass(frozen=True)
class Outcome:
    action: ModerationAction
    deleted: int = 0


def act(person: User, moderator: User, action: str, *, reason: str | None,
        note: str | None = "", duration: str | None = None,
        item: ModerationItem | None = None, site_url: str | None,
        secret: str | None = None, now: datetime | None = None) -> Outcome:
    """Take ``action`` against ``person``; with ``item`` (a queue item about one of their
    posts or their profile) it is also closed. ``secret``: signs the appeal link a
    suspended or banned person receives."""
    if action not in PEOPLE_ACTIONS:
        raise NotFound("There is no such action.")
    check_target(person, moderator)
    reason = clean_reason(reason)
    note = clean_note(note, reason)
    now = now or utcnow()
    until = _until(action, duration, now)
    if item is not None:
        if item.author_id != person.id:
            raise ValidationFailed("That queue item is not about this person.")
        queue.take(item, moderator, now=now)
    deleted = 0
    before = {"status": person.status, "silenced_until": person.silenced_until}
    if action == "silence":
        person.silenced_until = until or FOREVER
    elif action == "suspend":
        if person.status == "banned":
            raise Conflict("This account is banned; lift the ban before suspending it.")
        accounts.set_status(person, "suspended", actor=moderator,
                            reason=_status_reason(reason, note), until=until)
    elif action == "ban":
        if person.status == "banned":
            raise Conflict("This account is already banned.")
        accounts.set_status(person, "banned", actor=moderator,
                            reason=_status_reason(reason, note))
    elif action == "lift":
        if not (is_silenced(person, now) or person.status in ("suspended", "banned")):
            raise Conflict("This person is neither silenced, suspended nor banned: there "
                           "is nothing to lift.")
        _lift(person, moderator)
        _mark_undone(person, moderator, now)
    elif action == "delete_posts":
        deleted = delete_posts(person, now=now)
    row = queue.record_action(
        action, moderator=moderator, target_kind="user", target_id=person.id,
        subject_id=person.id, course_id=item.course_id if item else None, item=item,
        reason=reason, note=note, until=until if action in TIMED else None, now=now)
    if item is not None:
        queue.close(item, moderator, action, now=now)
    if action == "delete_posts":
        queue.close_all_of_author(person.id, ("question", "answer", "message"), moderator,
                                  action, now=now)
    after = {"status": person.status, "silenced_until": person.silenced_until}
    record_audit(moderator, f"moderation.{action}", "user", person.id, {
        **{k: [_iso(before[k]), _iso(after[k])] for k in after if before[k] != after[k]},
        "reason": [None, reason], "action_id": [None, row.id],
        **({"deleted_posts": [None, deleted]} if action == "delete_posts" else {})})
    tell(person.id, Notice(
        title=_title(action, duration, deleted),
        url=appeal_path(row, secret) if action in SANCTIONS else "/notifications",
        reason=reason, note=note,
        appeal_url=appeal_path(row, secret) if action in SANCTIONS else ""),
        site_url=site_url, actor=moderator)
    return Outcome(row, deleted)


def _iso(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _lift(person: User, moderator: User | None) -> None:
    person.silenced_until = None
    if person.status in ("suspended", "banned"):
        accounts.set_status(person, "active", actor=moderator)


def _mark_undone(person: User, moderator: User, now: datetime) -> None:
    """A lift undoes every silence, suspension and ban of the person still in force."""
    db.session.execute(update(ModerationAction).where(
        ModerationAction.subject_id == person.id, ModerationAction.target_kind == "user",
        ModerationAction.action.in_(("silence", "suspend", "ban")),
        ModerationAction.undone_at.is_(None))
        .values(undone_at=now, undone_by_id=moderator.id)
        .execution_options(synchronize_session=False))


# --- deleting all posts -------------------------------------------------------------------

def delete_posts(person: User, *, now: datetime) -> int:
    """Soft-delete every shown or hidden question, answer and channel message of
    ``person`` (deleted at ``now``, which marks them as this action's for its undo),
    keeping answer and reply counts and accepted answers right; how many."""
    answers = db.session.execute(select(QaAnswer.id, QaAnswer.question_id, QaAnswer.accepted)
                                 .where(QaAnswer.author_id == person.id,
                                        QaAnswer.status.in_(LIVE))).all()
    replies = db.session.scalars(select(ChannelMessage.parent_id).where(
        ChannelMessage.author_id == person.id, ChannelMessage.status.in_(LIVE),
        ChannelMessage.parent_id.is_not(None))).all()
    accepted = [a.id for a in answers if a.accepted]
    if accepted:
        db.session.execute(update(QaQuestion).where(
            QaQuestion.accepted_answer_id.in_(accepted)).values(accepted_answer_id=None)
            .execution_options(synchronize_session=False))
    deleted = 0
    for model in POST_MODELS:
        values = {"status": "deleted", "deleted_at": now}
        if model is QaAnswer:
            values["accepted"] = False
        deleted += db.session.execute(update(model).where(
            model.author_id == person.id, model.status.in_(LIVE)).values(**values)
            .execution_options(synchronize_session=False)).rowcount or 0
    _shift_counts(Counter(a.question_id for a in answers), Counter(replies), -1)
    db.session.expire_all()
    return deleted


def _shift_counts(answers: Counter, replies: Counter, sign: int) -> None:
    for question_id, n in answers.items():
        db.session.execute(update(QaQuestion).where(QaQuestion.id == question_id).values(
            answer_count=case((QaQuestion.answer_count + sign * n > 0,
                               QaQuestion.answer_count + sign * n), else_=0))
            .execution_options(synchronize_session=False))
    for parent_id, n in replies.items():
        db.session.execute(update(ChannelMessage).where(ChannelMessage.id == parent_id).values(
            reply_count=case((ChannelMessage.reply_count + sign * n > 0,
                              ChannelMessage.reply_count + sign * n), else_=0))
            .execution_options(synchronize_session=False))


def restore_posts(person_id: int, deleted_at: datetime) -> int:
    """Show again the posts one ``delete_posts`` deleted (those deleted at that moment)."""
    answers = db.session.scalars(select(QaAnswer.question_id).where(
        QaAnswer.author_id == person_id, QaAnswer.status == "deleted",
        QaAnswer.deleted_at == deleted_at)).all()
    replies = db.session.scalars(select(ChannelMessage.parent_id).where(
        ChannelMessage.author_id == person_id, ChannelMessage.status == "deleted",
        ChannelMessage.deleted_at == deleted_at, ChannelMessage.parent_id.is_not(None))).all()
    restored = 0
    for model in POST_MODELS:
        restored += db.session.execute(update(model).where(
            model.author_id == person_id, model.status == "deleted",
            model.deleted_at == deleted_at).values(status="visible", deleted_at=None)
            .execution_options(synchronize_session=False)).rowcount or 0
    _shift_counts(Counter(answers), Counter(replies), +1)
    db.session.expire_all()
    return restored


# --- undo -----------------------------------------------------------------------------------

def reverse(action: ModerationAction, moderator: User, *, site_url: str | None,
            now: datetime | None = None) -> None:
    """Undo the people action ``action`` (a granted appeal, a moderator's undo): lift the
    silence, reactivate the account, show the deleted posts again; a warning is
    withdrawn. The caller records its own action and tells the person."""
    if action.target_kind != "user" or action.action not in SANCTIONS:
        raise ValidationFailed("Only an action on a person can be undone here.")
    access.require_moderator(moderator)
    if action.undone_at is not None:
        raise Conflict("This action was already undone.")
    now = now or utcnow()
    person = db.session.get(User, action.subject_id) if action.subject_id else None
    detail: dict[str, list[object]] = {"action_id": [None, action.id]}
    if person is not None and person.status != "deleted":
        if action.action == "silence" and is_silenced(person, now) \
                and person.silenced_until == (action.until or FOREVER):
            person.silenced_until = None
            detail["silenced_until"] = ["set", None]
        elif action.action == "suspend" and person.status == "suspended":
            accounts.set_status(person, "active", actor=moderator)
            detail["status"] = ["suspended", "active"]
        elif action.action == "ban" and person.status == "banned":
            accounts.set_status(person, "active", actor=moderator)
            detail["status"] = ["banned", "active"]
        elif action.action == "delete_posts":
            detail["restored_posts"] = [None, restore_posts(person.id, action.created_at)]
    action.undone_at, action.undone_by_id = now, moderator.id
    record_audit(moderator, "moderation.reverse", "user", action.subject_id, detail)
    db.session.flush()


# --- the person page ------------------------------------------------------------------------

@dataclass(frozen=True)
class PersonSummary:
    person: User
    posts: int
    account_days: int
    silenced: bool


def summary(person: User, now: datetime | None = None) -> PersonSummary:
    now = now or utcnow()
    return PersonSummary(person=person, posts=rules.post_count(person, visible_only=False),
                         account_days=max(0, (now - person.created_at).days),
                         silenced=is_silenced(person, now))


def actions_of(person: User, *, before: int | None = None,
               page_size: int = 20) -> tuple[list[ModerationAction], int | None]:
    """The moderation actions about ``person``, newest first (keyset on id)."""
    stmt = select(ModerationAction).where(ModerationAction.subject_id == person.id)
    if before is not None:
        stmt = stmt.where(ModerationAction.id < before)
    rows = list(db.session.scalars(stmt.order_by(ModerationAction.id.desc())
                                   .limit(page_size + 1)))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return rows, rows[-1].id if more and rows else None
