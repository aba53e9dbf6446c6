"""People: one person's moderation page (account age, posts, status, their history and
appeals) and the actions on them — warn, silence, suspend, ban, lift, delete all their
posts. Each action is a GET confirmation page that says what will happen (how many posts
a deletion removes) and a POST that does it in one transaction, then back to the person.
``?item=<id>``: the action is taken from a queue item about one of their posts, which it
closes.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length

from webapp.extensions import db
from webapp.models import Appeal, ModerationItem, User
from webapp.models.base import utcnow
from webapp.services.exceptions import Conflict, PermissionDenied, ValidationFailed
from webapp.services.moderation import people
from webapp.services.moderation.notices import REASON_LABELS
from webapp.web.edge import id_arg
from webapp.web.forms import FORM_EXPIRED
from webapp.web.moderation import bp
from webapp.web.site_address import site_url

ACTION_TITLES = {
    "warn": "Warn", "silence": "Silence", "suspend": "Suspend", "ban": "Ban",
    "lift": "Lift the restrictions on", "delete_posts": "Delete all posts by",
}
BUTTONS = {
    "warn": "Send the warning", "silence": "Silence", "suspend": "Suspend", "ban": "Ban",
    "lift": "Lift", "delete_posts": "Delete the posts",
}


class PersonActionForm(FlaskForm):
    reason = SelectField("Reason", choices=[SelectChoice(k, v) for k, v in REASON_LABELS.items()],
                         description="The person reads this reason.")
    note = TextAreaField("Note to the person", validators=[Length(max=people.NOTE_MAX)],
                         description="In your own words; sent to them with the reason. "
                                     "Required with “Another reason”.")
    duration = RadioField("How long", default="1",
                          choices=[SelectChoice(k, v) for k, v in people.DURATION_LABELS.items()])


def _moderator() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _item_arg() -> ModerationItem | None:
    raw = request.args.get("item")
    if raw in (None, ""):
        return None
    item_id = request.args.get("item", type=id_arg)
    item = db.session.get(ModerationItem, item_id) if item_id is not None else None
    if item is None:
        abort(404, "There is no such item in the moderation queue.")
    return item


@bp.get("/people/<int:user_id>")
def person(user_id: int):
    found = people.get_person(user_id)
    before = request.args.get("before", type=id_arg)
    actions, next_before = people.actions_of(found, before=before)
    appeals = {a.action_id: a for a in db.session.scalars(select(Appeal).where(
        Appeal.action_id.in_([a.id for a in actions])))} if actions else {}
    moderator = _moderator()
    try:
        people.check_target(found, moderator)
        refused = ""
    except (PermissionDenied, Conflict) as exc:
        refused = exc.message
    return render_template(
        "moderation/person.html", person=found, summary=people.summary(found),
        actions=actions, appeals=appeals, before=before, next_before=next_before,
        refused=refused, reason_labels=REASON_LABELS, titles=ACTION_TITLES,
        forever=people.FOREVER, now=utcnow())


def _page(found: User, action: str, form: PersonActionForm, item: ModerationItem | None,
          status: int = 200, error: str = ""):
    return render_template(
        "moderation/person_action.html", person=found, action=action, form=form, item=item,
        title=ACTION_TITLES[action], button=BUTTONS[action], timed=action in people.TIMED,
        counts=people.post_counts(found) if action == "delete_posts" else None,
        silenced=people.is_silenced(found), forever=people.FOREVER, error=error), status


@bp.route("/people/<int:user_id>/<action>", methods=["GET", "POST"])
def person_action(user_id: int, action: str):
    if action not in people.PEOPLE_ACTIONS:
        abort(404, "There is no such action on a person.")
    found = people.get_person(user_id)
    item = _item_arg()
    moderator = _moderator()
    people.check_target(found, moderator)
    form = PersonActionForm()
    if request.method == "GET":
        return _page(found, action, form, item)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, FORM_EXPIRED)
        return _page(found, action, form, item, 400)
    try:
        outcome = people.act(found, moderator, action, reason=form.reason.data,
                             note=form.note.data, duration=form.duration.data, item=item,
                             site_url=site_url(), secret=current_app.secret_key or "")
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        target = getattr(form, exc.field or "", None)
        if target is not None:
            target.errors = [*target.errors, exc.message]
            return _page(found, action, form, item, 400)
        return _page(found, action, form, item, 400, error=exc.message)
    except Conflict as exc:
        db.session.rollback()
        return _page(found, action, form, item, 409, error=exc.message)
    messages = {
        "warn": "The warning is sent.",
        "silence": f"{found.display_name} is silenced: they cannot post.",
        "suspend": f"{found.display_name} is suspended and was signed out everywhere.",
        "ban": f"{found.display_name} is banned and was signed out everywhere.",
        "lift": f"{found.display_name} can sign in and post again.",
        "delete_posts": f"{outcome.deleted} posts by {found.display_name} are deleted.",
    }
    flash(messages[action], "success")
    return redirect(url_for("moderation.person", user_id=found.id), 303)
