"""Flagging a question, answer, message, event, announcement or lesson for moderators."""

from flask import Blueprint

bp = Blueprint("flags", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.flags import views  # noqa: E402, F401
