"""Register, sign in and sign out."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.auth import recovery_views, views  # noqa: E402, F401
