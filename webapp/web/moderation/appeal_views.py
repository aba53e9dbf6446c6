"""One appeal, for a moderator: the author's words, the action they appeal against (and
the item it was about), and the form to grant (undo the action) or deny it. Only a
moderator other than the one who took the action may decide."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from webapp.extensions import db
from webapp.models import User
from webapp.services.exceptions import Conflict, PermissionDenied, ValidationFailed
from webapp.services.moderation import appeals
from webapp.services.moderation.notices import REASON_LABELS
from webapp.web.forms import FORM_EXPIRED
from webapp.web.moderation import bp
from webapp.web.site_address import site_url


class DecideForm(FlaskForm):
    decision = RadioField("Decision", choices=[
        SelectChoice("grant", "Grant: undo the action"),
        SelectChoice("deny", "Deny: the action stays")],
        validators=[InputRequired(message="Choose grant or deny.")])
    note = TextAreaField("Note to the author", validators=[Length(max=appeals.NOTE_MAX)],
                         description="Sent to them with the outcome. Required when you deny.")


def _moderator() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _page(appeal, form: DecideForm, status: int = 200, error: str = ""):
    seen = appeals.view(appeal, _moderator())
    author = db.session.get(User, appeal.user_id) if appeal.user_id else None
    return render_template("moderation/appeal.html", seen=seen, appeal=appeal, form=form,
                           author=author, action_words=appeals.ACTION_WORDS,
                           reason_labels=REASON_LABELS, error=error), status


@bp.route("/appeals/<int:appeal_id>", methods=["GET", "POST"])
def appeal(appeal_id: int):
    found = appeals.get_appeal(appeal_id)
    form = DecideForm()
    if request.method == "GET":
        return _page(found, form)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, FORM_EXPIRED)
        return _page(found, form, 400)
    grant = form.decision.data == "grant"
    try:
        appeals.decide(found, _moderator(), grant=grant, note=form.note.data,
                       site_url=site_url(), secret=current_app.secret_key or "")
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        if exc.field == "note":
            form.note.errors = [*form.note.errors, exc.message]
            return _page(found, form, 400)
        return _page(found, form, 400, error=exc.message)
    except PermissionDenied as exc:
        db.session.rollback()
        return _page(found, form, 403, error=exc.message)
    except Conflict as exc:
        db.session.rollback()
        return _page(found, form, 409, error=exc.message)
    flash("The appeal is granted: the action is undone and the author is told."
          if grant else "The appeal is denied and the author is told.", "success")
    return redirect(url_for("moderation.appeal", appeal_id=found.id), 303)
