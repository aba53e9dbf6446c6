"""One queue item: the page that shows it in context (and claims it for the moderator who
opens it), the confirmation page and POST of each content action, and giving a claim up.

Every action: a GET page that says what will happen and holds the form, and a POST that
does it in one transaction (``content.act``), then back to the queue (303). Another
moderator's live claim, or an item someone just dealt with, is a 409 page that says so,
with nothing written.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import Branch, ModerationAction, ModerationItem, User
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.moderation import content, context, queue
from webapp.settings import get_settings
from webapp.web.forms import ActionForm, ModerationActionForm, valid_or_400
from webapp.web.moderation import bp
from webapp.web.site_address import site_url

PEOPLE_ACTIONS = ("warn", "silence", "suspend", "ban", "delete_posts")
PEOPLE_LABELS = {"warn": "Warn", "silence": "Silence", "suspend": "Suspend", "ban": "Ban",
                 "delete_posts": "Delete all their posts"}




def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _appeal_redirect(item: ModerationItem):
    return redirect(url_for("moderation.appeal", appeal_id=item.target_id), 303)


def conflict_page(item: ModerationItem, message: str):
    return render_template("moderation/conflict.html", item=item, message=message), 409


def _holder(item: ModerationItem) -> tuple[User | None, bool]:
    """Who holds a live claim on ``item`` (None: nobody) and whether it is the viewer."""
    holder_id = queue.claim_holder(item)
    if holder_id is None:
        return None, False
    return db.session.get(User, holder_id), holder_id == _user().id


@bp.get("/items/<int:item_id>")
def item(item_id: int):
    found = queue.get_item(item_id)
    if found.target_kind == "appeal":
        return _appeal_redirect(found)
    if found.status == "open":
        queue.claim(found, _user())
        db.session.commit()
    holder, mine = _holder(found)
    ctx = context.item_context(found)
    return render_template(
        "moderation/item.html", item=found, ctx=ctx, holder=holder, mine=mine,
        actions=content.available_actions(found, ctx.target) if holder is None or mine
        else [], labels=content.ACTION_LABELS, action_form=ActionForm(),
        undoable=content.undoable_action(found),
        people=True, person_page=True, people_actions=PEOPLE_ACTIONS,
        people_labels=PEOPLE_LABELS, render_markdown=context.render_markdown)


@bp.post("/items/<int:item_id>/release")
def release(item_id: int):
    found = queue.get_item(item_id)
    valid_or_400(ActionForm())
    queue.release(found, _user())
    db.session.commit()
    flash("You gave the item up; another moderator can take it now.", "info")
    return redirect(url_for("moderation.queue"), 303)


@bp.post("/items/<int:item_id>/undo/<int:action_id>")
def undo(item_id: int, action_id: int):
    """Take back the closed item's latest hide, delete, rejection or edit."""
    found = queue.get_item(item_id)
    valid_or_400(ActionForm())
    action = db.session.get(ModerationAction, action_id)
    if action is None or action.item_id != found.id:
        abort(404)
    try:
        content.undo(found, action, _user(), site_url=site_url())
        db.session.commit()
    except Conflict as exc:
        db.session.rollback()
        return conflict_page(found, exc.message)
    flash("Undone: the content shows again as it was, and its author is told.", "success")
    return redirect(url_for("moderation.item", item_id=found.id), 303)


def action_page(item: ModerationItem, action: str, form: ModerationActionForm, *,
                endpoint: str, back: str, status: int = 200, error: str = "",
                template: str = "moderation/item_action.html"):
    target = content.target_of(item)
    kind = content.kind_label(item.target_kind)
    return render_template(
        template, item=item, action=action, form=form, target=target, kind=kind,
        label=content.ACTION_LABELS[action],
        effect=content.ACTION_EFFECTS[action].format(kind=kind),
        preview=context.item_context(item), endpoint=endpoint, back=back,
        error=error), status


def prepare_form(item: ModerationItem, action: str, form: ModerationActionForm) -> None:
    """Field labels and the starting text for the action on this kind of item."""
    target = content.target_of(item)
    if item.target_kind == "lesson":
        form.note.label.text = "Note for the course's editors"
        form.note.description = ("The course's owner reads it, to fix the lesson if it needs "
                                  "it. The flags are closed either way.")
    if action == "edit" and item.target_kind == "profile":
        form.body.label.text = "New display name"
        form.body.description = (f"Leave it empty for the neutral “Member {item.target_id}”.")
        if request.method == "GET":
            form.body.data = ""
    elif action == "edit":
        form.body.label.text = "New text"
        form.body.description = "Markdown, as the author wrote it."
        if request.method == "GET" and target is not None:
            form.body.data = target.body


def do_action(item: ModerationItem, action: str, form: ModerationActionForm):
    """Run the action from the posted form; the error message (None: done, committed)."""
    try:
        row = content.act(item, _user(), action, reason=form.reason.data,
                          note=form.note.data or "", body=form.body.data,
                          site_url=site_url(), settings=get_settings(current_app))
        job_id = None
        if row.action == "approve" and row.target_kind == "branch":
            job_id = db.session.scalar(select(Branch.job_id).where(
                Branch.id == row.target_id))
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        field = getattr(form, exc.field or "", None)
        if field is not None and exc.field != "action":
            field.errors = [*field.errors, exc.message]
            return ""
        return exc.message
    if job_id is not None:
        runner.enqueue(job_id)
    return None


DONE = {"dismiss": "Flags dismissed.", "hide": "Hidden.", "restore": "Restored.",
        "delete": "Deleted.", "edit": "Edited.", "approve": "Approved.",
        "reject": "Rejected."}


@bp.route("/items/<int:item_id>/<action>", methods=["GET", "POST"])
def item_action(item_id: int, action: str):
    if action not in content.CONTENT_ACTIONS:
        abort(404)
    found = queue.get_item(item_id)
    if found.target_kind == "appeal":
        return _appeal_redirect(found)
    back = url_for("moderation.item", item_id=found.id)
    if found.status != "open":
        return conflict_page(found, "This item was dealt with already; nothing was changed.")
    holder, mine = _holder(found)
    if holder is not None and not mine:
        return conflict_page(found, f"{holder.display_name} is handling this item; wait "
                                    "until they are done or their claim runs out.")
    if action not in content.available_actions(found):
        abort(400, f"“{content.ACTION_LABELS[action]}” is not possible for this item now.")
    form = ModerationActionForm()
    prepare_form(found, action, form)
    if request.method == "GET":
        return action_page(found, action, form, endpoint="moderation.item_action", back=back)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, "The form expired; reload the page and try again.")
        return action_page(found, action, form, endpoint="moderation.item_action", back=back,
                           status=400)
    try:
        error = do_action(found, action, form)
    except Conflict as exc:
        db.session.rollback()
        return conflict_page(found, exc.message)
    if error is not None:
        return action_page(found, action, form, endpoint="moderation.item_action", back=back,
                           status=400, error=error)
    flash(f"{DONE[action]} The item is closed.", "success")
    return redirect(url_for("moderation.queue"), 303)
