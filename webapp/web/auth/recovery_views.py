"""Forgot password, reset links, email verification and email change.

Every form here that mails something answers alike for addresses with and without an
account, and is rate-limited per client address and per email address (``limits``).
Links carry a token in the path; the pages that open them do nothing on GET but show a
button, so a mail scanner that follows links spends no token.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.services import account_tokens, accounts, recovery
from webapp.services.account_tokens import TokenInvalid
from webapp.services.exceptions import ValidationFailed
from webapp.web.auth import bp, limits
from webapp.web.auth.recovery_forms import (
    EmailChangeForm,
    ForgotPasswordForm,
    ResetPasswordForm,
)
from webapp.web.auth.views import _start_session, safe_next
from webapp.web.forms import ActionForm
from webapp.web.site_address import site_url

# What a link that no longer works says, and where it sends the reader instead.
INVALID = {
    "unknown": "This link is not valid. Check that it was copied whole, or ask for a new one.",
    "used": "This link was already used. Each link works once: ask for a new one.",
    "expired": "This link has expired. Ask for a new one.",
    "taken": "That address now belongs to another account, so it cannot be moved to yours.",
}


def _private(response):
    # The token is in the address: keep it out of caches and other sites' Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invalid_link(exc: TokenInvalid, kind: str):
    status = 404 if exc.reason == "unknown" else 410
    return _private(make_response(render_template(
        "auth/link_invalid.html", message=INVALID.get(exc.reason, INVALID["unknown"]),
        kind=kind), status))


def _too_many(form_field, wait: int, template: str, **context):
    form_field.errors.append(
        f"Too many requests. Try again in about {limits.minutes(wait)}.")
    response = make_response(render_template(template, **context), 429)
    response.headers["Retry-After"] = str(wait)
    return response


# --- forgot password ----------------------------------------------------------------------

@bp.route("/forgot-password", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("auth/forgot_password.html", form=form), \
            400 if form.is_submitted() else 200
    try:
        email = accounts.normalize_email(form.email.data)
    except ValidationFailed as exc:
        form.email.errors.append(exc.message)
        return render_template("auth/forgot_password.html", form=form), 400
    wait = limits.hit("forgot", email)
    if wait is not None:
        return _too_many(form.email, wait, "auth/forgot_password.html", form=form)
    recovery.request_password_reset(email, ip=request.remote_addr, site_url=site_url())
    db.session.commit()
    return render_template("auth/check_email.html", email=email, purpose="reset")


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    try:
        user = recovery.check_reset_token(token)
    except TokenInvalid as exc:
        return _invalid_link(exc, "reset")
    form = ResetPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = recovery.reset_password(token, form.password.data, ip=request.remote_addr,
                                           site_url=site_url())
        except TokenInvalid as exc:
            db.session.rollback()
            return _invalid_link(exc, "reset")
        except ValidationFailed as exc:
            db.session.rollback()
            form.password.errors.append(exc.message)
            status = 400
        else:
            db.session.commit()
            if not user.is_active:
                flash("Your password is changed, but this account is "
                      f"{user.status}: it cannot sign in.", "info")
                return redirect(url_for("auth.login"), 303)
            _start_session(user)
            flash("Your password is changed and you are signed in. Every other browser "
                  "signed in to your account was signed out.", "success")
            return redirect(url_for("learn.dashboard"), 303)
    elif form.is_submitted():
        status = 400
    return _private(make_response(
        render_template("auth/reset_password.html", form=form, user=user, token=token), status))


# --- email verification -------------------------------------------------------------------

@bp.route("/verify-email/<token>", methods=["GET", "POST"])
def verify_email(token: str):
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            user = recovery.verify_email(token, ip=request.remote_addr)
        except TokenInvalid as exc:
            db.session.rollback()
            return _invalid_link(exc, "verify")
        db.session.commit()
        # The link proves the mailbox, so it signs in a new account's owner; someone
        # already signed in (as this user or another) stays as they are.
        if user.is_active and not current_user.is_authenticated:
            _start_session(user)
        flash("Thank you: your email address is confirmed.", "success")
        return redirect(url_for("learn.dashboard"), 303)
    try:
        account_tokens.find_token(token, "verify")
    except TokenInvalid as exc:
        return _invalid_link(exc, "verify")
    status = 400 if form.is_submitted() else 200
    return _private(make_response(render_template(
        "auth/confirm_link.html", form=form, title="Confirm your email address",
        action=url_for("auth.verify_email", token=token), button="Confirm my address",
        text="Press the button to confirm that this address is yours. "
             "You will be signed in."), status))


@bp.post("/account/verify-email/resend")
@login_required
def resend_verification():
    form = ActionForm()
    back = safe_next(request.form.get("next"), "account.settings")
    if not form.validate_on_submit():
        return redirect(back, 303)
    if current_user.email_verified_at is not None:
        flash("Your email address is already confirmed.", "info")
        return redirect(back, 303)
    wait = limits.hit("verify-resend", current_user.email)
    if wait is not None:
        flash(f"We sent several links already. Try again in about {limits.minutes(wait)}.",
              "error")
        return redirect(back, 303)
    recovery.send_verification(current_user._get_current_object(), site_url=site_url(),
                               ip=request.remote_addr)
    db.session.commit()
    flash(f"We sent a new link to {current_user.email}. It works for 48 hours.", "success")
    return redirect(back, 303)


# --- email change -------------------------------------------------------------------------

@bp.post("/account/email")
@login_required
def change_email():
    form = EmailChangeForm(prefix="email")
    if form.validate_on_submit():
        wait = limits.hit("email-change", current_user.email)
        if wait is not None:
            return _too_many(form.new_email, wait, "account/email_change.html", form=form)
        try:
            new = recovery.request_email_change(
                current_user._get_current_object(), form.new_email.data, form.password.data,
                ip=request.remote_addr, site_url=site_url())
        except ValidationFailed as exc:
            db.session.rollback()
            field = "new_email" if exc.field in (None, "email") else exc.field
            getattr(form, field, form.new_email).errors.append(exc.message)
        else:
            db.session.commit()
            flash(f"We sent a link to {new}. Your address changes when you open it "
                  "(within 24 hours).", "success")
            return redirect(url_for("account.settings"), 303)
    return render_template("account/email_change.html", form=form), 400


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
def confirm_email_change(token: str):
    form = ActionForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            user = recovery.confirm_email_change(token, ip=request.remote_addr,
                                                 site_url=site_url())
        except TokenInvalid as exc:
            db.session.rollback()
            return _invalid_link(exc, "email_change")
        db.session.commit()
        flash(f"Your account now uses {user.email}. Sign in with it from now on.", "success")
        return redirect(url_for("account.settings" if current_user.is_authenticated
                                else "auth.login"), 303)
    try:
        token_row = account_tokens.find_token(token, "email_change")
    except TokenInvalid as exc:
        return _invalid_link(exc, "email_change")
    status = 400 if form.is_submitted() else 200
    return _private(make_response(render_template(
        "auth/confirm_link.html", form=form, title="Confirm your new email address",
        action=url_for("auth.confirm_email_change", token=token), button="Use this address",
        text=f"Press the button to make {token_row.new_email} the address of your account. "
             "You will sign in with it from then on."), status))
