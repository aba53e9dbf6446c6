"""A course's moderation page for its editors (``/edit/courses/<id>/moderation``): the
open queue items of their course, each in context, with the content actions (dismiss,
hide, restore, delete, edit …) through the same services as the moderators' pages.
Actions on people stay with the site's moderators.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import Branch
from webapp.services import authoring
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed
from webapp.services.moderation import access, content, context, listing, queue
from webapp.settings import get_settings
from webapp.web.editor import bp
from webapp.web.editor.common import user
from webapp.web.forms import ModerationActionForm
from webapp.web.site_address import site_url


def _course(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    if not access.can_moderate_course(user(), course.id):
        abort(403)
    return course


def _item(course_id: int, item_id: int):
    course = _course(course_id)
    found = queue.get_item(item_id)
    if found.course_id != course.id or found.target_kind not in access.COURSE_KINDS:
        raise NotFound("There is no such item in this course's moderation list.")
    access.require_item_access(user(), found)
    return course, found


@bp.get("/courses/<int:course_id>/moderation")
def course_moderation(course_id: int):
    course = _course(course_id)
    filters = listing.Filters(status="open", order="newest", course_id=course.id)
    after = request.args.get("after", "")
    page = listing.list_items(filters, after=after or None)
    rows = [row for row in page.rows if row.item.target_kind in access.COURSE_KINDS]
    return render_template("editor/moderation.html", course=course, tab="moderation",
                           rows=rows, page=page, after=after,
                           labels=content.ACTION_LABELS)


@bp.get("/courses/<int:course_id>/moderation/<int:item_id>")
def course_moderation_item(course_id: int, item_id: int):
    course, found = _item(course_id, item_id)
    ctx = context.item_context(found)
    holder_id = queue.claim_holder(found)
    return render_template(
        "editor/moderation_item.html", course=course, tab="moderation", item=found, ctx=ctx,
        actions=content.available_actions(found, ctx.target)
        if holder_id in (None, user().id) else [],
        holder_busy=holder_id not in (None, user().id), labels=content.ACTION_LABELS,
        render_markdown=context.render_markdown)


def _page(course, found, action, form, *, status=200, error=""):
    kind = content.kind_label(found.target_kind)
    return render_template(
        "editor/moderation_action.html", course=course, tab="moderation", item=found,
        action=action, form=form, kind=kind, label=content.ACTION_LABELS[action],
        effect=content.ACTION_EFFECTS[action].format(kind=kind),
        preview=context.item_context(found), endpoint="editor.course_moderation_action",
        back=url_for("editor.course_moderation_item", course_id=course.id,
                     item_id=found.id), error=error), status


def _conflict(found, message: str):
    return render_template("moderation/conflict.html", item=found, message=message), 409


@bp.route("/courses/<int:course_id>/moderation/<int:item_id>/<action>",
          methods=["GET", "POST"])
def course_moderation_action(course_id: int, item_id: int, action: str):
    if action not in content.CONTENT_ACTIONS:
        abort(404)
    course, found = _item(course_id, item_id)
    if found.status != "open":
        return _conflict(found, "This item was dealt with already; nothing was changed.")
    holder_id = queue.claim_holder(found)
    if holder_id not in (None, user().id):
        return _conflict(found, "A moderator is handling this item; wait until they are "
                                "done or their claim runs out.")
    if action not in content.available_actions(found):
        abort(400, f"“{content.ACTION_LABELS[action]}” is not possible for this item now.")
    form = ModerationActionForm()
    if found.target_kind == "lesson":
        form.note.label.text = "Note (kept with the decision)"
    if request.method == "GET":
        if action == "edit":
            target = content.target_of(found)
            form.body.data = target.body if target is not None else ""
        return _page(course, found, action, form)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, "The form expired; reload the page and try again.")
        return _page(course, found, action, form, status=400)
    try:
        row = content.act(found, user(), action, reason=form.reason.data,
                          note=form.note.data or "", body=form.body.data,
                          site_url=site_url(), settings=get_settings(current_app))
        branch = db.session.get(Branch, row.target_id) \
            if row.action == "approve" and row.target_kind == "branch" else None
        job_id = branch.job_id if branch is not None else None
        db.session.commit()
    except Conflict as exc:
        db.session.rollback()
        return _conflict(found, exc.message)
    except ValidationFailed as exc:
        db.session.rollback()
        field = getattr(form, exc.field or "", None)
        if field is not None and exc.field != "action":
            field.errors = [*field.errors, exc.message]
            return _page(course, found, action, form, status=400)
        return _page(course, found, action, form, status=400, error=exc.message)
    if job_id is not None:
        runner.enqueue(job_id)
    flash(f"Done: {content.ACTION_LABELS[action].lower()}. The item is closed.", "success")
    return redirect(url_for("editor.course_moderation", course_id=course.id), 303)
