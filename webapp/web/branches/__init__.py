"""Branch lessons on the web: asking a lesson to go deeper, the branch card that polls
while its job runs (and stops itself with 286), the branch page, its progress, promotion.
"""

from flask import Blueprint

bp = Blueprint("branches", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.branches import views  # noqa: E402, F401
