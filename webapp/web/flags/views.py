"""Views of the flags area: the flag form page (``/flag/<kind>/<id>``, reached from the
"Flag" link beside every flaggable item) and its confirmation. Works without JavaScript."""

from __future__ import annotations

from flask import current_app, render_template, request, url_for
from flask_login import current_user, login_required

from webapp.extensions import db
from webapp.models import User
from webapp.services import accounts
from webapp.services.community import flags
from webapp.services.community.notifications import local_path
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.settings import get_settings
from webapp.web.flags import bp
from webapp.web.flags.forms import FlagForm
from webapp.web.forms import submitted
from webapp.web.posting import check_posting_rate


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _back() -> str | None:
    """Where the "Back" link goes: the page the flag link was on, when it is on this site."""
    raw = request.values.get("next", "")
    path = local_path(raw) if raw else ""
    return path if path and path == raw else None


def _page(target: flags.Target, form: FlagForm, status: int = 200, *, error: str = "",
          existing=None):
    return render_template(
        "flags/flag.html", target=target, form=form, back=_back(), error=error,
        existing=existing, kind_label=flags.KIND_LABELS[target.kind],
        reason_labels=flags.REASON_LABELS), status


@bp.route("/flag/<kind>/<int:target_id>", methods=["GET", "POST"])
@login_required
def flag(kind: str, target_id: int):
    user = _user()
    target = flags.get_target(user, kind, target_id)
    form = FlagForm()
    if request.method == "GET":
        return _page(target, form, existing=flags.existing_flag(user, target))
    if not submitted(form):
        return _page(target, form, 400)
    accounts.require_verified(
        user, required=get_settings(current_app).email_verification == "required")
    check_posting_rate(user)
    try:
        result = flags.flag_item(user, kind, target_id, form.reason.data, form.note.data)
    except Conflict as exc:
        db.session.rollback()
        return _page(target, form, 409, error=exc.message,
                     existing=flags.existing_flag(user, target))
    except ValidationFailed as exc:
        db.session.rollback()
        field = getattr(form, exc.field or "", None) or form.reason
        field.errors = [*field.errors, exc.message]
        return _page(target, form, 400)
    db.session.commit()
    return render_template("flags/done.html", target=target, result=result, back=_back(),
                           kind_label=flags.KIND_LABELS[kind])


@bp.app_template_global()
def flag_url(kind: str, target_id: int) -> str:
    """The flag page of an item, remembering the page (not an htmx fragment) it was on."""
    here = request.headers.get("HX-Current-URL", "") if request.headers.get("HX-Request") \
        else ""
    if here:
        # htmx says which page the fragment is going into; keep only its path and query.
        parts = here.split("://", 1)[-1].split("/", 1)
        here = "/" + parts[1] if len(parts) == 2 else ""
    else:
        here = request.full_path if request.query_string else request.path
    path = local_path(here)
    return url_for("flags.flag", kind=kind, target_id=target_id,
                   next=path if path == here else None)
