"""What the sign-in page says to the owner of a suspended, banned or closed account."""

from __future__ import annotations

from markupsafe import Markup

from webapp.models import User
from webapp.web.times import local_time


def blocked_message(user: User) -> Markup:
    """Why ``user`` cannot sign in, and until when (in the reader's time zone)."""
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
    return message + " Contact an administrator if you think this is wrong."
