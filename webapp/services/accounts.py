"""Accounts: registration, authentication, passwords, roles and status."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash
from zxcvbn import zxcvbn

from webapp.extensions import db
from webapp.models import User
from webapp.models.base import utcnow
from webapp.models.users import ROLES, STATUSES
from webapp.services import account_tokens, mail
from webapp.services.audit import delta_of, record_audit, record_security_event
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from webapp.services.sessions import end_sessions
from webapp.settings import TIME_ZONE_MAX, is_time_zone

PASSWORD_MIN = 10
PASSWORD_MAX = 256
# zxcvbn's score (0-4) a password needs: 3 is "safely unguessable: moderate protection
# from offline slow-hash scenario".
PASSWORD_SCORE = 3
PASSWORD_HINT = ("At least 10 characters, not easy to guess. A phrase of four or five "  # noqa: S105
                 "unrelated words is strong and easy to remember.")
NAME_MAX = 80
# Compared against when the account does not exist, so that a failed login
# takes as long as one against a real account (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash("tangent-timing-equalizer")


def normalize_email(raw: str) -> str:
    """Validated, lower-cased email; raises ``ValidationFailed`` with a readable reason."""
    raw = (raw or "").strip()
    if not raw:
        raise ValidationFailed("Enter your email address.", field="email")
    try:
        checked = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(str(exc), field="email") from None
    return checked.normalized.lower()


class VerificationRequired(PermissionDenied):
    """The site asks for a confirmed email address before this (enrolling, posting)."""


def check_password_strength(password: str, *, field: str = "password",
                            user_inputs: tuple[str | None, ...] = ()) -> None:
    """Refuse short, common and guessable passwords, with zxcvbn's own advice.

    ``user_inputs`` (the email, the display name) count as guessable: a password made of
    them is refused too.
    """
    if len(password) < PASSWORD_MIN:
        raise ValidationFailed(f"Use at least {PASSWORD_MIN} characters.", field=field)
    if len(password) > PASSWORD_MAX:
        raise ValidationFailed(f"Use at most {PASSWORD_MAX} characters.", field=field)
    inputs = [part for value in user_inputs if value
              for part in (value, *value.replace("@", " ").replace(".", " ").split())]
    result = zxcvbn(password, user_inputs=inputs)
    if result["score"] >= PASSWORD_SCORE:
        return
    feedback = result["feedback"]
    advice = " ".join(part for part in (feedback.get("warning") or "", *feedback.get(
        "suggestions", [])) if part)
    raise ValidationFailed(
        "This password is too easy to guess. " + (advice or "Add another word or two: "
                                                  "uncommon words are better."),
        field=field)


def require_verified(user: User, *, required: bool) -> None:
    """Raise ``VerificationRequired`` when the site asks for a confirmed address
    (``required``, from TANGENT_EMAIL_VERIFICATION) and ``user`` has not confirmed theirs."""
    if required and user.email_verified_at is None:
        raise VerificationRequired(
            "Confirm your email address first: open the link we mailed to "
            f"{user.email}, or send a new one.")


def issue_reset_link(user: User, *, actor: User | None, site_url: str) -> str:
    """A password-reset link for ``user`` that an admin passes on (or the CLI prints);
    the link works once, for an hour. Audited; nothing is mailed."""
    raw = account_tokens.issue_token(user, "reset")
    record_audit(actor, "user.reset_link", "user", user.id, {})
    record_security_event("password_reset_requested", user=user, actor=actor, by_admin=True)
    return mail.absolute_url(site_url, "auth.reset_password", token=raw)


def clean_display_name(raw: str) -> str:
    name = unicodedata.normalize("NFC", (raw or "").strip())
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    if not name:
        raise ValidationFailed("Enter a display name.", field="display_name")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"Use at most {NAME_MAX} characters.", field="display_name")
    return name


def find_user_by_email(email: str) -> User | None:
    try:
        normalized = normalize_email(email)
    except ValidationFailed:
        return None
    return db.session.scalar(select(User).where(User.email == normalized))


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def create_user(
    email: str,
    password: str,
    *,
    display_name: str | None = None,
    role: str = "learner",
    actor: User | None = None,
    ip: str | None = None,
) -> User:
    """Create an account; raises ``Conflict`` when the email is taken."""
    normalized = normalize_email(email)
    check_password_strength(password, user_inputs=(normalized, display_name))
    if role not in ROLES:
        raise ValidationFailed(f"Role must be one of {', '.join(ROLES)}.", field="role")
    name = clean_display_name(display_name or normalized.split("@", 1)[0])
    taken = select(User.id).where(User.email == normalized)
    if db.session.scalar(taken) is not None:
        raise Conflict("An account with this email already exists.", field="email")
    user = User(
        email=normalized,
        display_name=name,
        role=role,
        password_hash=generate_password_hash(password),
    )
    try:
        # A savepoint: if a concurrent registration took the email since the
        # check above (possible on PostgreSQL), the caller's transaction survives
        # and gets the same Conflict as a plain duplicate.
        with db.session.begin_nested():
            db.session.add(user)
    except IntegrityError:
        if db.session.scalar(taken) is None:
            raise
        raise Conflict("An account with this email already exists.", field="email") from None
    record_audit(actor or user, "user.create", "user", user.id, {"email": [None, normalized],
                                                                   "role": [None, role]})
    record_security_event("registered", user=user, actor=actor, ip=ip)
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user whose email and password match, or None. Constant work either way."""
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def record_login(user: User, *, ip: str | None) -> None:
    user.last_login_at = utcnow()
    record_security_event("login_succeeded", user=user, ip=ip)


def change_password(user: User, current: str, new: str, *, ip: str | None = None) -> None:
    """Change the password after checking the current one; ends every other session."""
    if not check_password_hash(user.password_hash, current):
        raise ValidationFailed("The current password is not correct.", field="current_password")
    check_password_strength(new, field="new_password",
                            user_inputs=(user.email, user.display_name))
    if current == new:
        raise ValidationFailed("Choose a password different from the current one.",
                               field="new_password")
    user.password_hash = generate_password_hash(new)
    user.session_version += 1
    record_audit(user, "user.password", "user", user.id, {"password": ["***", "***"]})
    record_security_event("password_changed", user=user, actor=user, ip=ip)


def update_profile(user: User, *, display_name: str) -> None:
    name = clean_display_name(display_name)
    delta = delta_of({"display_name": user.display_name}, {"display_name": name})
    if not delta:
        return
    user.display_name = name
    record_audit(user, "user.update", "user", user.id, delta)


def set_time_zone(user: User, zone: str) -> None:
    """Show ``user`` times in ``zone``, an IANA time zone name ("Europe/Paris"), or in the
    site's zone when ``zone`` is empty. Anything else is refused with the reason."""
    zone = (zone or "").strip()
    if zone and not is_time_zone(zone):
        shown = "".join(ch for ch in zone[:TIME_ZONE_MAX] if ch.isprintable())
        raise ValidationFailed(
            f"“{shown}” is not a time zone name. Choose one from the list (names such as "
            "Europe/Paris or America/New_York, spelled as in the IANA time zone database).",
            field="time_zone")
    value = zone or None
    if value == user.time_zone:
        return
    record_audit(user, "user.update", "user", user.id, {"time_zone": [user.time_zone, value]})
    user.time_zone = value


def _change_choice(user: User, field: str, value: str, allowed: tuple[str, ...]) -> str | None:
    """Set one of ``user``'s fixed-choice fields; the value before, or None if unchanged."""
    if value not in allowed:
        raise ValidationFailed(f"{field.capitalize()} must be one of {', '.join(allowed)}.",
                               field=field)
    before = getattr(user, field)
    if value == before:
        return None
    setattr(user, field, value)
    return before


STATUS_REASON_MAX = 500


def _refuse_losing_the_last_admin(user: User, *, role: str, status: str) -> None:
    """``Conflict`` when ``user`` is the only active admin and would stop being one: the
    site must never be left without someone who can run it (yourself included).

    The active admins' rows are locked (PostgreSQL) so that two admins demoting each
    other at the same moment cannot both pass this check; SQLite serializes writers."""
    if not (user.role == "admin" and user.status == "active"):
        return
    if role == "admin" and status == "active":
        return
    admins = db.session.scalars(
        select(User.id).where(User.role == "admin", User.status == "active")
        .order_by(User.id).with_for_update()).all()
    if set(admins) <= {user.id}:
        raise Conflict("This is the only active admin: make another account an admin first, "
                       "so that the site is never left without one.", field="role")


def set_role(user: User, role: str, *, actor: User | None) -> None:
    """Change a user's role (admins only at the call sites); never the last admin's."""
    if role in ROLES:
        _refuse_losing_the_last_admin(user, role=role, status=user.status)
    before = _change_choice(user, "role", role, ROLES)
    if before is None:
        return
    record_audit(actor, "user.role", "user", user.id, {"role": [before, role]})
    record_security_event("role_changed", user=user, actor=actor, before=before, after=role)


def set_status(user: User, status: str, *, actor: User | None, reason: str = "",
               until: datetime | None = None, require_reason: bool = False) -> None:
    """Activate, suspend or ban; suspension and ban end every session at once.

    ``reason`` is shown to the user at sign-in; a suspension with ``until`` ends by itself
    then (``lift_expired_suspension``), without it when an admin lifts it. A suspension
    can be changed (a new end or reason) while it lasts. Never the last active admin."""
    if status not in STATUSES:
        _change_choice(user, "status", status, STATUSES)  # raises, naming the allowed values
    _refuse_losing_the_last_admin(user, role=user.role, status=status)
    reason = clean_status_reason(reason, required=require_reason) \
        if status in ("suspended", "banned") else ""
    if until is not None and status != "suspended":
        raise ValidationFailed("Only a suspension has an end.", field="until")
    if until is not None and until <= utcnow():
        raise ValidationFailed("Choose an end in the future.", field="until")
    after = {"status": status, "suspended_until": until, "status_reason": reason}
    before = {"status": user.status, "suspended_until": user.suspended_until,
              "status_reason": user.status_reason}
    delta = delta_of(before, after)
    if not delta:
        return
    user.status, user.suspended_until, user.status_reason = status, until, reason
    if status != "active" and before["status"] == "active":
        user.session_version += 1
        end_sessions(user)
    shown = {k: [_audit_value(v) for v in pair] for k, pair in delta.items()}
    record_audit(actor, "user.status", "user", user.id, shown)
    record_security_event(
        "status_changed", user=user, actor=actor, before=before["status"], after=status,
        reason=reason, until=_audit_value(until),
    )


def set_password(user: User, new: str, *, actor: User | None, ip: str | None = None,
                 kind: str = "password_changed", site_url: str | None = None) -> None:
    """Give ``user`` the password ``new`` without the current one (a reset link, the CLI):
    every session of theirs ends, and with ``site_url`` the owner is told by mail."""
    check_password_strength(new, user_inputs=(user.email, user.display_name))
    user.password_hash = generate_password_hash(new)
    user.session_version += 1
    end_sessions(user)
    record_audit(actor, "user.password", "user", user.id, {"password": ["***", "***"]})
    record_security_event(kind, user=user, actor=actor, ip=ip)
    if site_url:
        mail.queue_mail("password_changed", user.email, user=user, site_url=site_url,
                        how="reset" if kind == "password_reset" else "changed",
                        forgot_link=mail.absolute_url(site_url, "auth.forgot_password"))


def clean_status_reason(raw: str, *, required: bool = True) -> str:
    """The reason for a suspension or ban: one paragraph of printable text (required from
    the admin pages; the command line may leave it out)."""
    reason = " ".join("".join(ch for ch in (raw or "") if ch.isprintable() or ch.isspace())
                      .split())
    if not reason and required:
        raise ValidationFailed("Give a reason: the user reads it when they try to sign in.",
                               field="reason")
    if len(reason) > STATUS_REASON_MAX:
        raise ValidationFailed(f"Use at most {STATUS_REASON_MAX} characters.", field="reason")
    return reason


def _audit_value(value: object) -> object:
    # Audit deltas are JSON documents: moments as ISO 8601 text in UTC.
    return value.isoformat() if isinstance(value, datetime) else value


def lift_expired_suspension(user: User, *, now: datetime | None = None) -> bool:
    """Reactivate ``user`` if their suspension has run out; whether it did.

    Checked where it matters, at sign-in (a suspended user has no open session, so no
    other request can meet them), rather than by a scheduled job: the account is
    reactivated by the first sign-in after the end, recorded as an automatic
    reactivation (no actor, reason "suspension ended"), in the caller's transaction.
    Until then the admin pages show the suspension with its end in the past."""
    now = now or utcnow()
    if user.status != "suspended" or user.suspended_until is None or user.suspended_until > now:
        return False
    before = {"status": user.status, "suspended_until": _audit_value(user.suspended_until),
              "status_reason": user.status_reason}
    user.status, user.suspended_until, user.status_reason = "active", None, ""
    record_audit(None, "user.status", "user", user.id,
                 delta_of(before, {"status": "active", "suspended_until": None,
                                   "status_reason": ""}))
    record_security_event("status_changed", user=user, before="suspended", after="active",
                          reason="suspension ended", automatic=True)
    return True
