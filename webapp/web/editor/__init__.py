"""Authoring pages under ``/edit``: editors' courses, outline, lesson editor with live
preview, history and conflicts, quizzes, co-editors, import and export.

Every view requires the editor or admin role (``before_request``); services check
that the actor may edit the particular course (owner, co-editor or admin).
"""

from flask import Blueprint

from webapp.security import require_role

bp = Blueprint("editor", __name__, url_prefix="/edit")


@bp.before_request
def _require_editor_role():
    return require_role("editor", "The authoring pages are for editors.")


# Views register themselves on ``bp``; import them after it exists.
from webapp.web.editor import (  # noqa: E402, F401
    course_views,
    moderation_views,
    outline_views,
    package_views,
    proposal_views,
    quiz_views,
    views,
)
