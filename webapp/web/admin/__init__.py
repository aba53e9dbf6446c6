"""The admin console (``/admin``, admins only): its home page, users and what can be done
to an account (role, suspension, ban, reactivation), the audit log with its CSV, and the
security events. The jobs, costs and mail pages live with the jobs blueprint and are
linked from the console's home.
"""

from flask import Blueprint, current_app

from webapp.security import require_role
from webapp.web.admin.formatting import describe_detail

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only():
    # Every page of the console, including any added later, is for admins only.
    return require_role("admin")


# The outgoing-mail log is the jobs area's page; linked when that area provides it.
MAIL_LOG_ENDPOINT = "jobs.admin_mail"


@bp.context_processor
def _console_context() -> dict:
    return {"mail_log_endpoint": MAIL_LOG_ENDPOINT
            if MAIL_LOG_ENDPOINT in current_app.view_functions else None,
            "describe_detail": describe_detail}


# Views register themselves on ``bp``; import them after it exists.
from webapp.web.admin import logs_views, settings_views, user_views, views  # noqa: E402, F401
