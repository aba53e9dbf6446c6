"""Views of the channels area: the list of channels, a channel's page (newest messages,
"Load older", polling for new ones, the composer), threads, editing and deleting.

The poll (``channels.poll``) is the hot path: every open channel page asks it every few
seconds. The page hands it a signed proof that this session's user was allowed to read
the channel a moment ago (``_poll_token``, valid for ``POLL_PROOF_SECONDS``); with that
proof a poll with nothing new runs one indexed query and answers 204 without loading the
user or rendering anything. Anything new (or an expired or foreign proof) takes the full
path: the user, the permission check, then the new messages and a fresh poll element.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import abort, current_app, flash, make_response, redirect, request, session, url_for
from flask_login import current_user, login_required
from itsdangerous import BadSignature, URLSafeTimedSerializer

from webapp import htmx
from webapp.extensions import db
from webapp.models import User
from webapp.models.base import utcnow
from webapp.services import accounts
from webapp.services.community import channels, rules
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed
from webapp.settings import get_settings
from webapp.web.channels import bp
from webapp.web.channels.forms import MessageForm
from webapp.web.edge import id_arg
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.posting import check_posting_rate, mail_context

POLL_SECONDS = 3
POLL_PROOF_SECONDS = 600
SLUG = "<string(maxlength=40):slug>"
_POLL_SALT = "tangent-channel-poll"


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _cursor(name: str) -> int | None:
    """An id cursor from the query string (absent or malformed: None)."""
    return request.args.get(name, type=id_arg)


# --- the poll's proof -------------------------------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=_POLL_SALT)


def _session_mark() -> str:
    """Who this browser session is signed in as, from the session cookie alone."""
    raw = f"{session.get('_user_id', '')}|{session.get('sid', '')}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _poll_token(slug: str) -> str:
    return _serializer().dumps([slug, _session_mark()])


def _proof_holds(slug: str) -> bool:
    token = request.args.get("proof", "")
    try:
        proved_slug, mark = _serializer().loads(token, max_age=POLL_PROOF_SECONDS)
    except (BadSignature, ValueError, TypeError):
        return False
    return proved_slug == slug and hmac.compare_digest(str(mark), _session_mark())


def _poll_context(view: channels.ChannelAccess, since: int) -> dict:
    return {"view": view, "since": since, "proof": _poll_token(view.slug),
            "poll_seconds": POLL_SECONDS,
            "channel_url": url_for("channels.show", slug=view.slug)}


# --- pages ------------------------------------------------------------------------------------


@bp.get("/channels")
@login_required
def index():
    links, following = channels.visible_channels(_user(), after=_cursor("after"))
    return htmx.render("channels/index.html", links=links, following=following,
                       first_page=_cursor("after") is None)


def _rule_context() -> dict:
    """What message templates need from the posting rules (one query)."""
    values = rules.current()
    return {"edit_cutoff": utcnow() - timedelta(minutes=values["edit_window_minutes"]),
            "max_length": values["message_max_length"]}


def _channel_page(view: channels.ChannelAccess, form: MessageForm, status: int = 200):
    before = _cursor("before")
    listing = channels.list_messages(view, before=before)
    context = {"view": view, "listing": listing, "form": form, "before": before, "user": _user(),
               **_rule_context(), **_poll_context(view, channels.newest_id(listing))}
    return htmx.render("channels/channel.html", "channels/_older.html", status_code=status,
                       **context)


@bp.get(f"/channels/{SLUG}")
@login_required
def show(slug: str):
    """The newest page of messages, or (``?before=N``) the page before message N: as the
    whole page, or for htmx's "Load older" the older messages and the next link."""
    view = channels.get_access(_user(), slug)
    return _channel_page(view, MessageForm())


@bp.get(f"/channels/{SLUG}/poll")
def poll(slug: str):
    """New messages after ``since``: 204 when none (one query, see the module), else the
    messages to append and the poll element with the new cursor."""
    since = _cursor("since")
    if since is None:
        abort(400, "The poll needs a “since” message id.")
    proven = _proof_holds(slug)
    if proven and not channels.has_newer(slug, since):
        return make_response("", 204)
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    view = channels.get_access(_user(), slug)
    if not htmx.is_partial():
        return redirect(url_for("channels.show", slug=slug), 303)
    rows = channels.newer_messages(view, since)
    if not rows and proven:
        return make_response("", 204)
    newest = rows[-1].id if rows else since
    return htmx.render("channels/_poll_response.html", rows=rows, user=_user(),
                       **_rule_context(), **_poll_context(view, newest))


def _require_verified(user: User) -> None:
    accounts.require_verified(
        user, required=get_settings(current_app).email_verification == "required")


@bp.post(f"/channels/{SLUG}/messages")
@login_required
def post(slug: str):
    """Post a message. htmx: a fresh composer, and the poll is told to fetch at once (so
    the new message arrives in order with anything else new); otherwise back to the
    channel at the message."""
    user = _user()
    view = channels.get_access(user, slug)
    form = MessageForm()
    valid_or_400(form)
    _require_verified(user)
    try:
        check_posting_rate(user)
        message = channels.post_message(user, view, form.body.data,
                                        mail_context=mail_context())
    except ValidationFailed as exc:
        db.session.rollback()
        form.body.errors = [exc.message]
        if htmx.is_partial():
            return htmx.render("channels/_composer.html", status_code=400, view=view,
                               form=form, max_length=rules.value("message_max_length"))
        return _channel_page(view, form, status=400)
    held = message.status == "hidden"
    db.session.commit()
    if htmx.is_partial():
        response = htmx.render("channels/_composer.html", view=view,
                               form=MessageForm(formdata=None),
                               max_length=rules.value("message_max_length"), focus=True,
                               notice=rules.HELD_MESSAGE if held else "")
        response.headers["HX-Trigger"] = "channel-posted"
        return response
    if held:
        flash(rules.HELD_MESSAGE, "info")
    return redirect(url_for("channels.show", slug=slug) + f"#message-{message.id}", 303)


@bp.get(f"/channels/{SLUG}/mentions")
@login_required
def mentions(slug: str):
    """Members whose display name starts with what follows the last "@" of the composer's
    text (the htmx autocomplete under the composer)."""
    view = channels.get_access(_user(), slug)
    text = (request.args.get("body") or "")[-200:]
    at = text.rfind("@")
    prefix = text[at + 1:] if at >= 0 and "\n" not in text[at + 1:] else ""
    names = channels.suggest_members(view, prefix) if prefix.strip() else []
    htmx.plain_fragment()
    return htmx.render("channels/_mentions.html", names=names, prefix=prefix,
                       target=request.args.get("target", "channel-body"))


# --- threads ----------------------------------------------------------------------------------


def _thread_page(view, message_id: int, form: MessageForm, status: int = 200):
    head, replies = channels.get_thread(view, message_id, after=_cursor("after"))
    return htmx.render("channels/thread.html", status_code=status, view=view, head=head,
                       replies=replies, form=form, user=_user(), **_rule_context(),
                       channel_url=url_for("channels.show", slug=view.slug))


@bp.get(f"/channels/{SLUG}/messages/<int:message_id>")
@login_required
def thread(slug: str, message_id: int):
    view = channels.get_access(_user(), slug)
    return _thread_page(view, message_id, MessageForm())


@bp.post(f"/channels/{SLUG}/messages/<int:message_id>/replies")
@login_required
def reply(slug: str, message_id: int):
    user = _user()
    view = channels.get_access(user, slug)
    form = MessageForm()
    valid_or_400(form)
    _require_verified(user)
    try:
        check_posting_rate(user)
        message = channels.post_message(user, view, form.body.data, parent_id=message_id,
                                        mail_context=mail_context())
    except ValidationFailed as exc:
        db.session.rollback()
        form.body.errors = [exc.message]
        return _thread_page(view, message_id, form, status=400)
    held = message.status == "hidden"
    db.session.commit()
    if held:
        flash(rules.HELD_MESSAGE, "info")
    return htmx.redirect(url_for("channels.thread", slug=slug, message_id=message_id)
                         + f"#message-{message.id}")


def _back_to(view, message) -> str:
    if message.parent_id is not None:
        return (url_for("channels.thread", slug=view.slug, message_id=message.parent_id)
                + f"#message-{message.id}")
    return url_for("channels.show", slug=view.slug) + f"#message-{message.id}"


@bp.route(f"/channels/{SLUG}/messages/<int:message_id>/edit", methods=["GET", "POST"])
@login_required
def edit(slug: str, message_id: int):
    """Edit a message's text (its author, within the edit window)."""
    user = _user()
    view = channels.get_access(user, slug)
    message = channels.get_message(view, message_id)
    form = MessageForm()
    status = 200
    if request.method == "POST":
        valid_or_400(form)
        try:
            check_posting_rate(user)
            channels.edit_message(user, view, message_id, form.body.data)
        except ValidationFailed as exc:
            db.session.rollback()
            form.body.errors = [exc.message]
            status = 400
        else:
            db.session.commit()
            return htmx.redirect(_back_to(view, message))
    elif not channels.can_edit(user, message):
        raise ValidationFailed("This message can no longer be edited: messages can be "
                               "edited by their author for "
                               f"{rules.value('edit_window_minutes')} minutes after posting.")
    else:
        form.body.data = message.body
    return htmx.render("channels/edit.html", status_code=status, view=view, message=message,
                       form=form, back=_back_to(view, message),
                       max_length=rules.value("message_max_length"))


@bp.route(f"/channels/{SLUG}/messages/<int:message_id>/delete", methods=["GET", "POST"])
@login_required
def delete(slug: str, message_id: int):
    """Confirm, then soft-delete a message (its author or a moderator)."""
    user = _user()
    view = channels.get_access(user, slug)
    message = channels.get_message(view, message_id)
    if request.method == "POST":
        valid_or_400(ActionForm())
        channels.delete_message(user, view, message_id)
        db.session.commit()
        return htmx.redirect(_back_to(view, message))
    if message.status == "deleted":
        raise NotFound("That message was already deleted.")
    if not channels.can_delete(user, view, message):
        raise PermissionDenied("Only its author or a moderator can delete a message.")
    return htmx.render("channels/delete.html", view=view, message=message, form=ActionForm(),
                       back=_back_to(view, message))
