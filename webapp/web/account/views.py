"""Account settings: profile and password, the devices signed in, notification
preferences, and the person's data (export, closing the account)."""

from __future__ import annotations

import json
import math
import time

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from limits import RateLimitItem, parse
from markupsafe import Markup

from webapp.errors import render_error
from webapp.extensions import db, limiter
from webapp.models.base import utcnow
from webapp.services import account_data, accounts, notification_prefs, sessions
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.settings import get_settings
from webapp.web import throttle
from webapp.web.account import bp
from webapp.web.account.forms import (
    DeleteAccountForm,
    PasswordForm,
    ProfileForm,
    TimeZoneForm,
    notifications_form,
)
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.times import local_time, time_zone_choices

# Per account: an export reads every row a person has; a few a day are plenty.
EXPORT_LIMIT: RateLimitItem = parse("5 per hour")


def _page(profile: ProfileForm | None = None, password: PasswordForm | None = None,
          zone: TimeZoneForm | None = None, status=200):
    profile = profile or ProfileForm(display_name=current_user.display_name)
    password = password or PasswordForm(formdata=None)
    zone = zone or TimeZoneForm(formdata=None, time_zone=current_user.time_zone or "")
    zone.time_zone.choices = time_zone_choices(get_settings(current_app).time_zone)
    zone.time_zone.description = Markup(
        "Every page shows times in this zone. Now it is {}.").format(
            local_time(utcnow()))
    return render_template("account/settings.html", profile=profile, password=password,
                           zone=zone), status


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


@bp.get("/sessions")
@login_required
def sessions_page():
    """Where this account is signed in: newest first, the first ``LISTED_SESSIONS``."""
    token = session.get("sid")
    rows = sessions.list_sessions(current_user)
    total = len(rows) if len(rows) < sessions.LISTED_SESSIONS else \
        sessions.count_sessions(current_user)
    devices = [(row, sessions.describe_browser(row.user_agent), sessions.is_current(row, token))
               for row in rows]
    return render_template("account/sessions.html", devices=devices,
                           unlisted=total - len(rows), sign_out_form=ActionForm())


@bp.post("/sessions/<int:session_id>/end")
@login_required
def end_session(session_id: int):
    """Sign out one device (this one too, when it is the one named)."""
    valid_or_400(ActionForm())
    user = current_user._get_current_object()
    ended = sessions.end_user_session(user, session_id, actor=user, ip=request.remote_addr)
    db.session.commit()
    if sessions.is_current(ended, session.get("sid")):
        logout_user()
        session.clear()
        flash("You are signed out on this device.", "info")
        return redirect(url_for("auth.login"), 303)
    flash("That device is signed out: it will need the password again.", "success")
    return redirect(url_for("account.sessions_page"), 303)


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


@bp.route("/notifications", methods=["GET", "POST"])
@login_required
def notifications():
    """How each kind of notification reaches this account."""
    user = current_user._get_current_object()
    form = notifications_form(notification_prefs.preferences(user))
    status = 200
    if form.validate_on_submit():
        chosen = {kind.key: form[kind.key].data for kind in notification_prefs.KINDS}
        try:
            changed = notification_prefs.set_preferences(user, chosen, actor=user)
        except ValidationFailed as exc:
            # The form's choices are the service's; this is a safety net.
            form.form_errors.append(exc.message)
            status = 400
        else:
            db.session.commit()
            flash("Your notification choices are saved." if changed else
                  "Nothing changed.", "success" if changed else "info")
            return redirect(url_for("account.notifications"), 303)
    elif form.is_submitted():
        status = 400
    return render_template("account/notifications.html", form=form,
                           kinds=notification_prefs.KINDS), status


@bp.get("/data")
@login_required
def data():
    """What the export holds and what closing the account does."""
    return render_template("account/data.html", export_form=ActionForm())


def _export_wait(user_id: int) -> int | None:
    """Count one export for ``user_id``; seconds to wait when over ``EXPORT_LIMIT``."""
    strategy = limiter.limiter
    key = (current_app.config["RATELIMIT_KEY_PREFIX"], "account-export", str(user_id))
    if strategy.hit(EXPORT_LIMIT, *key):
        return None
    stats = strategy.get_window_stats(EXPORT_LIMIT, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))


@bp.post("/data/export")
@login_required
def export():
    """Download everything Tangent holds about this account, as a JSON file."""
    valid_or_400(ActionForm())
    user = current_user._get_current_object()
    wait = _export_wait(user.id)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        return render_error(429, f"You downloaded your data several times in the last hour. "
                                 f"Try again in about {minutes} minute"
                                 f"{'s' if minutes != 1 else ''}.",
                            headers={"Retry-After": str(wait)})
    document = account_data.export_user(user, actor=user, ip=request.remote_addr)
    db.session.commit()
    body = json.dumps(document, ensure_ascii=False, indent=2)
    filename = account_data.export_filename(user)
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })


@bp.route("/delete", methods=["GET", "POST"])
@login_required
def delete():
    """Close this account, after the password, on a page that states the rules."""
    user = current_user._get_current_object()
    form = DeleteAccountForm()
    status = 200
    if form.validate_on_submit():
        attempt = throttle.attempt_for(user.email)
        wait = throttle.retry_after(attempt)
        if wait is not None:
            minutes = max(1, round(wait / 60))
            form.password.errors.append(
                f"Too many wrong passwords. Try again in about {minutes} minute"
                f"{'s' if minutes != 1 else ''}.")
            return render_template("account/delete.html", form=form), 429, \
                {"Retry-After": str(wait)}
        try:
            account_data.close_account(user, actor=user, password=form.password.data,
                                       ip=request.remote_addr)
        except ValidationFailed as exc:
            db.session.rollback()
            throttle.record_failure(attempt)
            form.password.errors.append(exc.message)
            status = 400
        except Conflict as exc:
            db.session.rollback()
            form.password.errors.append(exc.message)
            status = exc.status
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your account is closed and your data deleted. Thank you for learning "
                  "with Tangent.", "info")
            return redirect(url_for("main.index"), 303)
    elif form.is_submitted():
        status = 400
    return render_template("account/delete.html", form=form), status
