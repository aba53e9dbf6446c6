"""A user's notifications: the list, the unread badge, marking read, and unsubscribe links from
emails.
"""

from flask import Blueprint

bp = Blueprint("notifications", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.notifications import views  # noqa: E402, F401
