"""The general channel and each course's channel: messages, threads, mentions, polling for new
messages.
"""

from flask import Blueprint

bp = Blueprint("channels", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.channels import views  # noqa: E402, F401
from webapp.web.channels.fragments import channel_message  # noqa: E402

bp.add_app_template_global(channel_message, "channel_message")
