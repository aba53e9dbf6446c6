"""The queue (``/moderation``): open or closed items in one of three orders, filtered by
kind, course and reason, a keyset page at a time; and bulk actions on the items ticked
on it (a spam wave), through a confirmation page that says how many items change.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models.moderation import ACTION_REASONS
from webapp.services.exceptions import ValidationFailed
from webapp.services.moderation import content, listing, notices
from webapp.web.edge import id_arg
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.moderation import bp
from webapp.web.site_address import site_url

BULK_MAX = listing.PAGE_SIZE
BULK_DONE = {"dismiss": "flags dismissed on", "hide": "hidden", "delete": "deleted",
             "restore": "restored"}
# "N items will be …"
BULK_EFFECT = {"dismiss": "have their flags dismissed (they stay as they are)",
               "hide": "be hidden", "delete": "be deleted", "restore": "be shown again"}


@bp.get("")
def queue():
    filters = listing.parse_filters(request.args)
    after = request.args.get("after", "")
    page = listing.list_items(filters, after=after or None)
    return render_template(
        "moderation/queue.html", page=page, filters=filters, after=after,
        orders=listing.ORDERS, statuses=listing.STATUS_LABELS, kinds=listing.KIND_LABELS,
        reasons=listing.REASON_LABELS, courses=listing.course_choices(),
        bulk_actions=content.BULK_ACTIONS, action_labels=content.ACTION_LABELS,
        action_reasons=[(r, notices.REASON_LABELS[r]) for r in ACTION_REASONS],
        form=ActionForm())


def _bulk_input():
    """The posted selection: items, action, reason, note; a 400 for anything unknown."""
    raw_ids = request.form.getlist("item")
    ids = []
    for raw in raw_ids:
        try:
            ids.append(id_arg(raw))
        except ValueError:
            abort(400, "One of the ticked items is not valid; reload the queue and try again.")
    ids = list(dict.fromkeys(ids))
    if not ids:
        abort(400, "Tick at least one item first.")
    if len(ids) > BULK_MAX:
        abort(400, f"Choose at most {BULK_MAX} items at once.")
    action = request.form.get("action", "")
    if action not in content.BULK_ACTIONS:
        abort(400, "Choose an action from the list.")
    reason = request.form.get("reason", "")
    if reason not in ACTION_REASONS:
        abort(400, "Choose a reason from the list.")
    note = request.form.get("note", "")
    try:
        note = content.clean_note(note, required=reason == "other")
    except ValidationFailed as exc:
        abort(400, exc.message)
    return ids, action, reason, note


@bp.post("/bulk")
def bulk():
    valid_or_400(ActionForm())
    ids, action, reason, note = _bulk_input()
    items = content.selected_items(ids)
    if not items:
        abort(404, "None of the ticked items is in the queue.")
    if request.form.get("confirmed") != "yes":
        return render_template(
            "moderation/bulk.html", items=items, rows=listing.targets_of(items),
            action=action, reason=reason, note=note, effect=BULK_EFFECT[action],
            reason_label=notices.REASON_LABELS[reason], label_of=listing.label_of,
            kind_labels=listing.KIND_LABELS, form=ActionForm())
    result = content.bulk(items, current_user._get_current_object(), action, reason=reason,
                          note=note, site_url=site_url())
    db.session.commit()
    done = len(result.done)
    flash(f"{done} item{'s' if done != 1 else ''} {BULK_DONE[action]}.",
          "success" if done else "info")
    if result.skipped:
        flash("Left as they were: " + "; ".join(
            f"item {item.id}: {message}" for item, message in result.skipped), "error")
    return redirect(url_for("moderation.queue"), 303)
