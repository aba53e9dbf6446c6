"""Moderation pages (``/moderation``, moderators and admins only): the queue, one item
with its context and the actions on it, bulk actions, people (warn, silence, suspend,
ban, delete their posts) and appeals. Course editors moderate their own course's content
from the course's editor pages instead (``webapp.web.editor.moderation_views``).
"""

from flask import Blueprint

from webapp.security import require_role
from webapp.services.moderation.transparency import ACTION_LABELS

bp = Blueprint("moderation", __name__, url_prefix="/moderation")


@bp.app_template_filter("action_label")
def action_label(action: str) -> str:
    """A moderation action in words ("suspend" -> "Suspended"), on every page that lists
    them (the queue's item pages, a person's page, the course editors' tab)."""
    return ACTION_LABELS.get(action, action.replace("_", " ").capitalize())


@bp.before_request
def _moderators_only():
    # Every page here, including any added later, is for moderators and admins only.
    return require_role("moderator", "The moderation pages are for moderators.")


# Views register themselves on ``bp``; import them after it exists.
from webapp.web.moderation import views  # noqa: E402, F401
