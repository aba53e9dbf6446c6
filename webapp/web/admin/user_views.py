"""Users: the searchable list, one user's page, and the actions on an account.

Every action is a GET page that says what will happen and holds the form (the
confirmation, which works without JavaScript), and a POST that does it, audited by the
service, then back to the user's page, which offers the undo: "Change back" after a role
change, "Reactivate" after a suspension or ban.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models import User
from webapp.models.base import utcnow
from webapp.models.users import ROLES, STATUSES
from webapp.services import accounts, audit_log, sessions, user_admin
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.web.admin import bp
from webapp.web.admin.forms import BanForm, ConfirmForm, RoleForm, SuspendForm
from webapp.web.edge import id_arg
from webapp.web.times import viewer_time_zone

PAGE_SIZE = 50


def _actor() -> User:
    return current_user._get_current_object()


def _user(user_id: int) -> User:
    return accounts.get_user(user_id)


@bp.get("/users")
def users():
    q = request.args.get("q", "")
    role = request.args.get("role", "")
    status = request.args.get("status", "")
    before = request.args.get("before", type=id_arg)
    rows, next_before = user_admin.search_users(query=q, role=role, status=status,
                                                before=before, page_size=PAGE_SIZE)
    return render_template("admin/users.html", users=rows, q=q.strip(), role=role,
                           status=status, roles=ROLES, statuses=STATUSES, before=before,
                           next_before=next_before)


@bp.get("/users/<int:user_id>")
def user(user_id: int):
    person = _user(user_id)
    done = request.args.get("done", "")
    previous = request.args.get("previous", "")
    events = user_admin.security_events_of(person)
    return render_template(
        "admin/user.html", person=person, enrollments=user_admin.enrollments_of(person),
        events=events, sessions=user_admin.sessions_of(person),
        emails=audit_log.emails_of({person.id} | {ev.actor_id for ev in events}),
        describe_browser=sessions.describe_browser, now=utcnow(), done=done,
        previous=previous if previous in ROLES else "")


def _refused(template: str, form, exc: ValidationFailed | Conflict, **context):
    field = getattr(form, exc.field or "", None)
    if field is not None and exc.field != "csrf_token":
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)
    return render_template(template, form=form, **context), exc.status


def _invalid(template: str, form, **context):
    if "csrf_token" in form.errors:
        abort(400, "The form expired; reload the page and try again.")
    return render_template(template, form=form, **context), 400


@bp.route("/users/<int:user_id>/role", methods=["GET", "POST"])
def change_role(user_id: int):
    person = _user(user_id)
    form = RoleForm()
    if request.method == "GET":
        wanted = request.args.get("role", "")
        form.role.data = wanted if wanted in ROLES else person.role
        return render_template("admin/role.html", form=form, person=person)
    if not form.validate_on_submit():
        return _invalid("admin/role.html", form, person=person)
    before = person.role
    try:
        accounts.set_role(person, form.role.data, actor=_actor())
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        return _refused("admin/role.html", form, exc, person=person)
    if person.role == before:
        flash(f"{person.email} already has the role {before}.", "info")
        return redirect(url_for("admin.user", user_id=person.id), 303)
    flash(f"{person.email} is now {person.role} (was {before}).", "success")
    return redirect(url_for("admin.user", user_id=person.id, done="role", previous=before), 303)


def suspension_end(form: SuspendForm, zone: str, now: datetime) -> datetime | None:
    """When a suspension chosen on ``form`` ends: now plus the days chosen, the start of
    the chosen date in the admin's time zone, or None (until an admin lifts it)."""
    choice = form.duration.data
    if choice == "lifted":
        return None
    if choice == "custom":
        if form.until.data is None:
            raise ValidationFailed("Choose the date the suspension ends.", field="until")
        try:
            end = datetime.combine(form.until.data, time.min, tzinfo=ZoneInfo(zone))
        except (OverflowError, ValueError):
            raise ValidationFailed("Choose a date in the future.", field="until") from None
        if end <= now:
            raise ValidationFailed("Choose a date in the future.", field="until")
        return end
    return now + timedelta(days=int(choice))


@bp.route("/users/<int:user_id>/suspend", methods=["GET", "POST"])
def suspend(user_id: int):
    person = _user(user_id)
    form = SuspendForm()
    if request.method == "GET":
        # Changing a suspension starts from its reason (the end is chosen afresh).
        form.reason.data = person.status_reason if person.status == "suspended" else ""
        return render_template("admin/suspend.html", form=form, person=person)
    if not form.validate_on_submit():
        return _invalid("admin/suspend.html", form, person=person)
    try:
        until = suspension_end(form, viewer_time_zone(), utcnow())
        accounts.set_status(person, "suspended", actor=_actor(), reason=form.reason.data,
                            until=until, require_reason=True)
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        return _refused("admin/suspend.html", form, exc, person=person)
    flash(f"{person.email} is suspended and was signed out everywhere.", "success")
    return redirect(url_for("admin.user", user_id=person.id, done="suspended"), 303)


@bp.route("/users/<int:user_id>/ban", methods=["GET", "POST"])
def ban(user_id: int):
    person = _user(user_id)
    form = BanForm()
    if request.method == "GET":
        return render_template("admin/ban.html", form=form, person=person)
    if not form.validate_on_submit():
        return _invalid("admin/ban.html", form, person=person)
    try:
        accounts.set_status(person, "banned", actor=_actor(), reason=form.reason.data,
                            require_reason=True)
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        return _refused("admin/ban.html", form, exc, person=person)
    flash(f"{person.email} is banned and was signed out everywhere.", "success")
    return redirect(url_for("admin.user", user_id=person.id, done="banned"), 303)


@bp.route("/users/<int:user_id>/reactivate", methods=["GET", "POST"])
def reactivate(user_id: int):
    person = _user(user_id)
    form = ConfirmForm()
    if person.status == "deleted":
        abort(409, "This account was closed; it cannot be reactivated.")
    if request.method == "GET":
        return render_template("admin/reactivate.html", form=form, person=person)
    if not form.validate_on_submit():
        return _invalid("admin/reactivate.html", form, person=person)
    was = person.status
    accounts.set_status(person, "active", actor=_actor())
    db.session.commit()
    if was == "active":
        flash(f"{person.email} was already active.", "info")
    else:
        flash(f"{person.email} is active again and can sign in.", "success")
    return redirect(url_for("admin.user", user_id=person.id), 303)
