"""Public pages about moderation: the transparency report (``/transparency``, with its
CSV) and the appeals a sanctioned author makes (``/appeals``), which work for a suspended
or banned account through the signed link the sign-in page gives them.
"""

from flask import Blueprint

bp = Blueprint("transparency", __name__)

# Views register themselves on ``bp``; import them after it exists.
from webapp.web.transparency import views  # noqa: E402, F401
