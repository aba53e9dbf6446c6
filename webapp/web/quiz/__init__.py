"""Quizzes: intro, attempts, feedback, results, and the public certificate pages."""

from flask import Blueprint

bp = Blueprint("quiz", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.quiz import views  # noqa: E402, F401
