"""Status cards that poll (a job's progress, a branch lesson being written).

A card asks again every ``poll_seconds`` while its work is active: often at
first, less often as the work ages. Every poll of a signed-in user counts
against one budget (``CARD_LIMIT``) across all their cards; over it, htmx gets
the same card back with 429 and an interval that waits out the limit. Once the
work is finished the server answers 286, which stops htmx polling (htmx 2 still
swaps that response in, so the final state is shown). Without JavaScript a card
links to its status page, which is what a full request to the card URL gets.
``add_card_views`` gives an area both views, the status page and the card.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from flask import Blueprint, current_app
from flask_login import current_user, login_required
from limits import RateLimitItem, parse

from webapp import htmx
from webapp.errors import render_error
from webapp.extensions import limiter
from webapp.models.base import utcnow

# Per signed-in user, across all their cards: one tab polling every 2 s uses 30.
CARD_LIMIT: RateLimitItem = parse("40 per minute")
STOP_POLLING = 286

T = TypeVar("T")


class Created(Protocol):
    created_at: datetime


def poll_seconds(work: Created, now: datetime | None = None) -> int:
    """How often the card of active work asks again: less often as the work ages."""
    age = ((now or utcnow()) - work.created_at).total_seconds()
    if age < 60:
        return 2
    if age < 300:
        return 5
    return 15


def _card_wait() -> int | None:
    """Count one poll for the current user; seconds to wait when over ``CARD_LIMIT``."""
    strategy = limiter.limiter
    key = (current_app.config["RATELIMIT_KEY_PREFIX"], "job-card", str(current_user.id))
    if strategy.hit(CARD_LIMIT, *key):
        return None
    stats = strategy.get_window_stats(CARD_LIMIT, *key)
    return max(1, math.ceil(stats.reset_time - time.time()))


def add_card_views(
    bp: Blueprint,
    rule: str,
    *,
    what: str,
    load: Callable[..., T],
    page: str,
    card: str,
    page_context: Callable[[T], dict],
    card_context: Callable[[T], dict] | None = None,
    finished: Callable[[T], bool],
) -> None:
    """Add the views ``<bp>.show`` (the status page at ``rule``) and ``<bp>.card``
    (``rule``/card, which htmx polls) for signed-in users.

    ``load(**view_args)`` finds the item for the current user (NotFound when they
    may not see it); ``page`` is rendered with ``page_context(item)``, the ``card``
    partial with ``card_context(item)`` (``page_context`` when not given);
    ``finished(item)`` ends the polling. ``what`` names the item in the "checked
    too often" message.
    """

    @login_required
    def show(**view_args):
        return htmx.render(page, **page_context(load(**view_args)))

    @login_required
    def poll(**view_args):
        wait = _card_wait()
        if wait is not None and not htmx.is_partial():
            return render_error(429, f"The {what} status was checked too often. Wait a moment "
                                     "and reload the page.", {"Retry-After": str(wait)})
        item = load(**view_args)
        if wait is not None:
            # Over the limit: the same card, polling again only once the limit allows.
            response = htmx.render(page, card, status_code=429,
                                   **{**page_context(item), "poll_seconds": wait})
            response.headers["Retry-After"] = str(wait)
            return response
        if not htmx.is_partial():
            return htmx.render(page, **page_context(item))
        context = (card_context or page_context)(item)
        return htmx.render(card, status_code=STOP_POLLING if finished(item) else 200, **context)

    bp.add_url_rule(rule, "show", show, methods=["GET"])
    bp.add_url_rule(f"{rule}/card", "card", poll, methods=["GET"])
