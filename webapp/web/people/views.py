"""The public profile page, and the header's link to the moderation queue."""

from __future__ import annotations

from flask import g, render_template, url_for
from flask_login import current_user, login_required

from webapp.services import profiles
from webapp.services.community import flags
from webapp.web.people import bp

# Above this many open items the header shows "99+" (the count reads at most this many).
QUEUE_BADGE_CAP = 100


@bp.get("/<int:user_id>")
@login_required
def profile(user_id: int):
    person = profiles.public_profile(current_user, user_id)
    return render_template("people/profile.html", person=person)


def _moderation_link() -> dict | None:
    """The header's "Moderation" entry for moderators and admins: where it goes and the
    open items (capped), worked out once per request; None for everyone else."""
    if not (current_user.is_authenticated and current_user.is_moderator):
        return None
    if "tangent_moderation_link" not in g:
        count = flags.open_queue_count(QUEUE_BADGE_CAP)
        g.tangent_moderation_link = {
            "url": url_for("moderation.queue"),
            "count": count,
            "label": f"{QUEUE_BADGE_CAP - 1}+" if count >= QUEUE_BADGE_CAP else str(count),
        }
    return g.tangent_moderation_link


@bp.app_context_processor
def _header_helpers() -> dict:
    # Called by the header only for signed-in users: anonymous pages pay nothing.
    return {"moderation_link": _moderation_link}
