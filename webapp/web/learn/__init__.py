"""The learner's pages: course, lesson (normal and focus mode), progress actions, dashboard."""

from flask import Blueprint

bp = Blueprint("learn", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.learn import views  # noqa: E402, F401
