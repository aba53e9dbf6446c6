"""The admin console (``/admin``, admins only): its home page, users and what can be done
to an account (role, suspension, ban, reactivation), the audit log with its CSV, and the
security events. The jobs, costs and mail pages live with the jobs blueprint and are
linked from the console's home.
"""

from flask import Blueprint

from webapp.security import require_role
from webapp.web.admin.formatting import describe_detail

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only():
    # Every page of the console, including any added later, is for admins only.
    return require_role("admin")


@bp.context_processor
def _console_context() -> dict:
    # The jobs, costs and outgoing-mail pages are the jobs area's; the console links them.
    return {"mail_log_endpoint": "jobs.admin_mail", "describe_detail": describe_detail}


# Views register themselves on ``bp``; import them after it exists.
from webapp.web.admin import (  # noqa: E402, F401
    account_views,
    logs_views,
    settings_views,
    user_views,
    views,
)
