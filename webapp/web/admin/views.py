"""The console's home: a link to every admin page with the numbers worth a glance."""

from __future__ import annotations

from flask import current_app, render_template

from webapp.services import user_admin
from webapp.web.admin import bp

# Another area's page, linked when that area provides it.
MAIL_LOG_ENDPOINT = "jobs.admin_mail"


@bp.get("")
def home():
    return render_template(
        "admin/home.html", counts=user_admin.console_counts(),
        has_mail_log=MAIL_LOG_ENDPOINT in current_app.view_functions,
        mail_log_endpoint=MAIL_LOG_ENDPOINT)
