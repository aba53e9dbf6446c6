"""What the sign-in page says to the owner of a suspended, banned or closed account."""

from __future__ import annotations

from markupsafe import Markup

from webapp.models import User
from webapp.web.times import local_time


def blocked_message(user: User, appeal_url: str | None = None,
                    appealed: bool = False) -> Markup:
    """Why ``user`` cannot sign in, and until when (in the reader's time zone).

    ``appeal_url``: the signed page where they appeal the moderation decision that blocks
    them (``appealed``: they did, and the page shows how the appeal stands)."""
    if user.status == "suspended":
        until = (Markup(" until {}").format(local_time(user.suspended_until))
                 if user.suspended_until else Markup(" until an administrator lifts it"))
        message = Markup("This account is suspended{}.").format(until)
    elif user.status == "banned":
        message = Markup("This account is banned.")
    else:
        message = Markup("This account is closed.")
    if user.status_reason:
        reason = user.status_reason
        end = "" if reason.endswith((".", "!", "?")) else "."
        message += Markup(" Reason: {}{}").format(reason, end)
    if appeal_url:
        words = "See how your appeal stands" if appealed else "Appeal this decision"
        return message + Markup(' <a href="{}">{}</a>.').format(appeal_url, words)
    return message + " Contact an administrator if you think this is wrong."
