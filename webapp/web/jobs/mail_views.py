"""The outgoing-mail log for admins: what was sent, what is waiting, what failed and why,
with "Retry" for a failed message."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.models.mail import MAIL_STATUSES
from webapp.security import role_required
from webapp.services import mail
from webapp.web.edge import id_arg
from webapp.web.forms import ActionForm
from webapp.web.jobs import bp

PAGE_SIZE = 50


@bp.get("/admin/mail")
@role_required("admin")
def admin_mail():
    status = request.args.get("status", "").strip() or None
    before = request.args.get("before", type=id_arg)
    rows, next_before = mail.list_mail(status, before=before, page_size=PAGE_SIZE)
    return render_template("jobs/admin_mail.html", messages=rows, status=status,
                           statuses=MAIL_STATUSES, before=before, next_before=next_before,
                           form=ActionForm(), can_retry=mail.can_retry)


@bp.post("/admin/mail/<int:mail_id>/retry")
@role_required("admin")
def retry_mail(mail_id: int):
    form = ActionForm()
    back = url_for("jobs.admin_mail", status=request.args.get("status") or None)
    if not form.validate_on_submit():
        return redirect(back, 303)
    row = mail.retry_mail(mail_id, actor=current_user._get_current_object())
    db.session.commit()
    flash(f"The message to {row.recipient} is queued again.", "success")
    return redirect(back, 303)
