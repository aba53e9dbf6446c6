"""Account settings: display name and password."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from webapp.extensions import db
from webapp.services import accounts
from webapp.services.exceptions import ValidationFailed
from webapp.web import throttle
from webapp.web.account import bp
from webapp.web.account.forms import PasswordForm, ProfileForm


def _page(profile: ProfileForm | None = None, password: PasswordForm | None = None, status=200):
    profile = profile or ProfileForm(display_name=current_user.display_name)
    password = password or PasswordForm(formdata=None)
    return render_template("account/settings.html", profile=profile, password=password), status


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
            db.session.commit()
            # Every other session is now invalid; keep this one with the new version.
            login_user(user)
            flash("Your password is changed. Other devices have been signed out.", "success")
            return redirect(url_for("account.settings"), 303)
    return _page(password=form, status=400)
