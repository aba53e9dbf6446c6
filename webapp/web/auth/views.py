"""Register, sign in and sign out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from webapp.database import run_in_transaction
from webapp.extensions import db
from webapp.services import accounts, recovery, sessions
from webapp.services.audit import record_security_event
from webapp.services.exceptions import ValidationFailed
from webapp.services.moderation import appeals as moderation_appeals
from webapp.web import throttle
from webapp.web.auth import bp, limits
from webapp.web.auth.blocked import blocked_message
from webapp.web.auth.forms import LoginForm, LogoutForm, RegisterForm
from webapp.web.site_address import site_url


def safe_next(target: str | None, default: str = "learn.dashboard") -> str:
    """Only same-site relative paths; anything else goes to ``default`` (after sign-in,
    the dashboard: what to continue)."""
    if not target:
        return url_for(default)
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return url_for(default)
    return target


def _start_session(user) -> None:
    # A fresh session at sign-in: nothing from before survives (session fixation), and
    # a server-side row that signing out deletes (sessions.py).
    session.clear()
    session["sid"] = sessions.start_session(user, user_agent=request.user_agent.string,
                                           ip=request.remote_addr)
    db.session.commit()
    login_user(user)


@bp.route("/register", methods=["GET", "POST"])
def register():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = RegisterForm()
    status = 200
    if form.validate_on_submit():
        wait = limits.hit("register")
        if wait is not None:
            form.email.errors.append(
                f"Too many accounts from here. Try again in about {limits.minutes(wait)}.")
            return render_template("auth/register.html", form=form), 429
        try:
            # The same answer for a new and a taken address (the owner of a taken one is
            # told by mail): the page never says which addresses have accounts.
            email = run_in_transaction(
                db.session,
                lambda: recovery.register(
                    form.email.data, form.password.data,
                    display_name=form.display_name.data or None, ip=request.remote_addr,
                    site_url=site_url(),
                ),
            )
        except ValidationFailed as exc:
            getattr(form, exc.field or "email").errors.append(exc.message)
            status = exc.status
        else:
            return render_template("auth/check_email.html", email=email, purpose="register")
    elif form.is_submitted():
        status = 400
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("main.index"))
    form = LoginForm(next=request.args.get("next", ""))
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form), 400 if form.is_submitted() else 200

    attempt = throttle.attempt_for(form.email.data)
    wait = throttle.retry_after(attempt)
    if wait is not None:
        record_security_event("login_throttled", email=attempt.email[:254], ip=attempt.ip,
                              retry_after=wait)
        db.session.commit()
        minutes = max(1, round(wait / 60))
        form.email.errors.append(
            f"Too many failed sign-ins. Try again in about {minutes} minute"
            f"{'s' if minutes != 1 else ''}, or choose a new one with “Forgot your password?”"
            " below."
        )
        response = make_response(render_template("auth/login.html", form=form), 429)
        response.headers["Retry-After"] = str(wait)
        return response

    user = accounts.authenticate(form.email.data, form.password.data)
    if user is None:
        throttle.record_failure(attempt)
        record_security_event("login_failed", email=attempt.email[:254], ip=attempt.ip)
        db.session.commit()
        form.password.errors.append("That email and password do not match an account.")
        return render_template("auth/login.html", form=form), 400
    # A suspension that has run out ends here, at the first sign-in after it (audited as
    # an automatic reactivation): a suspended user has no open session, so no other
    # request meets them before this one.
    if not user.is_active and not accounts.lift_expired_suspension(user):
        record_security_event("login_blocked", user=user, email=attempt.email[:254],
                              ip=attempt.ip, status=user.status)
        db.session.commit()
        appeal = moderation_appeals.sign_in_appeal(user, current_app.secret_key or "")
        form.email.errors.append(blocked_message(user, *(appeal or (None, False))))
        return render_template("auth/login.html", form=form), 403

    accounts.record_login(user, ip=attempt.ip)
    db.session.commit()
    throttle.clear_account(attempt)
    _start_session(user)
    response = redirect(safe_next(form.next.data), 303)
    throttle.remember_device(response, user.email)
    return response


@bp.post("/logout")
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("main.index"), 303)
    if current_user.is_authenticated:
        record_security_event("logout", user=current_user._get_current_object(),
                              ip=request.remote_addr)
    sessions.end_session(session.get("sid"))
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("main.index"), 303)
