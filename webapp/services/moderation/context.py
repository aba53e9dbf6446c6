"""One queue item as a moderator judges it: the content in its context (a message with the
messages around it, an answer with its question, a question with its lesson, a lesson with
its sections …), its flags with their reasons and notes, the author's history (earlier
actions, account age, post count), the item's revisions and what was done to it before.

Everything is read in a fixed number of queries; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from webapp.content.render import render_post
from webapp.extensions import db
from webapp.models import (
    Channel,
    ChannelMessage,
    Course,
    Flag,
    Lesson,
    ModerationAction,
    ModerationItem,
    PostRevision,
    QaQuestion,
    Section,
    User,
)
from webapp.models.base import utcnow
from webapp.services.community import rules
from webapp.services.community.flags import REASON_LABELS as FLAG_REASON_LABELS
from webapp.services.moderation import content, listing, notices

AROUND = 3  # messages shown before and after a flagged message
THREAD_MAX = 20
HISTORY_MAX = 20
SECTIONS_MAX = 12


@dataclass(frozen=True)
class Post:
    """A piece of writing shown for context (its HTML is the sanitized ``body_html``)."""

    id: int
    kind: str
    author_name: str
    title: str | None
    body_html: str
    status: str
    created_at: datetime
    flagged: bool = False  # the item itself


@dataclass(frozen=True)
class FlagRow:
    reason: str
    note: str
    status: str
    created_at: datetime
    reporter: str  # display name (moderators only see this page)


@dataclass(frozen=True)
class ActionRow:
    action: ModerationAction
    moderator: str  # display name, or "Automatic rule"
    reason: str


@dataclass(frozen=True)
class RevisionRow:
    title: str | None
    body: str
    editor: str
    created_at: datetime


@dataclass
class ItemContext:
    item: ModerationItem
    target: object | None
    kind_label: str
    label: str
    course: Course | None
    author: User | None
    # The item itself, rendered (None for a lesson, branch or profile: see below).
    post: Post | None = None
    # Around it: earlier and later messages, the thread's first message, the question.
    before: list[Post] = field(default_factory=list)
    after: list[Post] = field(default_factory=list)
    parent: Post | None = None
    where: str = ""  # "In the channel …", "On the lesson …"
    sections: list[Section] = field(default_factory=list)
    branch_html: str = ""
    flags: list[FlagRow] = field(default_factory=list)
    history: list[ActionRow] = field(default_factory=list)
    item_actions: list[ActionRow] = field(default_factory=list)
    revisions: list[RevisionRow] = field(default_factory=list)
    account_days: int | None = None
    post_count: int | None = None
    path: str = ""


def _names(ids) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.display_name)
                                   .where(User.id.in_(ids))).all())


def _post(kind: str, row, names: dict[int, str], *, flagged: bool = False) -> Post:
    return Post(id=row.id, kind=kind, author_name=names.get(row.author_id, "A former member"),
                title=getattr(row, "title", None), body_html=row.body_html or "",
                status=row.status, created_at=row.created_at, flagged=flagged)


def _message_context(ctx: ItemContext, message: ChannelMessage) -> None:
    channel = db.session.get(Channel, message.channel_id)
    course = db.session.get(Course, channel.course_id) if channel and channel.course_id \
        else None
    ctx.where = f"In the channel of {course.title}" if course else "In the general channel"
    if message.parent_id is not None:
        parent = db.session.get(ChannelMessage, message.parent_id)
        siblings = ChannelMessage.parent_id == message.parent_id
    else:
        parent = None
        siblings = (ChannelMessage.channel_id == message.channel_id) \
            & ChannelMessage.parent_id.is_(None)
    before = list(db.session.scalars(select(ChannelMessage).where(
        siblings, ChannelMessage.id < message.id)
        .order_by(ChannelMessage.id.desc()).limit(AROUND)))
    before.reverse()
    after = list(db.session.scalars(select(ChannelMessage).where(
        siblings, ChannelMessage.id > message.id)
        .order_by(ChannelMessage.id).limit(AROUND)))
    names = _names([m.author_id for m in (*before, *after, message)]
                   + ([parent.author_id] if parent else []))
    ctx.post = _post("message", message, names, flagged=True)
    ctx.before = [_post("message", m, names) for m in before]
    ctx.after = [_post("message", m, names) for m in after]
    if parent is not None:
        ctx.parent = _post("message", parent, names)
        ctx.where += ", in a thread"


def _lesson_where(lesson_id: int | None, section_key: str | None) -> str:
    lesson = db.session.get(Lesson, lesson_id) if lesson_id else None
    if lesson is None:
        return ""
    where = f"About the lesson “{lesson.title}”"
    if section_key:
        title = db.session.scalar(select(Section.title).where(
            Section.lesson_id == lesson.id, Section.key == section_key))
        if title:
            where += f", section “{title}”"
    return where


def _revisions(kind: str, target) -> list[RevisionRow]:
    column = {"question": PostRevision.question_id, "answer": PostRevision.answer_id,
              "message": PostRevision.message_id}.get(kind)
    if column is None or target is None:
        return []
    rows = db.session.execute(
        select(PostRevision, User.display_name).outerjoin(User, User.id == PostRevision.editor_id)
        .where(column == target.id).order_by(PostRevision.id.desc()).limit(HISTORY_MAX)).all()
    return [RevisionRow(rev.title, rev.body, name or "A former member", rev.created_at)
            for rev, name in rows]


def _action_rows(actions: list[ModerationAction]) -> list[ActionRow]:
    names = _names(a.moderator_id for a in actions)
    return [ActionRow(a, "Automatic rule" if a.automated or a.moderator_id is None
                      else names.get(a.moderator_id, "A former moderator"),
                      notices.REASON_LABELS.get(a.reason, a.reason)) for a in actions]


def item_context(item: ModerationItem, *, now: datetime | None = None) -> ItemContext:
    """Everything the item page shows about ``item``."""
    target = content.target_of(item)
    kind = item.target_kind
    course = db.session.get(Course, item.course_id) if item.course_id else None
    author_id = item.target_id if kind == "profile" else item.author_id
    author = db.session.get(User, author_id) if author_id else None
    ctx = ItemContext(item=item, target=target, kind_label=listing.KIND_LABELS.get(kind, kind),
                      label=listing.label_of(kind, target), course=course, author=author,
                      path=content.target_path(kind, target))
    if target is not None:
        if kind == "message":
            _message_context(ctx, target)
        elif kind in ("question", "event", "announcement"):
            names = _names([target.author_id])
            ctx.post = _post(kind, target, names, flagged=True)
            if kind == "question":
                ctx.where = _lesson_where(target.lesson_id, target.section_key) \
                    or (f"On the course {course.title}" if course else "")
            else:
                ctx.where = f"On the course {course.title}" if course else "For the whole site"
        elif kind == "answer":
            question = db.session.get(QaQuestion, target.question_id)
            names = _names([target.author_id, question.author_id if question else None])
            ctx.post = _post("answer", target, names, flagged=True)
            if question is not None:
                ctx.parent = _post("question", question, names)
                ctx.where = _lesson_where(question.lesson_id, question.section_key) \
                    or (f"On the course {course.title}" if course else "")
        elif kind == "lesson":
            ctx.where = f"In the course {course.title}" if course else ""
            ctx.sections = list(db.session.scalars(select(Section).where(
                Section.lesson_id == target.id).order_by(Section.position).limit(SECTIONS_MAX)))
        elif kind == "branch":
            parent = db.session.get(Lesson, target.parent_lesson_id)
            ctx.where = (f"A branch of the lesson “{parent.title}”" if parent else "") + \
                (f" on “{target.topic}”" if target.topic else "")
            ctx.branch_html = target.html or ""
    flags = db.session.execute(
        select(Flag, User.display_name).outerjoin(User, User.id == Flag.user_id)
        .where(Flag.target_kind == kind, Flag.target_id == item.target_id)
        .order_by(Flag.id.desc()).limit(50)).all() if kind != "appeal" else []
    ctx.flags = [FlagRow(FLAG_REASON_LABELS.get(f.reason, f.reason), f.note, f.status,
                         f.created_at, name or "A former member") for f, name in flags]
    ctx.item_actions = _action_rows(list(db.session.scalars(select(ModerationAction).where(
        ModerationAction.item_id == item.id).order_by(ModerationAction.id.desc())
        .limit(HISTORY_MAX))))
    if author is not None:
        ctx.history = _action_rows(list(db.session.scalars(select(ModerationAction).where(
            ModerationAction.subject_id == author.id).order_by(ModerationAction.id.desc())
            .limit(HISTORY_MAX))))
        ctx.account_days = max(0, ((now or utcnow()) - author.created_at).days)
        ctx.post_count = rules.post_count(author, visible_only=False)
    ctx.revisions = _revisions(kind, target)
    return ctx


def render_markdown(text: str) -> str:
    """A revision's text for display (revisions keep only the Markdown)."""
    return render_post(text)

