"""The general channel and each course's channel: messages, threads, mentions, polling for new
messages.
"""

from flask import Blueprint

bp = Blueprint("channels", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.channels import views  # noqa: E402, F401
