"""Home page and the health check."""

from flask import Blueprint

bp = Blueprint("main", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.main import views  # noqa: E402, F401
