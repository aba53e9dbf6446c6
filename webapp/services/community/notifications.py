"""Notifications: something a user should hear about, on the site and by email.

``notify`` is the one way to send one. For each recipient it reads their preference for
the kind (``webapp.services.notification_prefs``): "off" writes nothing; "in_app" writes a
row; "email" writes the row and queues an email at once (sent after the caller commits);
"digest" writes the row for the nightly digest email. The actor never notifies
themselves; inactive accounts hear nothing.

Emails carry an unsubscribe link that works without signing in: a signed token naming the
user and the kind (``unsubscribe_token``), which turns that kind off (``unsubscribe``).

Also here: the reader's list (keyset pages) and unread count (capped, for the header
badge), marking read, the daily digest (``send_digests``: rows claimed with a conditional
UPDATE, one email per user per day), purging (``purge_notifications``), and the notices of
finished jobs (``notify_job_finished``: "branch_ready", "draft_finished").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select, update

from webapp.extensions import db
from webapp.models import (
    Branch,
    BranchRequest,
    Course,
    GenerationJob,
    Lesson,
    Notification,
    NotificationPreference,
    User,
)
from webapp.models.base import utcnow
from webapp.services import mail
from webapp.services.exceptions import NotFound
from webapp.services.notification_prefs import DEFAULTS, KINDS, set_preferences
from webapp.services.paging import split_page

TITLE_MAX = 300
URL_MAX = 500
_SALT = "tangent-unsubscribe"
UNSUBSCRIBE_PATH = "/notifications/unsubscribe/"
KIND_LABELS = {kind.key: kind.label for kind in KINDS}


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


# --- reading and marking ------------------------------------------------------------------

PAGE_SIZE = 30
# The badge counts up to this many and then says "99+": the count stops early, so it costs
# the same for a reader with a million unread notifications.
BADGE_CAP = 100
FALLBACK_PATH = "/notifications"


def local_path(url: str) -> str:
    """``url`` when it is a path on this site, else the notifications page: following a
    notification never leaves the site (no scheme, no ``//host``, no backslash tricks)."""
    if (not url.startswith("/") or url.startswith(("//", "/\\"))
            or any(ch in url for ch in "\\\r\n\t\x00")):
        return FALLBACK_PATH
    return url


def list_notifications(user: User, *, before: int | None = None,
                       page_size: int = PAGE_SIZE) -> tuple[list[Notification], int | None]:
    """``user``'s notifications, newest first: the page with ids below ``before`` (keyset,
    one indexed query) and the ``before`` of the next page (None on the last)."""
    stmt = (select(Notification).where(Notification.user_id == user.id)
            .order_by(Notification.id.desc()).limit(page_size + 1))
    if before is not None:
        stmt = stmt.where(Notification.id < before)
    page, last = split_page(db.session.scalars(stmt).all(), page_size)
    return page, (last.id if last is not None else None)


def unread_count(user_id: int) -> int:
    """Unread notifications of the user, counted up to ``BADGE_CAP`` (one statement on the
    partial index ``ix_notification_unread``)."""
    unread = (select(Notification.id).where(Notification.user_id == user_id,
                                            Notification.read_at.is_(None))
              .limit(BADGE_CAP).subquery())
    return db.session.scalar(select(func.count()).select_from(unread)) or 0


def badge_label(count: int) -> str:
    """What the badge shows: the count, "99+" from ``BADGE_CAP`` on, nothing at 0."""
    if count <= 0:
        return ""
    return f"{BADGE_CAP - 1}+" if count >= BADGE_CAP else str(count)


def open_notification(user: User, notification_id: int) -> str:
    """Mark one of ``user``'s notifications read and return where it points (a local path).
    Someone else's notification does not exist for them."""
    row = db.session.scalar(select(Notification).where(
        Notification.id == notification_id, Notification.user_id == user.id))
    if row is None:
        raise NotFound("There is no such notification.")
    if row.read_at is None:
        row.read_at = utcnow()
        db.session.flush()
    return local_path(row.url)


def mark_all_read(user: User) -> int:
    """Mark every unread notification of ``user`` read; how many there were."""
    result = db.session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


# --- unsubscribing --------------------------------------------------------------------------


def unsubscriber(secret: str, token: str) -> tuple[User, str]:
    """The active account and the kind a token from an email names; ``NotFound`` for a
    token this site did not sign, or whose account is gone or closed."""
    found = read_unsubscribe_token(secret, token)
    user = db.session.get(User, found[0]) if found else None
    if found is None or user is None or user.status != "active":
        raise NotFound("This unsubscribe link is not valid.")
    return user, found[1]


def unsubscribe(secret: str, token: str) -> tuple[User, str]:
    """Turn off the kind of notification a token names, for its user (audited as their
    own change). Safe to repeat."""
    user, kind = unsubscriber(secret, token)
    set_preferences(user, {kind: "off"}, actor=user)
    return user, kind


# --- the daily digest -----------------------------------------------------------------------

# The most notifications one digest lists; the rest are counted and linked.
DIGEST_MAX_ITEMS = 50


def _day_start(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def _claim_digest(user_id: int, now: datetime) -> list[Notification]:
    """Mark the user's waiting digest rows as digested, and return the ones this call
    marked: a conditional UPDATE, so two processes running the digest at once never both
    take a row (the second waits for the first's row locks, then finds them taken)."""
    ids = list(db.session.scalars(select(Notification.id).where(
        Notification.user_id == user_id, Notification.delivery == "digest",
        Notification.digested_at.is_(None), Notification.created_at <= now)))
    if not ids:
        return []
    claimed = set(db.session.scalars(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.digested_at.is_(None))
        .values(digested_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)))
    if not claimed:
        return []
    return list(db.session.scalars(select(Notification).where(
        Notification.id.in_(claimed)).order_by(Notification.id.desc())))


def send_digests(now: datetime, mail_context: MailContext) -> int:
    """Queue one email per user listing their "digest" notifications not yet sent, and mark
    those sent (``digested_at``) in the caller's transaction; how many emails. A user who
    already had a digest on ``now``'s (UTC) day gets none until the next: running it
    twice sends nothing twice."""
    waiting = set(db.session.scalars(select(Notification.user_id).where(
        Notification.delivery == "digest", Notification.digested_at.is_(None),
        Notification.created_at <= now).distinct()))
    if not waiting:
        return 0
    had_today = set(db.session.scalars(select(Notification.user_id).where(
        Notification.delivery == "digest",
        Notification.digested_at >= _day_start(now)).distinct()))
    users = {u.id: u for u in db.session.scalars(select(User).where(
        User.id.in_(waiting - had_today), User.status == "active"))}
    sent = 0
    base = mail_context.site_url.rstrip("/")
    for user_id in sorted(users):
        rows = _claim_digest(user_id, now)
        if not rows:
            continue
        user = users[user_id]
        kinds = sorted({row.kind for row in rows}, key=list(DEFAULTS).index)
        items = [{"title": row.title, "link": base + local_path(row.url), "kind": row.kind,
                  "created_at": row.created_at} for row in rows[:DIGEST_MAX_ITEMS]]
        count = len(rows)
        mail.queue_mail(
            "digest", user.email, user=user, site_url=mail_context.site_url,
            subject=f"Your Tangent digest: {count} new notification{'s' * (count != 1)}",
            items=items, more=max(0, count - DIGEST_MAX_ITEMS),
            list_link=base + FALLBACK_PATH,
            unsubscribe_links=[(KIND_LABELS[kind], unsubscribe_url(mail_context, user_id, kind))
                               for kind in kinds])
        sent += 1
    db.session.flush()
    return sent


# --- purging --------------------------------------------------------------------------------


def purge_notifications(now: datetime, retention_days: int) -> int:
    """Delete notifications older than ``retention_days`` (the rule
    "notification_retention_days"); how many. Safe to repeat."""
    cutoff = now - timedelta(days=retention_days)
    result = db.session.execute(
        delete(Notification).where(Notification.created_at < cutoff)
        .execution_options(synchronize_session=False))
    return result.rowcount or 0


# --- finished jobs --------------------------------------------------------------------------

# Where the notifications of finished jobs point (the branch page, the job's status page,
# which links to the draft or the rewrite); tests check they match the routes.
BRANCH_PATH = "/branches/{}"
JOB_PATH = "/jobs/{}"
_DRAFT_KINDS = {"course_draft": "Your AI course draft", "lesson_regeneration":
                "Your AI rewrite of a lesson"}


def notify_job_finished(job: GenerationJob, *, mail_context: MailContext | None
                        ) -> list[Notification]:
    """Tell the people waiting on a job that just succeeded: the learners who asked for a
    branch lesson ("branch_ready"), the editor who asked for an AI draft or rewrite
    ("draft_finished"). In the transaction that ends the job."""
    if job.status != "succeeded":
        return []
    if job.kind == "branch":
        branch = db.session.scalar(select(Branch).where(
            Branch.parent_lesson_id == job.lesson_id,
            Branch.topic_key == (job.params or {}).get("topic_key")))
        if branch is None or branch.status != "ready":
            return []
        askers = db.session.scalars(select(BranchRequest.user_id).where(
            BranchRequest.branch_id == branch.id)).all()
        return notify(askers, "branch_ready", f"Your lesson “{branch.title}” is ready",
                      BRANCH_PATH.format(branch.id), mail_context=mail_context,
                      course_id=branch.course_id)
    if job.kind in _DRAFT_KINDS and job.requester_id is not None:
        title = _DRAFT_KINDS[job.kind]
        if job.kind == "lesson_regeneration" and job.lesson_id is not None:
            lesson_title = db.session.scalar(select(Lesson.title).where(
                Lesson.id == job.lesson_id))
            if lesson_title:
                title = f"Your AI rewrite of “{lesson_title}”"
        elif job.course_id is not None:
            course_title = db.session.scalar(select(Course.title).where(
                Course.id == job.course_id))
            if course_title:
                title = f"Your AI course draft “{course_title}”"
        return notify([job.requester_id], "draft_finished", f"{title} is ready for review",
                      JOB_PATH.format(job.id), mail_context=mail_context,
                      course_id=job.course_id)
    return []
