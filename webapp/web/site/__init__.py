"""What every visitor sees of the site settings: the footer pages (privacy, terms,
accessibility statement), the logo, and the settings every template can read as
``site`` (``webapp.services.site``: cached per process, no query per request).
"""

from flask import Blueprint

bp = Blueprint("site", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.site import views  # noqa: E402, F401
