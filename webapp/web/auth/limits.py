"""Rate limits of the mail-sending forms, on flask-limiter's storage: per client address
and per email address, so neither one machine nor many can flood one mailbox."""

from __future__ import annotations

import hashlib
import time

from flask import current_app, request
from limits import RateLimitItem, parse

from webapp.extensions import limiter

PER_IP: dict[str, RateLimitItem] = {
    "forgot": parse("10 per hour"),
    "register": parse("10 per hour"),
    "verify-resend": parse("10 per hour"),
    "email-change": parse("10 per hour"),
}
PER_ADDRESS: dict[str, RateLimitItem] = {
    "forgot": parse("3 per hour"),
    "verify-resend": parse("3 per hour"),
    "email-change": parse("3 per hour"),
}


def hit(action: str, address: str | None = None) -> int | None:
    """Count one request of ``action``; the seconds to wait when a limit is used up (the
    request is then not counted), else None."""
    strategy = limiter.limiter
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    buckets = [(PER_IP[action], (prefix, f"{action}-ip", request.remote_addr or "unknown"))]
    if address is not None and action in PER_ADDRESS:
        digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]
        buckets.append((PER_ADDRESS[action], (prefix, f"{action}-address", digest)))
    waits = []
    for item, key in buckets:
        if not strategy.test(item, *key):
            stats = strategy.get_window_stats(item, *key)
            waits.append(max(1, int(stats.reset_time - time.time()) + 1))
    if waits:
        return max(waits)
    for item, key in buckets:
        strategy.hit(item, *key)
    return None


def minutes(wait: int) -> str:
    count = max(1, round(wait / 60))
    return f"{count} minute{'s' if count != 1 else ''}"
