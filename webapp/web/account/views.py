"""Account settings: display name, password, and the devices signed in."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.services import accounts, sessions
from webapp.services.exceptions import ValidationFailed
from webapp.settings import get_settings
from webapp.web import throttle
from webapp.web.account import bp
from webapp.web.account.forms import PasswordForm, ProfileForm, TimeZoneForm
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.times import local_time, time_zone_choices


def _page(profile: ProfileForm | None = None, password: PasswordForm | None = None,
          zone: TimeZoneForm | None = None, status=200):
    profile = profile or ProfileForm(display_name=current_user.display_name)
    password = password or PasswordForm(formdata=None)
    zone = zone or TimeZoneForm(formdata=None, time_zone=current_user.time_zone or "")
    zone.time_zone.choices = time_zone_choices(get_settings(current_app).time_zone)
    zone.time_zone.description = Markup(
        "Every page shows times in this zone. Now it is {}.").format(
            local_time(utcnow()))
    token = session.get("sid")
    devices = [(row, sessions.describe_browser(row.user_agent), sessions.is_current(row, token))
               for row in sessions.list_sessions(current_user)]
    return render_template("account/settings.html", profile=profile, password=password,
                           zone=zone, devices=devices, sign_out_form=ActionForm()), status


@bp.get("/")
@login_required
def settings():
    return _page()


@bp.post("/profile")
@login_required
def update_profile():
    form = ProfileForm()
    if form.validate_on_submit():
        try:
            accounts.update_profile(current_user, display_name=form.display_name.data)
        except ValidationFailed as exc:
            form.display_name.errors.append(exc.message)
        else:
            db.session.commit()
            flash("Your display name is saved.", "success")
            return redirect(url_for("account.settings"), 303)
    return _page(profile=form, status=400)


@bp.post("/time-zone")
@login_required
def update_time_zone():
    form = TimeZoneForm()
    if form.validate_on_submit():
        try:
            accounts.set_time_zone(current_user, form.time_zone.data or "")
        except ValidationFailed as exc:
            form.time_zone.errors = [exc.message]
        else:
            db.session.commit()
            chosen = current_user.time_zone
            flash(f"Times are now shown in {chosen}." if chosen else
                  f"Times now follow the site's time zone "
                  f"({get_settings(current_app).time_zone}).", "success")
            return redirect(url_for("account.settings"), 303)
    return _page(zone=form, status=400)


@bp.post("/sessions/end")
@login_required
def sign_out_everywhere():
    """End every session of this account, on every device, this one included."""
    valid_or_400(ActionForm())
    user = current_user._get_current_object()
    ended = sessions.sign_out_everywhere(user, ip=request.remote_addr)
    db.session.commit()
    logout_user()
    session.clear()
    flash(f"You are signed out on every device ({ended} session{'s' if ended != 1 else ''}).",
          "info")
    return redirect(url_for("auth.login"), 303)


@bp.post("/password")
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        # Wrong current passwords count against the same per-account budget as failed
        # sign-ins, so a hijacked session cannot be used to guess the password.
        attempt = throttle.attempt_for(user.email)
        wait = throttle.retry_after(attempt)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            form.current_password.errors.append(
                f"Too many wrong passwords. Try again in about {minutes} minute"
                f"{'s' if minutes != 1 else ''}."
            )
            page, _status = _page(password=form)
            return page, 429, {"Retry-After": str(wait)}
        try:
            accounts.change_password(
                user, form.current_password.data, form.new_password.data, ip=request.remote_addr
            )
        except ValidationFailed as exc:
            if exc.field == "current_password":
                throttle.record_failure(attempt)
            getattr(form, exc.field or "new_password").errors.append(exc.message)
        else:
            sessions.end_sessions(user, keep_token=session.get("sid"))
            db.session.commit()
            # Every other session is now invalid; keep this one with the new version.
            login_user(user)
            flash("Your password is changed. Other devices have been signed out.", "success")
            return redirect(url_for("account.settings"), 303)
    return _page(password=form, status=400)
