"""Account settings: display name and password."""

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.account import views  # noqa: E402, F401
