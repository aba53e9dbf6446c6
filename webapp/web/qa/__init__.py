"""Questions and answers on a course: asking, answering, votes, accepting, search, similar
questions, revisions, soft delete.
"""

from flask import Blueprint

bp = Blueprint("qa", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.qa import views  # noqa: E402, F401
