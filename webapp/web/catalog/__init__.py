"""The course catalog: search, filters, keyset pagination, the learner's badges."""

from flask import Blueprint

bp = Blueprint("catalog", __name__, url_prefix="/courses")

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.catalog import views  # noqa: E402, F401
