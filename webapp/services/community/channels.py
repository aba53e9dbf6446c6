"""Channels: the site's general channel and one channel per course, with their messages,
threads, mentions and the cheap "anything new?" question the channel page polls with.

Who may read and post: the general channel, every active signed-in user; a course's
channel, the members of the course (``access.is_member``: enrolled learners of a published
course, its editors, admins). Channel rows are made lazily, by the first post (the
migration inserts "general"; a fresh database may not have it): two first posts at once
meet the unique slug, and the loser reads the winner's row.

Messages are Markdown in the message subset (``render_message``). A channel lists its
top-level messages by id (keyset: "older than id N", "newer than id N"), so a page never
shifts when new messages arrive. A reply belongs to the thread of a top-level message,
whose ``reply_count`` is kept in the same transaction.

Mentions (the rule shown under the composer): ``@`` followed by a member's display name
("@Grace Hopper", any case; the longest name that matches wins) or by the part of their
email address before the "@" ("@grace", when exactly one member has it). An ``@`` right
after a letter or digit (an email address in the text) is not a mention.

Edits: the author, within ``edit_window_minutes`` of posting; the old text is kept as a
``PostRevision``. Deletes are soft (the row stays with status "deleted", shown as a
placeholder): the author, the course's staff, admins (the only moderators of the general
channel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.content.render import render_message
from webapp.content.sanitize import POLICY_VERSION
from webapp.extensions import db
from webapp.models import (
    Channel,
    ChannelMessage,
    Course,
    CourseEditor,
    Enrollment,
    PostRevision,
    User,
)
from webapp.models.base import utcnow
from webapp.services.community import access, holds, rules
from webapp.services.community.notifications import MailContext, notify
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed

GENERAL = "general"
PAGE_SIZE = 30
THREAD_PAGE_SIZE = 50
LIST_PAGE_SIZE = 50
SUGGESTIONS = 8
# Mentions looked at per message, and words a display name may have.
MENTION_LIMIT = 10
NAME_WORDS = 5
_COURSE_SLUG = re.compile(r"course-([1-9][0-9]{0,9})")
_MENTION_AT = re.compile(r"(?<![\w@])@")
_LOCAL_PART = re.compile(r"[A-Za-z0-9._%+-]+")
_NAME_WORD = re.compile(r"\S+")
_TRAILING_PUNCT = ".,;:!?)]}'\"…"


@dataclass(frozen=True)
class ChannelAccess:
    """A channel as one reader may use it. ``channel`` is None until its first post."""

    slug: str
    title: str
    course: Course | None
    channel: Channel | None
    can_moderate: bool

    @property
    def channel_id(self) -> int | None:
        return self.channel.id if self.channel else None


@dataclass(frozen=True)
class MessageRow:
    """A message with its author's name, as the channel and thread pages show it."""

    message: ChannelMessage
    author_name: str

    @property
    def id(self) -> int:
        return self.message.id


@dataclass(frozen=True)
class MessagePage:
    """One page of messages, oldest first; ``older``/``newer``: the cursors of the pages
    before and after it (None at either end)."""

    rows: list[MessageRow]
    older: int | None
    newer: int | None


@dataclass(frozen=True)
class ChannelLink:
    slug: str
    title: str


def course_slug(course_id: int) -> str:
    return f"course-{course_id}"


def _require_active(user: User | None) -> User:
    if user is None or not user.is_authenticated or not user.is_active:
        raise PermissionDenied("Sign in to read and write in the channels.")
    return user


def get_access(user: User | None, slug: str) -> ChannelAccess:
    """The channel ``slug`` for ``user``: NotFound for a slug that names no channel (or a
    course an outsider may not know of), PermissionDenied for a course they are not in."""
    user = _require_active(user)
    channel = db.session.scalar(select(Channel).where(Channel.slug == slug))
    if slug == GENERAL:
        return ChannelAccess(GENERAL, "General", None, channel, user.is_admin)
    match = _COURSE_SLUG.fullmatch(slug)
    if match is None:
        raise NotFound("There is no such channel.")
    course = db.session.get(Course, int(match.group(1)))
    if course is None:
        raise NotFound("There is no such channel.")
    access.require_member(user, course)
    return ChannelAccess(slug, course.title, course, channel, access.is_staff(user, course))


def _ensure_channel(view: ChannelAccess) -> Channel:
    """The channel's row, made now if this is its first post (race-safe on the slug)."""
    if view.channel is not None:
        return view.channel
    course_id = view.course.id if view.course else None
    try:
        with db.session.begin_nested():
            channel = Channel(slug=view.slug, course_id=course_id)
            db.session.add(channel)
        return channel
    except IntegrityError:
        channel = db.session.scalar(select(Channel).where(Channel.slug == view.slug))
        if channel is None:  # pragma: no cover - the conflict was not the slug
            raise
        return channel


def visible_channels(user: User | None, after: int | None = None
                     ) -> tuple[list[ChannelLink], int | None]:
    """The channels ``user`` can open: the general one (on the first page), then the
    courses they take or teach, by course id; and the cursor of the next page."""
    user = _require_active(user)
    enrolled = select(Enrollment.course_id).where(Enrollment.user_id == user.id)
    edited = select(CourseEditor.course_id).where(CourseEditor.user_id == user.id)
    query = select(Course.id, Course.title).where(or_(
        (Course.id.in_(enrolled)) & (Course.status == "published"),
        Course.id.in_(edited), Course.owner_id == user.id))
    if after is not None:
        query = query.where(Course.id > after)
    rows = db.session.execute(query.order_by(Course.id).limit(LIST_PAGE_SIZE + 1)).all()
    links = [ChannelLink(course_slug(cid), title) for cid, title in rows[:LIST_PAGE_SIZE]]
    following = rows[LIST_PAGE_SIZE - 1][0] if len(rows) > LIST_PAGE_SIZE else None
    if after is None:
        links.insert(0, ChannelLink(GENERAL, "General"))
    return links, following


# --- reading -------------------------------------------------------------------------------


def _rows(query) -> list[MessageRow]:
    return [MessageRow(message, name) for message, name in db.session.execute(query).all()]


def _with_author():
    return select(ChannelMessage, User.display_name).join(
        User, User.id == ChannelMessage.author_id)


def list_messages(view: ChannelAccess, before: int | None = None,
                  page_size: int = PAGE_SIZE) -> MessagePage:
    """The newest top-level messages (or the newest older than ``before``), oldest first.
    One indexed query (``channel_id, parent_id, id``)."""
    if view.channel is None:
        return MessagePage([], None, None)
    query = _with_author().where(ChannelMessage.channel_id == view.channel.id,
                                 ChannelMessage.parent_id.is_(None))
    if before is not None:
        query = query.where(ChannelMessage.id < before)
    rows = _rows(query.order_by(ChannelMessage.id.desc()).limit(page_size + 1))
    page = rows[:page_size]
    older = page[-1].id if len(rows) > page_size else None
    page.reverse()
    newer = page[-1].id if before is not None and page else None
    return MessagePage(page, older, newer)


def newer_messages(view: ChannelAccess, since: int,
                   page_size: int = PAGE_SIZE) -> list[MessageRow]:
    """Top-level messages after ``since``, oldest first (at most a page; the next poll
    asks after the last one)."""
    if view.channel is None:
        return []
    return _rows(_with_author().where(
        ChannelMessage.channel_id == view.channel.id, ChannelMessage.parent_id.is_(None),
        ChannelMessage.id > since).order_by(ChannelMessage.id).limit(page_size))


# The poll's one statement: is there a top-level message after ``since`` in the channel
# named ``slug``? Both lookups are index seeks (channel.slug unique; channel_id, parent_id,
# id). Prebuilt: a poll is the most frequent request a channel sees.
_CHANNEL_BY_SLUG = select(Channel.id).where(Channel.slug == bindparam("slug"))
_NEWEST_AFTER = (select(ChannelMessage.id)
                 .where(ChannelMessage.channel_id == _CHANNEL_BY_SLUG.scalar_subquery(),
                        ChannelMessage.parent_id.is_(None),
                        ChannelMessage.id > bindparam("since"))
                 .order_by(ChannelMessage.id).limit(1))


def has_newer(slug: str, since: int) -> bool:
    """Whether channel ``slug`` has a top-level message after ``since`` (one indexed
    query; no permission check: callers check, or hold proof the reader was checked)."""
    return db.session.execute(_NEWEST_AFTER, {"slug": slug, "since": since}).first() is not None


def newest_id(page: MessagePage) -> int:
    """The ``since`` cursor after ``page``: its newest message (0 when empty)."""
    return page.rows[-1].id if page.rows else 0


def get_message(view: ChannelAccess, message_id: int) -> ChannelMessage:
    """A message of this channel (any status), else NotFound."""
    message = db.session.get(ChannelMessage, message_id)
    channel = view.channel or db.session.scalar(select(Channel).where(Channel.slug == view.slug))
    if message is None or channel is None or message.channel_id != channel.id:
        raise NotFound("There is no such message in this channel.")
    return message


def get_thread(view: ChannelAccess, message_id: int, after: int | None = None,
               page_size: int = THREAD_PAGE_SIZE) -> tuple[MessageRow, MessagePage]:
    """A top-level message with one page of its replies (oldest first, after ``after``).
    Asked for a reply, NotFound: its thread's address is its parent's."""
    message = get_message(view, message_id)
    if message.parent_id is not None:
        raise NotFound("That message is a reply; open its thread instead.")
    author = db.session.scalar(select(User.display_name).where(User.id == message.author_id))
    query = _with_author().where(ChannelMessage.parent_id == message.id)
    if after is not None:
        query = query.where(ChannelMessage.id > after)
    rows = _rows(query.order_by(ChannelMessage.id).limit(page_size + 1))
    page = rows[:page_size]
    newer = page[-1].id if len(rows) > page_size else None
    return MessageRow(message, author or ""), MessagePage(page, None, newer)


def suggest_members(view: ChannelAccess, prefix: str, limit: int = SUGGESTIONS) -> list[str]:
    """Display names of the channel's members that start with ``prefix`` (any case), for
    the mention autocomplete."""
    prefix = " ".join(prefix.split())[:80]
    if not prefix:
        return []
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = select(User.display_name).where(
        User.status == "active",
        func.lower(User.display_name).like(escaped + "%", escape="\\"))
    if view.course is not None:
        query = query.where(_member_clause(view.course))
    return list(db.session.scalars(
        query.order_by(User.display_name, User.id).limit(limit)).all())


def _member_clause(course: Course):
    """Users who are members of ``course`` (as a WHERE clause on ``User``)."""
    editors = select(CourseEditor.user_id).where(CourseEditor.course_id == course.id)
    staff = or_(User.role == "admin", User.id == course.owner_id, User.id.in_(editors))
    if course.status != "published":
        return staff
    enrolled = select(Enrollment.user_id).where(Enrollment.course_id == course.id)
    return or_(staff, User.id.in_(enrolled))


# --- mentions ------------------------------------------------------------------------------


def _mention_candidates(text: str) -> list[tuple[list[str], str | None]]:
    """For each ``@`` that starts a mention: the lower-cased names it could be (one to
    ``NAME_WORDS`` words, longest first) and the email local part it could be."""
    found = []
    for match in list(_MENTION_AT.finditer(text))[:MENTION_LIMIT]:
        rest = text[match.end():match.end() + 120]
        words = _NAME_WORD.findall(rest.split("\n", 1)[0])[:NAME_WORDS]
        names = []
        for n in range(len(words), 0, -1):
            name = " ".join(words[:n]).lower()
            names.append(name)
            stripped = name.rstrip(_TRAILING_PUNCT)
            if stripped and stripped != name:
                names.append(stripped)
        local = _LOCAL_PART.match(rest)
        found.append((names, local.group(0).rstrip(".").lower() if local else None))
    return found


def mentioned_ids(view: ChannelAccess, text: str) -> list[int]:
    """The members ``text`` mentions (see the module's rule), in order of first mention."""
    candidates = _mention_candidates(text)
    names = {name for names, _ in candidates for name in names}
    locals_ = {local for _, local in candidates if local}
    if not names and not locals_:
        return []
    conditions = [func.lower(User.display_name).in_(names)] if names else []
    conditions += [func.lower(User.email).like(local.replace("\\", "\\\\")
                                               .replace("%", "\\%").replace("_", "\\_") + "@%",
                                               escape="\\") for local in locals_]
    query = select(User.id, User.display_name, User.email).where(
        User.status == "active", or_(*conditions))
    if view.course is not None:
        query = query.where(_member_clause(view.course))
    users = db.session.execute(query).all()
    by_name: dict[str, list[int]] = {}
    by_local: dict[str, list[int]] = {}
    for uid, name, email in users:
        by_name.setdefault(name.lower(), []).append(uid)
        by_local.setdefault(email.split("@", 1)[0].lower(), []).append(uid)
    chosen: list[int] = []
    for names_here, local in candidates:
        hit = next((by_name[name] for name in names_here if name in by_name), None)
        if hit is None and local and len(by_local.get(local, [])) == 1:
            hit = by_local[local]
        for uid in hit or []:
            if uid not in chosen:
                chosen.append(uid)
    return chosen


# --- writing -------------------------------------------------------------------------------


def _message_url(view: ChannelAccess, message: ChannelMessage) -> str:
    thread = message.parent_id or message.id
    return f"/channels/{view.slug}/messages/{thread}#message-{message.id}"


def _clean_body(user: User, raw: str | None, *, new: bool = False) -> tuple[str, bool]:
    """The cleaned text, and whether a new message must wait for a moderator (a
    newcomer's link, ``rules.hold_links``); an edit with a newcomer's link is refused."""
    text = rules.clean_text(raw, field="body", label="Message",
                            max_length=rules.value("message_max_length"))
    if new:
        return text, rules.hold_links(user, text)
    rules.check_links(user, text)
    return text, False


def post_message(user: User, view: ChannelAccess, body: str | None, *,
                 parent_id: int | None = None,
                 mail_context: MailContext | None = None) -> ChannelMessage:
    """Write a message (a reply in ``parent_id``'s thread when given) and notify the people
    it mentions ("mention") and, for a reply, the thread's author and earlier repliers
    ("thread_reply"). One transaction; the caller commits."""
    user = _require_active(user)
    text, held = _clean_body(user, body, new=True)
    parent = None
    if parent_id is not None:
        parent = db.session.get(ChannelMessage, parent_id)
        if parent is None or parent.parent_id is not None or parent.status == "deleted" \
                or db.session.scalar(select(Channel.slug).where(
                    Channel.id == parent.channel_id)) != view.slug:
            raise NotFound("There is no such thread in this channel.")
    channel = _ensure_channel(view)
    # Posts in one channel queue on its row (PostgreSQL: FOR UPDATE; SQLite serializes
    # writers anyway), so ids become visible in the order they were given: a reader's
    # "since" cursor can never step past a message whose transaction commits late.
    db.session.execute(select(Channel.id).where(Channel.id == channel.id).with_for_update())
    now = utcnow()
    message = ChannelMessage(channel_id=channel.id, author_id=user.id, parent_id=parent_id,
                             body=text, body_html=render_message(text),
                             html_policy=POLICY_VERSION, created_at=now,
                             status="hidden" if held else "visible")
    db.session.add(message)
    if parent is not None:
        # Counted in the database, not in Python: concurrent replies each add one.
        db.session.execute(update(ChannelMessage).where(ChannelMessage.id == parent.id)
                           .values(reply_count=ChannelMessage.reply_count + 1,
                                   last_reply_at=now)
                           .execution_options(synchronize_session=False))
    db.session.flush()
    url = _message_url(view, message)
    course_id = view.course.id if view.course else None
    if held:
        # Nobody is told of it (mentions, replies) until a moderator lets it through.
        holds.hold_post("message", message, course_id=course_id)
        return message
    mentioned = mentioned_ids(view, text)
    if mentioned:
        notify(mentioned, "mention", f"{user.display_name} mentioned you in {view.title}",
               url, mail_context=mail_context, actor=user, course_id=course_id)
    if parent is not None:
        earlier = db.session.scalars(select(ChannelMessage.author_id).where(
            ChannelMessage.parent_id == parent.id, ChannelMessage.id != message.id,
            ChannelMessage.status != "deleted").distinct()).all()
        followers = [uid for uid in dict.fromkeys([parent.author_id, *earlier])
                     if uid not in mentioned]
        if view.course is not None and followers:
            # Only people who can still read the channel hear of it.
            followers = list(db.session.scalars(select(User.id).where(
                User.id.in_(followers), _member_clause(view.course))).all())
        if followers:
            notify(followers, "thread_reply",
                   f"{user.display_name} replied in a thread in {view.title}", url,
                   mail_context=mail_context, actor=user, course_id=course_id)
    return message


def edit_deadline(message: ChannelMessage, minutes: int):
    return message.created_at + timedelta(minutes=minutes)


def can_edit(user: User | None, message: ChannelMessage, minutes: int | None = None) -> bool:
    """The author, while the message is shown and the edit window is open."""
    if user is None or not user.is_authenticated or message.author_id != user.id:
        return False
    if message.status != "visible":
        return False
    minutes = rules.value("edit_window_minutes") if minutes is None else minutes
    return utcnow() < edit_deadline(message, minutes)


def can_delete(user: User | None, view: ChannelAccess, message: ChannelMessage) -> bool:
    if user is None or not user.is_authenticated or message.status == "deleted":
        return False
    return message.author_id == user.id or view.can_moderate


def edit_message(user: User, view: ChannelAccess, message_id: int,
                 body: str | None) -> ChannelMessage:
    """Change a message's text within the edit window, keeping the old text as a revision."""
    user = _require_active(user)
    message = get_message(view, message_id)
    minutes = rules.value("edit_window_minutes")
    if message.author_id != user.id:
        raise PermissionDenied("Only its author can edit a message.")
    if message.status != "visible":
        raise NotFound("That message was removed.")
    if not utcnow() < edit_deadline(message, minutes):
        raise ValidationFailed(
            f"Messages can be edited for {minutes} minutes after posting; this one no "
            "longer can. Post a new message instead.", field="body")
    text, _held = _clean_body(user, body)
    if text == message.body:
        return message
    db.session.add(PostRevision(message_id=message.id, editor_id=user.id, body=message.body))
    message.body = text
    message.body_html = render_message(text)
    message.html_policy = POLICY_VERSION
    message.edited_at = utcnow()
    db.session.flush()
    return message


def delete_message(user: User, view: ChannelAccess, message_id: int) -> ChannelMessage:
    """Soft-delete: the author, the course's staff, or (in the general channel) admins. A
    deleted reply no longer counts in its thread's reply count."""
    user = _require_active(user)
    message = get_message(view, message_id)
    if message.status == "deleted":
        return message
    if not can_delete(user, view, message):
        raise PermissionDenied("Only its author or a moderator can delete a message.")
    message.status = "deleted"
    message.deleted_at = utcnow()
    if message.parent_id is not None:
        db.session.execute(update(ChannelMessage).where(
            ChannelMessage.id == message.parent_id, ChannelMessage.reply_count > 0)
            .values(reply_count=ChannelMessage.reply_count - 1)
            .execution_options(synchronize_session=False))
    db.session.flush()
    return message
