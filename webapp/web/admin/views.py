"""The console's home: a link to every admin page with the numbers worth a glance."""

from __future__ import annotations

from flask import render_template

from webapp.services import user_admin
from webapp.web.admin import bp


@bp.get("")
def home():
    return render_template("admin/home.html", counts=user_admin.console_counts())
