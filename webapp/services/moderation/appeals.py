"""Appeals: the person an action was taken against asks, once, in their own words, for
another look; a different moderator than the one who acted decides.

An appeal lands in the moderation queue (kind "appeal"). Granting it undoes the action
(``people.reverse`` for actions on a person, ``content.reverse`` for actions on a post);
either way the author is told the outcome. A suspended or banned person cannot sign in,
so they appeal through a signed link (``signed_path``: the sign-in page and the email
give it), valid for ``TOKEN_DAYS`` days.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Appeal, ModerationAction, ModerationItem, User
from webapp.models.base import MAX_ID, utcnow
from webapp.services.audit import record_audit
from webapp.services.community import rules
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied
from webapp.services.moderation import access, queue
from webapp.services.moderation.notices import Notice, tell

APPEAL_MAX = 2000
NOTE_MAX = 2000
TOKEN_SALT = "tangent-appeal"  # noqa: S105 - a salt, not a secret
TOKEN_DAYS = 30
# Actions against an author that they may appeal.
APPEALABLE = ("hide", "delete", "edit", "reject", "warn", "silence", "suspend", "ban",
              "delete_posts")
ACTION_WORDS = {
    "hide": "A moderator hid your post",
    "delete": "A moderator deleted your post",
    "edit": "A moderator edited your post",
    "reject": "A moderator did not approve your post",
    "warn": "A moderator warned you",
    "silence": "A moderator silenced your account (no posting)",
    "suspend": "A moderator suspended your account",
    "ban": "A moderator banned your account",
    "delete_posts": "A moderator deleted all your posts",
}


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=TOKEN_SALT)


def make_token(user_id: int, action_id: int, secret: str) -> str:
    return _serializer(secret).dumps({"u": user_id, "a": action_id})


def signed_path(user_id: int | None, action_id: int, secret: str) -> str:
    return f"/appeals/signed/{make_token(user_id or 0, action_id, secret)}"


def read_token(token: str, secret: str, *,
               max_age: int = TOKEN_DAYS * 86400) -> tuple[User, ModerationAction]:
    """The person and the action a signed appeal link names; ``NotFound`` for a link that
    is forged, damaged, expired or names an action not against that person."""
    refused = NotFound("This appeal link is not valid or has expired. Links in emails "
                       f"and on the sign-in page work for {TOKEN_DAYS} days.")
    try:
        data = _serializer(secret).loads(token, max_age=max_age)
    except BadSignature:
        raise refused from None
    if not isinstance(data, dict):
        raise refused
    user_id, action_id = data.get("u"), data.get("a")
    if not all(isinstance(v, int) and 0 < v <= MAX_ID for v in (user_id, action_id)):
        raise refused
    user = db.session.get(User, user_id)
    action = db.session.get(ModerationAction, action_id)
    if user is None or action is None or action.subject_id != user.id \
            or action.action not in APPEALABLE:
        raise refused
    return user, action


def action_for_author(user: User | None, action_id: int) -> ModerationAction:
    """The action ``user`` may appeal (``NotFound`` for anyone else's)."""
    action = db.session.get(ModerationAction, action_id)
    if user is None or action is None or action.subject_id != user.id \
            or action.action not in APPEALABLE:
        raise NotFound("There is no such action against you.")
    return action


def appeal_of(action: ModerationAction) -> Appeal | None:
    return db.session.scalar(select(Appeal).where(Appeal.action_id == action.id))


def get_appeal(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        raise NotFound("There is no such appeal.")
    return appeal


def latest_blocking_action(user: User) -> ModerationAction | None:
    """The suspension or ban that keeps ``user`` from signing in now (the newest one
    still in force), for the sign-in page's appeal link."""
    if user.status not in ("suspended", "banned"):
        return None
    return db.session.scalar(select(ModerationAction).where(
        ModerationAction.subject_id == user.id, ModerationAction.target_kind == "user",
        ModerationAction.action == ("ban" if user.status == "banned" else "suspend"),
        ModerationAction.undone_at.is_(None))
        .order_by(ModerationAction.id.desc()).limit(1))


def sign_in_appeal(user: User, secret: str) -> tuple[str, bool] | None:
    """For the sign-in page of a blocked account: the signed appeal link for the action
    that blocks it, and whether they have appealed it already (then the link shows how
    the appeal stands); None when no moderation action blocks it."""
    action = latest_blocking_action(user)
    if action is None:
        return None
    return signed_path(user.id, action.id, secret), appeal_of(action) is not None


def file(user: User, action: ModerationAction, body: str | None) -> Appeal:
    """``user`` appeals ``action`` (once) with ``body``; the appeal enters the queue."""
    if action.subject_id != user.id or action.action not in APPEALABLE:
        raise NotFound("There is no such action against you.")
    if appeal_of(action) is not None:
        raise Conflict("You have already appealed this decision; each decision can be "
                       "appealed once. This page shows how your appeal stands.")
    if action.undone_at is not None:
        raise Conflict("This decision has already been undone: there is nothing to appeal.")
    text = rules.clean_text(body, field="body", label="Appeal", max_length=APPEAL_MAX)
    appeal = Appeal(action_id=action.id, user_id=user.id, body=text, status="open",
                    created_at=utcnow())
    try:
        # Two submissions at once: the unique constraint lets one in.
        with db.session.begin_nested():
            db.session.add(appeal)
    except IntegrityError:
        raise Conflict("You have already appealed this decision; each decision can be "
                       "appealed once.") from None
    queue.enqueue("appeal", appeal.id, source="appeal", course_id=action.course_id,
                  author_id=user.id)
    record_audit(user, "moderation.appeal", "appeal", appeal.id,
                 {"action_id": [None, action.id]})
    return appeal


@dataclass(frozen=True)
class AppealView:
    appeal: Appeal
    action: ModerationAction
    item: ModerationItem | None
    may_decide: bool
    why_not: str


def check_decider(appeal: Appeal, action: ModerationAction, moderator: User) -> None:
    access.require_moderator(moderator)
    if action.moderator_id is not None and action.moderator_id == moderator.id:
        raise PermissionDenied("You took the decision this appeal is about: another "
                               "moderator must decide it.")
    if appeal.user_id is not None and appeal.user_id == moderator.id:
        raise PermissionDenied("You cannot decide your own appeal.")


def view(appeal: Appeal, moderator: User) -> AppealView:
    access.require_moderator(moderator)
    action = db.session.get(ModerationAction, appeal.action_id)
    assert action is not None  # the foreign key keeps it
    try:
        check_decider(appeal, action, moderator)
        why_not = ""
    except PermissionDenied as exc:
        why_not = exc.message
    return AppealView(appeal, action, queue.item_for("appeal", appeal.id),
                      not why_not and appeal.status == "open", why_not)


def outcome_path(appeal: Appeal, action: ModerationAction, secret: str | None) -> str:
    if action.action in ("suspend", "ban") and secret is not None:
        return signed_path(appeal.user_id, action.id, secret)
    return f"/appeals/actions/{action.id}"


def decide(appeal: Appeal, moderator: User, *, grant: bool, note: str | None,
           site_url: str | None, secret: str | None = None) -> ModerationAction:
    """Grant (undo the action) or deny ``appeal``, with a note the author reads; closes
    its queue item. ``Conflict`` when it was decided meanwhile (nothing written)."""
    action = db.session.get(ModerationAction, appeal.action_id)
    assert action is not None
    check_decider(appeal, action, moderator)
    if appeal.status != "open":
        raise Conflict("This appeal has already been decided.")
    note = rules.clean_text(note, field="note", label="Note", max_length=NOTE_MAX,
                            min_length=0 if grant else 1)
    item = queue.item_for("appeal", appeal.id)
    if item is not None:
        queue.take(item, moderator)
    now = utcnow()
    if grant and action.undone_at is None:
        if action.target_kind == "user":
            from webapp.services.moderation import people

            people.reverse(action, moderator, site_url=site_url)
        else:
            from webapp.services.moderation import content  # helper A's module

            content.reverse(action, moderator, site_url=site_url)
    appeal.status = "granted" if grant else "denied"
    appeal.decided_at, appeal.decided_by_id, appeal.decision_note = now, moderator.id, note
    kind = "appeal_granted" if grant else "appeal_denied"
    row = queue.record_action(
        kind, moderator=moderator, target_kind="appeal", target_id=appeal.id,
        subject_id=appeal.user_id, course_id=action.course_id, item=item,
        reason=action.reason, note=note, now=now)
    if item is not None:
        queue.close(item, moderator, kind, now=now)
    record_audit(moderator, f"moderation.{kind}", "appeal", appeal.id,
                 {"status": ["open", appeal.status], "action_id": [None, action.id]})
    words = ACTION_WORDS.get(action.action, "A moderation decision")
    tell(appeal.user_id, Notice(
        title=(f"Your appeal was granted: the decision is undone ({words.lower()})"
               if grant else f"Your appeal was denied ({words.lower()})"),
        url=outcome_path(appeal, action, secret), reason=action.reason, note=note),
        site_url=site_url, actor=moderator, course_id=action.course_id)
    db.session.flush()
    return row
