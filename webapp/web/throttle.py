"""Login throttling on flask-limiter's storage: per IP and per account.

Only failed attempts count. The per-account bucket is split by device: a
browser that has signed in to the account before carries a signed device
cookie and gets its own bucket, so an attacker who exhausts the account's
shared bucket cannot lock the real user out of their own browser. Either way a
lockout ends by itself when the window has passed.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import RateLimitItem, parse
from limits.strategies import RateLimiter

from webapp.extensions import limiter
from webapp.services import accounts
from webapp.services.exceptions import ValidationFailed

ACCOUNT_LIMIT: RateLimitItem = parse("5 per 15 minutes")
IP_LIMIT: RateLimitItem = parse("30 per hour")
DEVICE_COOKIE = "tangent_device"
DEVICE_MAX_AGE = 180 * 24 * 3600


@dataclass(frozen=True)
class Attempt:
    email: str
    ip: str
    device: str | None  # nonce of a valid device cookie for this account

    def buckets(self) -> list[tuple[RateLimitItem, tuple[str, ...]]]:
        prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
        account = hashlib.sha256(self.email.encode()).hexdigest()[:32]
        bucket = f"device:{self.device}" if self.device else "shared"
        return [
            (IP_LIMIT, (prefix, "login-ip", self.ip)),
            (ACCOUNT_LIMIT, (prefix, "login-account", account, bucket)),
        ]


def _strategy() -> RateLimiter:
    """The rate-limit strategy (storage and window) of the current app's limiter."""
    return limiter.limiter


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="tangent-device")


def _email_tag(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:16]


def attempt_for(email: str) -> Attempt:
    """Describe the current login attempt, keyed on the email as accounts store it.

    Keying on the raw text would give every spelling that signs in to the same
    account (upper case, full-width letters in the domain) its own bucket.
    """
    try:
        email = accounts.normalize_email(email)
    except ValidationFailed:
        email = email.strip().lower()
    device = None
    raw = request.cookies.get(DEVICE_COOKIE)
    if raw:
        try:
            data = _serializer().loads(raw, max_age=DEVICE_MAX_AGE)
        except BadSignature:
            data = None
        if isinstance(data, dict) and data.get("e") == _email_tag(email):
            device = str(data.get("n"))
    return Attempt(email=email, ip=request.remote_addr or "unknown", device=device)


def retry_after(attempt: Attempt) -> int | None:
    """Seconds to wait when a limit is exhausted, else None."""
    strategy = _strategy()
    waits = []
    for item, key in attempt.buckets():
        if not strategy.test(item, *key):
            stats = strategy.get_window_stats(item, *key)
            waits.append(max(1, int(stats.reset_time - time.time()) + 1))
    return max(waits) if waits else None


def record_failure(attempt: Attempt) -> None:
    strategy = _strategy()
    for item, key in attempt.buckets():
        strategy.hit(item, *key)


def clear_account(attempt: Attempt) -> None:
    """After a successful sign-in, forget this device's failures for the account."""
    item, key = attempt.buckets()[1]
    _strategy().clear(item, *key)


def remember_device(response, email: str) -> None:
    token = _serializer().dumps({"e": _email_tag(email.lower()), "n": secrets.token_urlsafe(12)})
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        path="/login",
    )
