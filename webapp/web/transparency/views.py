"""The transparency report (``/transparency`` and its CSV) and the author's appeal pages:
``/appeals/actions/<id>`` for a signed-in author, ``/appeals/signed/<token>`` for a
suspended or banned one (the link the sign-in page and the email give them)."""

from __future__ import annotations

import csv
import io

from flask import Response, abort, current_app, render_template, request
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length

from webapp.extensions import db
from webapp.models import ModerationAction, User
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.moderation import appeals, transparency
from webapp.services.moderation.notices import REASON_LABELS
from webapp.web.forms import FORM_EXPIRED
from webapp.web.transparency import bp


class AppealForm(FlaskForm):
    body = TextAreaField(
        "Your appeal", validators=[Length(max=appeals.APPEAL_MAX,
                                          message=f"Use at most {appeals.APPEAL_MAX:,} "
                                                  "characters.")],
        description="Say why you think the decision was wrong. A moderator who did not take "
                    f"it will decide. At most {appeals.APPEAL_MAX:,} characters; you can "
                    "appeal once.")


@bp.get("/transparency")
def report():
    data = transparency.build()
    return render_template("transparency/report.html", report=data,
                           labels=transparency.ACTION_LABELS, reason_labels=REASON_LABELS,
                           median=transparency.duration_words(data.median_seconds))


@bp.get("/transparency.csv")
def report_csv():
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(transparency.CSV_HEADER)
    writer.writerows(transparency.build().csv_rows())
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="moderation-transparency.csv"'})


def _appeal_page(user: User, action: ModerationAction, post_url: str):
    form = AppealForm()
    existing = appeals.appeal_of(action)
    status, error = 200, ""
    if request.method == "POST" and existing is None:
        if not form.validate_on_submit():
            if "csrf_token" in form.errors:
                abort(400, FORM_EXPIRED)
            status = 400
        else:
            try:
                existing = appeals.file(user, action, form.body.data)
                db.session.commit()
                status = 201
            except ValidationFailed as exc:
                db.session.rollback()
                form.body.errors = [*form.body.errors, exc.message]
                status = 400
            except Conflict as exc:
                db.session.rollback()
                existing, error, status = appeals.appeal_of(action), exc.message, 409
    elif request.method == "POST":
        error, status = ("You have already appealed this decision; each decision can be "
                         "appealed once."), 409
    return render_template(
        "transparency/appeal.html", action=action, appeal=existing, form=form,
        post_url=post_url, words=appeals.ACTION_WORDS.get(action.action, "A decision"),
        reason=REASON_LABELS.get(action.reason, ""), error=error,
        just_sent=status == 201), 200 if status == 201 else status


@bp.route("/appeals/actions/<int:action_id>", methods=["GET", "POST"])
@login_required
def appeal_new(action_id: int):
    user = current_user._get_current_object()  # type: ignore[attr-defined]
    action = appeals.action_for_author(user, action_id)
    return _appeal_page(user, action, request.path)


@bp.route("/appeals/signed/<token>", methods=["GET", "POST"])
def appeal_signed(token: str):
    user, action = appeals.read_token(token[:1000], current_app.secret_key or "")
    return _appeal_page(user, action, request.path)
