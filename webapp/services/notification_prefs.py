"""Notification preferences: for each kind of notification, how a user wants to hear of it.

A user has a row only for the kinds they set to something other than the default;
a choice set back to the default removes the row, so it follows the default again.
The defaults (``DEFAULTS``): an email at once for what is addressed to you personally
or is time-bound (a mention, an announcement, a change to an event you joined, a place
from a waiting list); on the site for the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from sqlalchemy import delete, select

from webapp.extensions import db
from webapp.models import NotificationPreference, User
from webapp.models.notifications import NOTIFICATION_CHANNELS, NOTIFICATION_KINDS
from webapp.services.audit import record_audit
from webapp.services.exceptions import ValidationFailed


class Kind(NamedTuple):
    key: str
    label: str
    description: str


# In the order the account page shows them; the words a learner reads there.
KINDS = (
    Kind("question_answered", "Answers to your questions",
         "Someone answers a question you asked in a course."),
    Kind("answer_accepted", "Your answer is accepted",
         "The person who asked a question marks your answer as the one that helped."),
    Kind("mention", "Mentions", "Someone mentions you by name in a post or a reply."),
    Kind("thread_reply", "Replies in discussions you follow",
         "Someone replies in a discussion you started or took part in."),
    Kind("announcement", "Course announcements",
         "A teacher of a course you take posts an announcement."),
    Kind("event_update", "Changes to events",
         "An event you signed up for moves, changes or is cancelled."),
    Kind("waitlist_promoted", "A place on an event",
         "A place opens for you on an event whose waiting list you joined."),
    Kind("branch_ready", "“Go deeper” lessons ready",
         "A lesson you asked for with “Go deeper” has been written and is ready to read."),
    Kind("draft_finished", "Course drafts finished",
         "For editors: an AI draft or rewrite you asked for is ready for review."),
)
CHANNELS = {
    "in_app": "On the site",
    "email": "Email",
    "digest": "Daily email digest",
    "off": "Off",
}
DEFAULTS = {
    "question_answered": "in_app",
    "answer_accepted": "in_app",
    "mention": "email",
    "thread_reply": "in_app",
    "announcement": "email",
    "event_update": "email",
    "waitlist_promoted": "email",
    "branch_ready": "in_app",
    "draft_finished": "in_app",
}
# Kinds nobody can turn off, sent on the site and by email whatever the preferences:
# a moderator's action on the reader's post or account, and the outcome of their appeal
# (``webapp.services.moderation``).
FIXED_KINDS = ("moderation",)
assert (*(k.key for k in KINDS), *FIXED_KINDS) == NOTIFICATION_KINDS
assert tuple(k.key for k in KINDS) == tuple(DEFAULTS)
assert tuple(CHANNELS) == NOTIFICATION_CHANNELS


def _check_kind(kind: str) -> None:
    if kind not in DEFAULTS:
        raise ValidationFailed(f"There is no kind of notification called “{kind[:40]}”.",
                               field="kind")


def preference(user: User, kind: str) -> str:
    """The channel ``user`` wants ``kind`` notifications on (one query)."""
    _check_kind(kind)
    chosen = db.session.scalar(select(NotificationPreference.channel).where(
        NotificationPreference.user_id == user.id, NotificationPreference.kind == kind))
    return chosen or DEFAULTS[kind]


def preferences(user: User) -> dict[str, str]:
    """Every kind with the channel ``user`` wants it on, defaults filled in (one query)."""
    chosen = dict(db.session.execute(
        select(NotificationPreference.kind, NotificationPreference.channel)
        .where(NotificationPreference.user_id == user.id)).tuples().all())
    return {kind: chosen.get(kind, default) for kind, default in DEFAULTS.items()}


def set_preferences(user: User, mapping: Mapping[str, str], *, actor: User | None) -> dict:
    """Set the channel of the kinds in ``mapping`` (others unchanged); audited. Returns
    what changed, ``{kind: [before, after]}``. Unknown kinds or channels are refused
    before anything is written."""
    for kind, channel in mapping.items():
        _check_kind(kind)
        if channel not in CHANNELS:
            raise ValidationFailed(f"Choose one of: {', '.join(CHANNELS.values())}.",
                                   field=kind)
    current = preferences(user)
    changed = {kind: [current[kind], channel] for kind, channel in mapping.items()
               if current[kind] != channel}
    if not changed:
        return {}
    rows = {row.kind: row for row in db.session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id,
                                             NotificationPreference.kind.in_(changed)))}
    back_to_default = [kind for kind, (_before, after) in changed.items()
                       if after == DEFAULTS[kind]]
    if back_to_default:
        db.session.execute(delete(NotificationPreference).where(
            NotificationPreference.user_id == user.id,
            NotificationPreference.kind.in_(back_to_default)))
    for kind, (_before, after) in changed.items():
        if after == DEFAULTS[kind]:
            continue
        if kind in rows:
            rows[kind].channel = after
        else:
            db.session.add(NotificationPreference(user_id=user.id, kind=kind, channel=after))
    db.session.flush()
    record_audit(actor, "user.notifications", "user", user.id, changed)
    return changed
