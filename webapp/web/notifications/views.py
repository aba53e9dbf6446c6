"""Views of the notifications area: the list, opening one (marks it read), marking all read,
the unread badge (its polling endpoint and the out-of-band copy appended to htmx answers),
and the unsubscribe page that emails link to (no sign-in needed).
"""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from webapp import htmx
from webapp.extensions import db
from webapp.models import User
from webapp.services.community import notifications
from webapp.services.notification_prefs import KINDS
from webapp.web.edge import id_arg
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.notifications import bp

BADGE_ID = "notification-badge"
KIND_LABELS = {kind.key: kind.label for kind in KINDS} | {"moderation": "Moderation"}


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _unread() -> int:
    """The signed-in user's unread count, counted at most once per request."""
    if "tangent_unread" not in g:
        g.tangent_unread = notifications.unread_count(current_user.id)
    return g.tangent_unread


@bp.app_context_processor
def _badge_helpers() -> dict:
    # Called by the header only for signed-in users: anonymous pages pay nothing.
    return {"notification_unread": _unread, "notification_badge_label":
            notifications.badge_label}


def _badge_html(oob: bool) -> str:
    return render_template("notifications/_badge.html", unread=_unread(), oob=oob)


@bp.after_app_request
def _append_badge(response):
    """Append the unread badge as an out-of-band swap to htmx fragments for signed-in users,
    so any htmx action (reading, posting, a poll that brought something) refreshes it for
    one indexed COUNT. Not for full pages (they render it), redirects, empty answers,
    anything not HTML, or fragments marked ``htmx.plain_fragment()``."""
    if (not htmx.is_htmx() or response.status_code != 200 or response.is_streamed
            or response.direct_passthrough or response.mimetype != "text/html"
            or request.endpoint in (None, "notifications.badge", "static")
            or request.headers.get("HX-Boosted") == "true" or htmx.is_plain_fragment()):
        return response
    if not current_user.is_authenticated:
        return response
    body = response.get_data(as_text=True)
    if f'id="{BADGE_ID}"' in body:
        return response
    response.set_data(body + _badge_html(oob=True))
    return response


@bp.get("/notifications")
@login_required
def index():
    """The signed-in user's notifications, newest first, a page at a time."""
    before = request.args.get("before", type=id_arg)
    rows, next_before = notifications.list_notifications(_user(), before=before)
    return render_template("notifications/index.html", rows=rows, before=before,
                           next_before=next_before, kind_labels=KIND_LABELS,
                           form=ActionForm(), unread=_unread())


@bp.get("/notifications/badge")
@login_required
def badge():
    """Just the badge (htmx polls it about once a minute)."""
    return htmx.vary(current_app.make_response(_badge_html(oob=False)))


@bp.get("/notifications/<int:notification_id>/open")
@login_required
def open_one(notification_id: int):
    """Mark the notification read and go where it points (always a path on this site)."""
    target = notifications.open_notification(_user(), notification_id)
    db.session.commit()
    return redirect(target, 303)


@bp.post("/notifications/read-all")
@login_required
def read_all():
    valid_or_400(ActionForm())
    count = notifications.mark_all_read(_user())
    db.session.commit()
    g.tangent_unread = 0
    message = (f"Marked {count} notification{'s' * (count != 1)} as read." if count
               else "Nothing was unread.")
    if htmx.is_partial():
        rows, next_before = notifications.list_notifications(_user())
        return htmx.render("notifications/_list.html", rows=rows, before=None,
                           next_before=next_before, kind_labels=KIND_LABELS,
                           form=ActionForm(), unread=0, message=message)
    flash(message, "success" if count else "info")
    return redirect(url_for("notifications.index"), 303)


@bp.get("/notifications/unsubscribe/<token>")
def unsubscribe(token: str):
    """What the link in an email opens: a page that asks before turning the kind off."""
    user, kind = notifications.unsubscriber(current_app.secret_key or "", token)
    return render_template("notifications/unsubscribe.html", token=token, kind=kind,
                           label=KIND_LABELS[kind], email=user.email, form=ActionForm(),
                           done=False)


@bp.post("/notifications/unsubscribe/<token>")
def confirm_unsubscribe(token: str):
    valid_or_400(ActionForm())
    user, kind = notifications.unsubscribe(current_app.secret_key or "", token)
    db.session.commit()
    return render_template("notifications/unsubscribe.html", token=token, kind=kind,
                           label=KIND_LABELS[kind], email=user.email, form=None, done=True)
