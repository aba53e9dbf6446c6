"""Events on a course or the site, RSVPs with a waiting list, .ics downloads and calendar
feeds; course announcements.
"""

from flask import Blueprint

bp = Blueprint("events", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.events import views  # noqa: E402, F401
