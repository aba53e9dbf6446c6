"""The protected audio view: narration and imported audio, served by asset id."""

from flask import Blueprint

bp = Blueprint("audio", __name__, url_prefix="/audio")

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.audio import views  # noqa: E402, F401
