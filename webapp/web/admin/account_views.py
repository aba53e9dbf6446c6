"""What an admin does for a person's account with the account services: a password
reset link (mailed to them, or shown to pass on), a download of everything held about
them, and closing the account by the same rules as the person's own "Close my account".

Each is a confirmation page (GET) and the action (POST), audited by the services.
"""

from __future__ import annotations

import json

from flask import Response, abort, flash, redirect, render_template, request, url_for
from wtforms import StringField
from wtforms.validators import DataRequired

from webapp.extensions import db
from webapp.services import account_data, accounts, recovery
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.web.admin import bp
from webapp.web.admin.forms import ConfirmForm
from webapp.web.admin.user_views import _actor, _invalid, _refused, _user
from webapp.web.site_address import site_url


class CloseForm(ConfirmForm):
    email = StringField("Type the account's email address to confirm",
                        validators=[DataRequired(message="Type the address to confirm.")])


def _open_account(user_id: int):
    person = _user(user_id)
    if person.status == "deleted":
        abort(409, "This account was closed: there is nothing to do with it.")
    return person


@bp.route("/users/<int:user_id>/reset-link", methods=["GET", "POST"])
def reset_link(user_id: int):
    person = _open_account(user_id)
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("admin/reset_link.html", form=form, person=person, link=None)
    if not form.validate_on_submit():
        return _invalid("admin/reset_link.html", form, person=person, link=None)
    if request.form.get("how") == "show":
        link = accounts.issue_reset_link(person, actor=_actor(), site_url=site_url())
        db.session.commit()
        # Shown once, on this response only (never stored in a flash or the log).
        response = Response(render_template("admin/reset_link.html", form=ConfirmForm(),
                                            person=person, link=link))
        response.headers["Cache-Control"] = "no-store"
        return response
    recovery.send_reset_link(person, actor=_actor(), site_url=site_url())
    db.session.commit()
    flash(f"A password reset link is on its way to {person.email}; it works once, "
          "for an hour.", "success")
    return redirect(url_for("admin.user", user_id=person.id), 303)


@bp.route("/users/<int:user_id>/export", methods=["GET", "POST"])
def export(user_id: int):
    person = _user(user_id)
    form = ConfirmForm()
    if request.method == "GET":
        return render_template("admin/export.html", form=form, person=person)
    if not form.validate_on_submit():
        return _invalid("admin/export.html", form, person=person)
    document = account_data.export_user(person, actor=_actor(), ip=request.remote_addr)
    db.session.commit()
    body = json.dumps(document, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition":
            f'attachment; filename="{account_data.export_filename(person)}"',
        "Cache-Control": "no-store",
    })


@bp.route("/users/<int:user_id>/close", methods=["GET", "POST"])
def close(user_id: int):
    person = _open_account(user_id)
    form = CloseForm()
    if person.id == _actor().id:
        # One's own account closes on the account page, which asks for the password.
        return render_template("admin/close.html", form=form, person=person, own=True), \
            200 if request.method == "GET" else 409
    if request.method == "GET":
        return render_template("admin/close.html", form=form, person=person)
    if not form.validate_on_submit():
        return _invalid("admin/close.html", form, person=person)
    if (form.email.data or "").strip().lower() != person.email:
        form.email.errors = [*form.email.errors,
                             f"Type {person.email} exactly, to be sure it is this account."]
        return render_template("admin/close.html", form=form, person=person), 400
    email = person.email
    try:
        account_data.close_account(person, actor=_actor(), ip=request.remote_addr)
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        return _refused("admin/close.html", form, exc, person=person)
    flash(f"The account of {email} is closed: its own data is deleted and it is shown "
          f"as “{person.display_name}” from now on.", "success")
    return redirect(url_for("admin.user", user_id=person.id), 303)
