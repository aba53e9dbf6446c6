"""Notifications: something a user should hear about, on the site and by email.

``notify`` is the one way to send one. For each recipient it reads their preference for
the kind (``webapp.services.notification_prefs``): "off" writes nothing; "in_app" writes a
row; "email" writes the row and queues an email at once (sent after the caller commits);
"digest" writes the row for the nightly digest email. The actor never notifies
themselves; inactive accounts hear nothing.

Emails carry an unsubscribe link that works without signing in: a signed token naming the
user and the kind (``unsubscribe_token``), which turns that kind off.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Notification, NotificationPreference, User
from webapp.services import mail
from webapp.services.notification_prefs import DEFAULTS

TITLE_MAX = 300
URL_MAX = 500
_SALT = "tangent-unsubscribe"
UNSUBSCRIBE_PATH = "/notifications/unsubscribe/"


@dataclass(frozen=True)
class MailContext:
    """What an email needs from the web (or job) layer: the site's address and the key
    that signs unsubscribe links."""

    site_url: str
    secret: str


def unsubscribe_token(secret: str, user_id: int, kind: str) -> str:
    return URLSafeSerializer(secret, salt=_SALT).dumps({"u": user_id, "k": kind})


def unsubscribe_url(context: MailContext, user_id: int, kind: str) -> str:
    """The page that turns ``kind`` off for the user (``/notifications/unsubscribe/…``)."""
    return (f"{context.site_url.rstrip('/')}{UNSUBSCRIBE_PATH}"
            f"{unsubscribe_token(context.secret, user_id, kind)}")


def read_unsubscribe_token(secret: str, token: str) -> tuple[int, str] | None:
    """``(user_id, kind)`` from a token this site signed, else None."""
    try:
        data = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) \
            or data.get("k") not in DEFAULTS:
        return None
    return data["u"], data["k"]


def _channels(user_ids: list[int], kind: str) -> dict[int, str]:
    chosen = dict(db.session.execute(select(
        NotificationPreference.user_id, NotificationPreference.channel).where(
        NotificationPreference.user_id.in_(user_ids),
        NotificationPreference.kind == kind)).all())
    return {uid: chosen.get(uid, DEFAULTS[kind]) for uid in user_ids}


def notify(
    user_ids: Iterable[int],
    kind: str,
    title: str,
    url: str,
    *,
    mail_context: MailContext | None,
    actor: User | None = None,
    course_id: int | None = None,
) -> list[Notification]:
    """Tell ``user_ids`` that ``title`` happened (``url``: a path on this site). Rows and
    emails are written in the caller's transaction. ``mail_context`` None: no email (the
    row still says "email", so the reader sees it on the site)."""
    if kind not in DEFAULTS:
        raise ValueError(f"unknown notification kind {kind!r}")
    ids = sorted({int(uid) for uid in user_ids} - ({actor.id} if actor else set()))
    if not ids:
        return []
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_(ids), User.status == "active"))}
    channels = _channels(list(users), kind)
    title = " ".join(title.split())[:TITLE_MAX]
    rows = []
    for uid in ids:
        user = users.get(uid)
        channel = channels.get(uid, "off")
        if user is None or channel == "off":
            continue
        row = Notification(user_id=uid, kind=kind, title=title, url=url[:URL_MAX],
                           actor_id=actor.id if actor else None, course_id=course_id,
                           delivery=channel)
        db.session.add(row)
        rows.append(row)
        if channel == "email" and mail_context is not None:
            mail.queue_mail(
                "notification", user.email, user=user, site_url=mail_context.site_url,
                subject=title, title=title, link=mail_context.site_url.rstrip("/") + url,
                unsubscribe_link=unsubscribe_url(mail_context, uid, kind),
                kind=kind)
    db.session.flush()
    return rows
