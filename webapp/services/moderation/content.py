"""Moderators' (and course editors') actions on content in the queue: dismiss the flags,
hide, restore, delete (soft), edit with a note, approve or reject a held item; the same
for many items at once (``bulk``); and ``reverse`` (a granted appeal shows the content
again).

Each action, in the caller's transaction: the access check, ``queue.take`` (nobody else
holds a live claim), the change to the content, ``queue.close`` (the guarded UPDATE that
lets one moderator through; its open flags become "upheld" or "dismissed"), the
``ModerationAction`` and the audit row, and the notice to the author (on the site and by
email). A ``Conflict`` from the queue leaves nothing written once the caller rolls back.

What each kind allows:

- question, answer, message: dismiss, hide, restore, delete, edit (the old text is kept
  as a ``PostRevision`` by the moderator); held ones: approve, reject.
- event, announcement: dismiss, hide, restore, delete (no revision history to keep an
  edit in).
- lesson: dismiss only (a course's learners would lose their lesson); the moderator's note
  goes to the course's owner, who edits the lesson.
- branch lesson: dismiss, hide (nobody but the editors see it), restore (those who asked
  see it); a held branch request: approve (it is written) or reject.
- profile: dismiss, edit (the display name becomes "Member <id>" or the name typed).

Channel messages are drawn from a per-process cache whose key holds the message's status,
HTML and edit time (``webapp.web.channels.fragments``): changing those here is enough.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from flask import has_request_context, url_for
from sqlalchemy import case, select, update

from webapp.content.render import render_message, render_post
from webapp.content.sanitize import POLICY_VERSION
from webapp.extensions import db
from webapp.models import (
    Announcement,
    AuditEvent,
    Branch,
    Channel,
    ChannelMessage,
    Course,
    Event,
    Lesson,
    ModerationAction,
    ModerationItem,
    PostRevision,
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
from webapp.services.moderation import access, notices, queue

CONTENT_ACTIONS = ("dismiss", "hide", "restore", "delete", "edit", "approve", "reject")
ACTION_LABELS = {
    "dismiss": "Dismiss the flags",
    "hide": "Hide",
    "restore": "Restore",
    "delete": "Delete",
    "edit": "Edit",
    "approve": "Approve",
    "reject": "Reject",
}
# What the confirmation page says will happen (``{kind}``: "message", "question" …).
ACTION_EFFECTS = {
    "dismiss": "The flags are closed as unfounded; the {kind} stays as it is now.",
    "hide": "The {kind} is hidden from everyone but moderators; its author is told why "
            "and may appeal. You can restore it later.",
    "restore": "The {kind} is shown again as it was, and its flags are closed.",
    "delete": "The {kind} is deleted (it can still be restored by a moderator); its author "
              "is told why and may appeal.",
    "edit": "Your text replaces the {kind}'s; the old text is kept in its history and "
            "the author reads your note.",
    "approve": "The held {kind} is let through: everyone who could see it sees it now.",
    "reject": "The held {kind} is refused: it stays out of sight and its author is told why.",
}
# Bulk actions (a spam wave): the ones that need no text of their own.
BULK_ACTIONS = ("dismiss", "hide", "delete", "restore")
NOTE_MAX = 1000
POST_KINDS = ("question", "answer", "message", "event", "announcement")
_POST_MODELS = {"question": QaQuestion, "answer": QaAnswer, "message": ChannelMessage,
                "event": Event, "announcement": Announcement}
_REVISION_COLUMN = {"question": "question_id", "answer": "answer_id", "message": "message_id"}
# What the author reads, per action (``{kind}`` filled in).
_TITLES = {
    "hide": "A moderator hid your {kind}",
    "delete": "A moderator removed your {kind}",
    "edit": "A moderator edited your {kind}",
    "restore": "Your {kind} is shown again",
    "approve": "Your {kind} was approved and is shown now",
    "reject": "A moderator did not approve your {kind}",
}
# Actions against the author: they may appeal these.
APPEALABLE = frozenset({"hide", "delete", "edit", "reject"})
NEUTRAL_NAME = "Member {id}"


def kind_label(kind: str) -> str:
    return {"branch": "branch lesson"}.get(kind, kind)


def target_of(item: ModerationItem):
    """The row ``item`` points at (None when it no longer exists)."""
    kind = item.target_kind
    model = {**_POST_MODELS, "lesson": Lesson, "branch": Branch, "profile": User}.get(kind)
    return db.session.get(model, item.target_id) if model is not None else None


def available_actions(item: ModerationItem, target=None) -> list[str]:
    """The content actions that make sense for ``item`` now (in ``CONTENT_ACTIONS`` order)."""
    if item.status != "open" or item.target_kind == "appeal":
        return []
    target = target if target is not None else target_of(item)
    kind = item.target_kind
    if target is None:
        return ["dismiss"]
    if item.source == "held":
        if kind == "branch":
            return ["approve", "reject"] if target.status == "held" else ["dismiss"]
        if kind in POST_KINDS:
            return ["approve", "reject"] if target.status == "hidden" else ["dismiss"]
    if kind in POST_KINDS:
        found = ["dismiss"]
        if target.status == "visible":
            found.append("hide")
        if target.status in ("hidden", "deleted"):
            found.append("restore")
        if target.status != "deleted":
            found.append("delete")
            if kind in _REVISION_COLUMN:
                found.append("edit")
        return found
    if kind == "branch":
        return ["dismiss", "restore" if target.visibility == "hidden" else "hide"]
    if kind == "profile":
        return ["dismiss", "edit"]
    return ["dismiss"]  # lesson


# --- paths the author is sent to -----------------------------------------------------------

def _path(endpoint: str, **values) -> str:
    """A path on this site ("" outside a request: a command has no site to link to)."""
    if not has_request_context():
        return ""
    return url_for(endpoint, **values)


def target_path(kind: str, target) -> str:
    """Where the item lives on the site ("" when it has no page of its own)."""
    if target is None:
        return ""
    if kind == "question":
        return f"/questions/{target.id}"
    if kind == "answer":
        return f"/questions/{target.question_id}#answer-{target.id}"
    if kind == "message":
        slug = db.session.scalar(select(Channel.slug).where(Channel.id == target.channel_id))
        return f"/channels/{slug}/messages/{target.parent_id or target.id}#message-{target.id}"
    if kind == "event":
        return f"/events/{target.id}"
    if kind == "announcement":
        return f"/announcements/{target.id}"
    if kind == "lesson":
        course = db.session.get(Course, target.course_id)
        return f"/courses/{course.slug}/lessons/{target.slug}" if course else ""
    if kind == "branch":
        return f"/branches/{target.id}"
    return ""


def appeal_path(action: ModerationAction) -> str:
    return _path("transparency.appeal_new", action_id=action.id)


# --- checks --------------------------------------------------------------------------------

def clean_note(note: str | None, *, required: bool) -> str:
    text = rules.clean_text(note, field="note", label="Note", max_length=NOTE_MAX,
                            min_length=1 if required else 0)
    return text


def _check_reason(reason: str | None) -> str:
    if reason not in ACTION_REASONS:
        raise ValidationFailed("Choose a reason from the list.", field="reason")
    return reason


# --- the changes ---------------------------------------------------------------------------

def _count_change(kind: str, target, delta: int) -> None:
    """A deleted reply no longer counts in its thread, a deleted answer in its question."""
    if kind == "message" and target.parent_id is not None:
        column = ChannelMessage.reply_count
        db.session.execute(update(ChannelMessage).where(ChannelMessage.id == target.parent_id)
                           .values(reply_count=case((column + delta < 0, 0),
                                                    else_=column + delta))
                           .execution_options(synchronize_session=False))
    elif kind == "answer":
        column = QaQuestion.answer_count
        if delta < 0 and target.accepted:
            target.accepted = False
            db.session.execute(update(QaQuestion).where(
                QaQuestion.id == target.question_id,
                QaQuestion.accepted_answer_id == target.id).values(accepted_answer_id=None)
                .execution_options(synchronize_session=False))
        db.session.execute(update(QaQuestion).where(QaQuestion.id == target.question_id)
                           .values(answer_count=case((column + delta < 0, 0),
                                                     else_=column + delta))
                           .execution_options(synchronize_session=False))


def _set_post_status(kind: str, target, status: str, now: datetime) -> str:
    """Change a post's status; the status it had."""
    before = target.status
    if before == status:
        return before
    target.status = status
    target.deleted_at = now if status == "deleted" else None
    if status == "deleted":
        _count_change(kind, target, -1)
    elif before == "deleted":
        _count_change(kind, target, +1)
    return before


def _edit_post(kind: str, target, body: str | None, moderator: User, now: datetime) -> dict:
    text = rules.clean_text(body, field="body", label="Text",
                            max_length=rules.value("message_max_length")
                            if kind == "message" else rules.POST_MAX)
    if text == target.body:
        raise ValidationFailed("The text is unchanged; change it, or choose another action.",
                               field="body")
    db.session.add(PostRevision(**{_REVISION_COLUMN[kind]: target.id}, editor_id=moderator.id,
                                title=getattr(target, "title", None) if kind == "question"
                                else None, body=target.body, created_at=now))
    target.body = text
    target.body_html = render_message(text) if kind == "message" else render_post(text)
    target.html_policy = POLICY_VERSION
    target.edited_at = now
    if kind == "question":
        target.search_text = f"{target.title}\n{text}".lower()
    return {"body": "edited"}


def _edit_profile(target: User, name: str | None) -> dict:
    wanted = (name or "").strip()
    new = accounts.clean_display_name(wanted) if wanted else NEUTRAL_NAME.format(id=target.id)
    before = target.display_name
    if new == before:
        raise ValidationFailed("The name is unchanged; type another one, or leave the field "
                               "empty for a neutral name.", field="body")
    target.display_name = new
    return {"display_name": [before, new]}


def _tell_course_editors(item: ModerationItem, target, moderator: User, note: str,
                         reason: str, site_url: str | None) -> None:
    course = db.session.get(Course, item.course_id) if item.course_id else None
    if course is None or course.owner_id is None or course.owner_id == moderator.id:
        return
    notices.tell(course.owner_id, notices.Notice(
        title=f"A moderator reviewed the flags on the lesson “{target.title}”",
        url=target_path("lesson", target), reason=reason, note=note),
        site_url=site_url, actor=moderator, course_id=course.id)


def act(item: ModerationItem, moderator: User, action: str, *, reason: str, note: str = "",
        body: str | None = None, site_url: str | None, batch: str | None = None,
        settings=None, now: datetime | None = None) -> ModerationAction:
    """Do ``action`` on the queue item's content as ``moderator`` (see the module's text
    for what each kind allows), in the caller's transaction. ``body``: the new text of an
    edit (a profile: the new display name, empty for "Member <id>"). ``settings``: the
    app's, for approving a held branch request (its job starts; the caller enqueues the
    branch's ``job_id`` after committing). ``PermissionDenied``, ``ValidationFailed``,
    ``Conflict`` (someone else has it, or dealt with it)."""
    access.require_item_access(moderator, item)
    if action not in CONTENT_ACTIONS:
        raise ValidationFailed("Choose an action from the list.", field="action")
    reason = _check_reason(reason)
    note = clean_note(note, required=reason == "other" or action == "edit")
    if item.status != "open":
        raise Conflict("Another moderator has just dealt with this item; reload it to see "
                       "what they did.")
    target = target_of(item)
    if action not in available_actions(item, target):
        raise ValidationFailed(f"“{ACTION_LABELS[action]}” is not possible for this item "
                               "now.", field="action")
    now = now or utcnow()
    queue.take(item, moderator, now=now)
    kind = item.target_kind
    delta: dict = {"item": item.id}
    hidden: bool | None = None
    if kind in POST_KINDS and action in ("hide", "delete", "restore", "approve", "reject"):
        status = {"hide": "hidden", "delete": "deleted", "restore": "visible",
                  "approve": "visible", "reject": "deleted"}[action]
        before = _set_post_status(kind, target, status, now)
        delta["status"] = [before, status]
        hidden = status != "visible"
    elif kind in POST_KINDS and action == "edit":
        delta.update(_edit_post(kind, target, body, moderator, now))
    elif kind == "profile" and action == "edit":
        delta.update(_edit_profile(target, body))
    elif kind == "branch" and action in ("hide", "restore"):
        visibility = "hidden" if action == "hide" else "requesters"
        delta["visibility"] = [target.visibility, visibility]
        target.visibility = visibility
        hidden = action == "hide"
    elif kind == "branch" and action in ("approve", "reject"):
        from webapp.services import branches
        if action == "approve":
            if settings is None:
                raise ValueError("approving a held branch request needs the settings")
            branches.approve_held(target, moderator, settings=settings)
            hidden = False
        else:
            branches.reject_held(target, moderator, notify=True)
            hidden = True
        delta["status"] = ["held", target.status]
    db.session.flush()
    queue.close(item, moderator, action, now=now)
    if hidden is not None:
        queue.set_hidden(item, hidden)
    subject_id = item.author_id if kind != "profile" else item.target_id
    row = queue.record_action(action, moderator=moderator, target_kind=kind,
                              target_id=item.target_id, subject_id=subject_id,
                              course_id=item.course_id, item=item, reason=reason, note=note,
                              batch=batch, now=now)
    delta["action_id"] = row.id
    record_audit(moderator, f"moderation.{action}", kind, item.target_id, delta)
    if kind == "lesson":
        if note:
            _tell_course_editors(item, target, moderator, note, reason, site_url)
    elif action in _TITLES and not (kind == "branch" and action == "reject"):
        notices.tell(subject_id, notices.Notice(
            title=_TITLES[action].format(kind=kind_label(kind)),
            url=target_path(kind, target), reason=reason, note=note,
            appeal_url=appeal_path(row) if action in APPEALABLE else ""),
            site_url=site_url, actor=moderator, course_id=item.course_id)
    db.session.flush()
    return row


# --- many at once --------------------------------------------------------------------------

@dataclass
class BulkResult:
    batch: str
    done: list[ModerationAction] = field(default_factory=list)
    # Items left as they were, with why.
    skipped: list[tuple[ModerationItem, str]] = field(default_factory=list)


def new_batch() -> str:
    return uuid.uuid4().hex


def bulk(items: list[ModerationItem], moderator: User, action: str, *, reason: str,
         note: str = "", site_url: str | None, batch: str | None = None) -> BulkResult:
    """Do one action with one reason on many items, in the caller's transaction, all
    under one batch key. An item another moderator has, or that does not allow the
    action, is skipped (and listed) while the others go through."""
    if action not in BULK_ACTIONS:
        raise ValidationFailed("Choose an action from the list.", field="action")
    _check_reason(reason)
    clean_note(note, required=reason == "other")
    result = BulkResult(batch=batch or new_batch())
    for item in items:
        try:
            with db.session.begin_nested():
                result.done.append(act(item, moderator, action, reason=reason, note=note,
                                       site_url=site_url, batch=result.batch))
        except (Conflict, ValidationFailed, PermissionDenied) as exc:
            result.skipped.append((item, exc.message))
    return result


# --- undoing -------------------------------------------------------------------------------

def _previous_name(action: ModerationAction) -> str | None:
    rows = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "moderation.edit", AuditEvent.target_type == "profile",
        AuditEvent.target_id == action.target_id).order_by(AuditEvent.id.desc()).limit(50))
    for row in rows:
        delta = row.delta or {}
        if delta.get("action_id") == action.id and "display_name" in delta:
            return delta["display_name"][0]
    return None


def reverse(action: ModerationAction, moderator: User, *, site_url: str | None) -> None:
    """Undo a content action (hide, delete, reject, edit): the content is shown again as
    it was (an edit: the text before it, keeping the moderator's version as a revision).
    Marks the action undone and audits it, in the caller's transaction; telling the
    author is the caller's (the appeal's decision). ``ValidationFailed`` for an action
    that cannot be undone, ``Conflict`` when it was undone already."""
    del site_url  # the appeal's decision tells the author
    if action.action not in ("hide", "delete", "reject", "edit"):
        raise ValidationFailed("Only hiding, deleting, rejecting and editing can be undone.")
    if action.undone_at is not None:
        raise Conflict("This action was undone already.")
    kind = action.target_kind
    item = db.session.get(ModerationItem, action.item_id) if action.item_id else None
    if item is not None:
        access.require_item_access(moderator, item)
    else:
        access.require_moderator(moderator)
    model = {**_POST_MODELS, "branch": Branch, "profile": User}.get(kind)
    target = db.session.get(model, action.target_id) if model and action.target_id else None
    if target is None:
        raise NotFound("The content this action was about no longer exists.")
    now = utcnow()
    delta: dict = {"action_id": action.id}
    if action.action == "edit" and kind in _REVISION_COLUMN:
        revision = db.session.scalar(select(PostRevision).where(
            getattr(PostRevision, _REVISION_COLUMN[kind]) == target.id,
            PostRevision.editor_id == action.moderator_id,
            PostRevision.created_at == action.created_at).order_by(PostRevision.id.desc()))
        if revision is None:
            raise NotFound("The text from before the edit was not found.")
        db.session.add(PostRevision(**{_REVISION_COLUMN[kind]: target.id},
                                    editor_id=moderator.id, body=target.body, created_at=now))
        target.body = revision.body
        target.body_html = render_message(revision.body) if kind == "message" \
            else render_post(revision.body)
        target.html_policy = POLICY_VERSION
        target.edited_at = now
        if kind == "question":
            target.search_text = f"{target.title}\n{revision.body}".lower()
        delta["body"] = "restored"
    elif action.action == "edit" and kind == "profile":
        previous = _previous_name(action)
        if previous is None:
            raise NotFound("The name from before the edit was not found.")
        delta["display_name"] = [target.display_name, previous]
        target.display_name = previous
    elif kind in POST_KINDS:
        before = _set_post_status(kind, target, "visible", now)
        delta["status"] = [before, "visible"]
        queue.set_hidden(item, False)
    elif kind == "branch" and action.action == "hide":
        delta["visibility"] = [target.visibility, "requesters"]
        target.visibility = "requesters"
        queue.set_hidden(item, False)
    else:
        raise ValidationFailed("This action cannot be undone here.")
    action.undone_at, action.undone_by_id = now, moderator.id
    record_audit(moderator, "moderation.reverse", kind, action.target_id, delta)
    db.session.flush()


UNDOABLE = ("hide", "delete", "reject", "edit")


def undoable_action(item: ModerationItem) -> ModerationAction | None:
    """The action a moderator may undo from the closed ``item``'s page: the latest one on
    it, when it hid, deleted, rejected or edited the content and is not undone yet."""
    if item.status != "closed":
        return None
    latest = db.session.scalar(select(ModerationAction).where(
        ModerationAction.item_id == item.id,
        ModerationAction.target_kind == item.target_kind)
        .order_by(ModerationAction.id.desc()).limit(1))
    if latest is None or latest.action not in UNDOABLE or latest.undone_at is not None:
        return None
    if item.target_kind == "branch" and latest.action != "hide":
        return None
    return latest


def undo(item: ModerationItem, action: ModerationAction, moderator: User, *,
         site_url: str | None) -> ModerationAction:
    """A moderator takes back ``action`` (the closed item's latest, see
    ``undoable_action``): the content shows again as it was, recorded as a "restore" with
    the author told, in the caller's transaction. Two moderators at once: the guarded
    UPDATE lets one through (``Conflict`` for the other)."""
    access.require_item_access(moderator, item)
    if undoable_action(item) is None or action.item_id != item.id \
            or undoable_action(item).id != action.id:
        raise Conflict("This action can no longer be undone here: someone acted on the item "
                       "since. Reload the page to see what they did.")
    claimed = db.session.execute(
        update(ModerationAction).where(ModerationAction.id == action.id,
                                       ModerationAction.undone_at.is_(None))
        .values(undone_by_id=moderator.id)
        .execution_options(synchronize_session=False)).rowcount
    if not claimed:
        raise Conflict("Another moderator has just undone this action.")
    db.session.expire(action)
    reverse(action, moderator, site_url=site_url)
    target = target_of(item)
    subject_id = item.author_id if item.target_kind != "profile" else item.target_id
    row = queue.record_action("restore", moderator=moderator, target_kind=item.target_kind,
                              target_id=item.target_id, subject_id=subject_id,
                              course_id=item.course_id, item=item, reason=action.reason,
                              note=f"Undid: {ACTION_LABELS.get(action.action, action.action)}.")
    kind = kind_label(item.target_kind)
    notices.tell(subject_id, notices.Notice(
        title=f"A moderator took back their decision on your {kind}",
        url=target_path(item.target_kind, target)),
        site_url=site_url, actor=moderator, course_id=item.course_id)
    db.session.flush()
    return row


def selected_items(ids: list[int]) -> list[ModerationItem]:
    """The queue items of ``ids`` (unknown ids left out), in the order given."""
    if not ids:
        return []
    found = {i.id: i for i in db.session.scalars(select(ModerationItem).where(
        ModerationItem.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
