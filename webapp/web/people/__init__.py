"""Members' public profiles (``/people/<id>``, signed-in members only) with their
"Report this profile" link, and the header's "Moderation" entry for moderators."""

from flask import Blueprint

bp = Blueprint("people", __name__, url_prefix="/people")

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.people import views  # noqa: E402, F401
