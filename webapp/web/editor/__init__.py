"""Authoring pages under ``/edit``: editors' courses, outline, lesson editor with live
preview, history and conflicts, quizzes, co-editors, import and export.

Every view requires the editor or admin role (``before_request``); services check
that the actor may edit the particular course (owner, co-editor or admin).
"""

from flask import Blueprint
from flask_login import current_user, login_required

from webapp.extensions import login_manager

bp = Blueprint("editor", __name__, url_prefix="/edit")


@bp.before_request
@login_required
def _require_editor_role():
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if current_user.role not in ("editor", "admin"):
        from webapp.services.exceptions import PermissionDenied

        raise PermissionDenied("The authoring pages are for editors.")
    return None


# Views register themselves on ``bp``; import them after it exists.
from webapp.web.editor import package_views, quiz_views, views  # noqa: E402, F401
