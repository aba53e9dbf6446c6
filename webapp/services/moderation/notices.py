"""Telling an author what a moderator (or a rule) did, and how an appeal ended.

Moderation notices are not a preference: each is a notification on the site (kind
"moderation", which nobody can turn off) and an email at once, written in the caller's
transaction — also to a suspended or banned account, whose owner reads the email (and the
notice once back). The email carries the reason, the moderator's words and, where an
appeal is possible, the link to appeal.
"""

from __future__ import annotations

from dataclasses import dataclass

from webapp.extensions import db
from webapp.models import Notification, User
from webapp.models.community import TITLE_MAX
from webapp.services import mail

URL_MAX = 500

# The words an author reads for each reason (``ACTION_REASONS``), in the forms' order.
REASON_LABELS = {
    "spam": "Spam or advertising",
    "abuse": "Rude, hateful or abusive",
    "harassment": "Harassing a person",
    "off_topic": "Off topic",
    "wrong": "Wrong or misleading",
    "personal_data": "Shares someone's personal data",
    "illegal": "Unlawful content",
    "repeated": "Repeated breaking of the rules",
    "other": "Another reason (see the note)",
}


@dataclass(frozen=True)
class Notice:
    """What to tell the author: ``title`` (one line, plain text), ``url`` (a path on this
    site: the item, or the page where they may appeal), the reason and the note."""

    title: str
    url: str
    reason: str = ""
    note: str = ""
    appeal_url: str = ""


def tell(user_id: int | None, notice: Notice, *, site_url: str | None,
         actor: User | None = None, course_id: int | None = None) -> Notification | None:
    """Write the notice for ``user_id`` (nothing for a deleted or closed account) and
    queue its email when ``site_url`` is given (None: a command or test without a site
    address; the notice is still on the site)."""
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None or user.status == "deleted":
        return None
    title = " ".join(notice.title.split())[:TITLE_MAX]
    row = Notification(user_id=user.id, kind="moderation", title=title,
                       url=notice.url[:URL_MAX], actor_id=actor.id if actor else None,
                       course_id=course_id, delivery="email")
    db.session.add(row)
    if site_url:
        base = site_url.rstrip("/")
        mail.queue_mail(
            "moderation", user.email, user=user, site_url=site_url, subject=title,
            title=title, reason=REASON_LABELS.get(notice.reason, ""), note=notice.note,
            link=base + notice.url if notice.url else "",
            appeal_link=base + notice.appeal_url if notice.appeal_url else "")
    db.session.flush()
    return row
