"""Account recovery and proof of address: password reset, email verification, email
change, and registration that does not reveal which addresses have accounts.

Each flow mails a single-use link (``account_tokens``) and answers the person asking the
same way whether or not the address belongs to someone.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from webapp.extensions import db
from webapp.models import AccountToken, OutgoingMail, User
from webapp.models.base import utcnow
from webapp.services import account_tokens, accounts, mail
from webapp.services.audit import record_audit, record_security_event
from webapp.services.exceptions import ValidationFailed

# At most this many "someone tried to register with your address" mails per address
# an hour: the form can be submitted by anyone, the owner should not be flooded.
NOTICE_PER_HOUR = 1


def _recently_mailed(recipient: str, template: str, per_hour: int) -> bool:
    since = utcnow() - timedelta(hours=1)
    count = db.session.scalar(select(func.count(OutgoingMail.id)).where(
        OutgoingMail.recipient == recipient, OutgoingMail.template == template,
        OutgoingMail.created_at >= since))
    return (count or 0) >= per_hour


# --- password reset -----------------------------------------------------------------------

def request_password_reset(email: str, *, ip: str | None, site_url: str) -> None:
    """Mail a reset link when ``email`` is an active account's; nothing otherwise. The caller
    answers the same either way."""
    user = accounts.find_user_by_email(email)
    if user is None or user.status == "deleted":
        record_security_event("password_reset_requested", email=(email or "")[:254], ip=ip,
                              known=False)
        return
    raw = account_tokens.issue_token(user, "reset")
    mail.queue_mail("password_reset", user.email, user=user, site_url=site_url,
                    link=mail.absolute_url(site_url, "auth.reset_password", token=raw),
                    hours=account_tokens.hours("reset"))
    record_security_event("password_reset_requested", user=user, ip=ip)


def send_reset_link(user: User, *, actor: User | None, site_url: str) -> None:
    """Mail ``user`` a reset link on an admin's behalf (the console's "Send reset link");
    audited. ``accounts.issue_reset_link`` returns one to pass on instead."""
    raw = account_tokens.issue_token(user, "reset")
    mail.queue_mail("password_reset", user.email, user=user, site_url=site_url,
                    link=mail.absolute_url(site_url, "auth.reset_password", token=raw),
                    hours=account_tokens.hours("reset"))
    record_audit(actor, "user.reset_link", "user", user.id, {"mailed": [None, True]})
    record_security_event("password_reset_requested", user=user, actor=actor, by_admin=True)


def _token_user(raw: str, purpose: str) -> tuple[AccountToken, User]:
    """A live token and its user; a closed account's links open nothing."""
    token = account_tokens.find_token(raw, purpose)
    user = db.session.get(User, token.user_id)
    if user is None or user.status == "deleted":
        raise account_tokens.TokenInvalid("unknown")
    return token, user


def check_reset_token(raw: str) -> User:
    """The user a live reset link is for; raises ``TokenInvalid``."""
    return _token_user(raw, "reset")[1]


def reset_password(raw: str, new: str, *, ip: str | None, site_url: str) -> User:
    """Set the password through a reset link: the link is spent, every session ends, and
    the address counts as confirmed (the link reached it). Returns the user to sign in."""
    token, user = _token_user(raw, "reset")
    accounts.check_password_strength(new, user_inputs=(user.email, user.display_name))
    account_tokens.use_token(token)
    accounts.set_password(user, new, actor=user, ip=ip, kind="password_reset",
                          site_url=site_url)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    return user


# --- email verification -------------------------------------------------------------------

def send_verification(user: User, *, site_url: str, ip: str | None = None,
                      welcome: bool = False) -> None:
    """Mail ``user`` a link that confirms their address (and, for a new account, signs in)."""
    raw = account_tokens.issue_token(user, "verify")
    mail.queue_mail("verify_email", user.email, user=user, site_url=site_url, welcome=welcome,
                    link=mail.absolute_url(site_url, "auth.verify_email", token=raw),
                    hours=account_tokens.hours("verify"))
    record_security_event("email_verification_sent", user=user, actor=user, ip=ip)


def verify_email(raw: str, *, ip: str | None) -> User:
    """Confirm the address a verification link was sent to; returns its user."""
    token, user = _token_user(raw, "verify")
    account_tokens.use_token(token)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        record_audit(user, "user.verify_email", "user", user.id,
                     {"email_verified_at": [None, user.email_verified_at.isoformat()]})
        record_security_event("email_verified", user=user, actor=user, ip=ip)
    return user


# --- registration -------------------------------------------------------------------------

def register(email: str, password: str, *, display_name: str | None, ip: str | None,
             site_url: str) -> str:
    """Register ``email``, answering alike whether it is new or taken; the normalized
    address the link went to.

    New: the account is created and a welcome link (which confirms the address and signs
    in) is mailed. Taken: nothing changes and the owner is told by mail that someone tried.
    Input errors (a malformed address, a weak password) are raised before the address is
    looked up, so they say nothing about it either.
    """
    normalized = accounts.normalize_email(email)
    if display_name:
        display_name = accounts.clean_display_name(display_name)
    accounts.check_password_strength(password, user_inputs=(normalized, display_name))
    existing = accounts.find_user_by_email(normalized)
    if existing is not None:
        # The same work as a new account (a hash) so the answer takes as long.
        accounts.generate_password_hash(password)
        if existing.status != "deleted" and not _recently_mailed(
                existing.email, "register_existing", NOTICE_PER_HOUR):
            mail.queue_mail("register_existing", existing.email, user=existing,
                            site_url=site_url,
                            login_link=mail.absolute_url(site_url, "auth.login"),
                            forgot_link=mail.absolute_url(site_url, "auth.forgot_password"))
        return normalized
    user = accounts.create_user(normalized, password, display_name=display_name, ip=ip)
    send_verification(user, site_url=site_url, ip=ip, welcome=True)
    return normalized


# --- email change -------------------------------------------------------------------------

def _mask(address: str) -> str:
    """"a•••@example.org": enough for the owner to recognise, not to read."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def request_email_change(user: User, new_email: str, password: str, *, ip: str | None,
                         site_url: str) -> str:
    """Mail a confirmation link to ``new_email`` (and a notice to the current address);
    the address changes only when the link is opened. When ``new_email`` belongs to another
    account, nothing is mailed to it and the answer is the same. Returns the new address."""
    if not check_password_hash(user.password_hash, password or ""):
        raise ValidationFailed("The current password is not correct.", field="password")
    normalized = accounts.normalize_email(new_email)
    if normalized == user.email:
        raise ValidationFailed("This is already your address.", field="new_email")
    if accounts.find_user_by_email(normalized) is None:
        raw = account_tokens.issue_token(user, "email_change", new_email=normalized)
        mail.queue_mail("email_change_confirm", normalized, user=user, site_url=site_url,
                        link=mail.absolute_url(site_url, "auth.confirm_email_change",
                                               token=raw),
                        hours=account_tokens.hours("email_change"))
    mail.queue_mail("email_change_notice", user.email, user=user, site_url=site_url,
                    masked=_mask(normalized),
                    account_link=mail.absolute_url(site_url, "account.settings"))
    record_security_event("email_change_requested", user=user, actor=user, ip=ip,
                          new_email=normalized)
    return normalized


def confirm_email_change(raw: str, *, ip: str | None, site_url: str) -> User:
    """Move the account to the address the link was sent to (which proves it)."""
    token, user = _token_user(raw, "email_change")
    assert token.new_email  # always set for this purpose
    if accounts.find_user_by_email(token.new_email) is not None:
        raise account_tokens.TokenInvalid("taken")
    account_tokens.use_token(token)
    old = user.email
    user.email = token.new_email
    user.email_verified_at = utcnow()
    record_audit(user, "user.email", "user", user.id, {"email": [old, user.email]})
    record_security_event("email_changed", user=user, actor=user, ip=ip, before=old)
    mail.queue_mail("email_changed", old, user=user, site_url=site_url,
                    masked=_mask(user.email))
    return user
