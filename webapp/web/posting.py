"""Posting rate limits for the community: per user and per IP, on flask-limiter's storage.

Every posting endpoint (questions, answers, messages, announcements, events, flags) calls
``check_posting_rate`` before it writes. A refusal is a 429 page (or htmx fragment) that
says when to try again, with ``Retry-After``. It is also where a silenced account is
stopped (a 403 that says until when): every way to post passes here.
"""

from __future__ import annotations

import time

from flask import current_app, request
from limits import parse

from webapp.extensions import limiter
from webapp.models import User
from webapp.services.community import rules
from webapp.services.community.notifications import MailContext
from webapp.services.exceptions import RateLimited
from webapp.services.moderation import people
from webapp.web.site_address import site_url
from webapp.web.times import format_moment, viewer_time_zone

# Posts from one IP an hour, whoever is signed in (a classroom shares one address).
IP_POSTS_PER_HOUR = 600


def _wait_words(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


def check_posting_rate(user: User) -> None:
    """Count one post by ``user`` from this request's IP; raise ``RateLimited`` (with the
    wait) when either budget for the hour is spent, ``PermissionDenied`` while a
    moderator has silenced ``user``."""
    if people.is_silenced(user):
        people.require_may_post(user, when=format_moment(user.silenced_until,
                                                         viewer_time_zone()))
    strategy = limiter.limiter
    prefix = current_app.config["RATELIMIT_KEY_PREFIX"]
    buckets = [
        (parse(f"{rules.posts_per_hour(user)} per hour"), (prefix, "post-user", str(user.id))),
        (parse(f"{IP_POSTS_PER_HOUR} per hour"),
         (prefix, "post-ip", request.remote_addr or "unknown")),
    ]
    for item, key in buckets:
        if not strategy.hit(item, *key):
            stats = strategy.get_window_stats(item, *key)
            wait = max(1, int(stats.reset_time - time.time()) + 1)
            raise RateLimited(
                f"You are posting faster than this site allows. Try again in "
                f"{_wait_words(wait)}.", retry_after=wait)


def mail_context() -> MailContext:
    """What notification emails sent from this request need: the site's address and the
    key that signs their unsubscribe links."""
    return MailContext(site_url=site_url(), secret=current_app.secret_key or "")
