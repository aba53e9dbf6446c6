"""Course announcements: the course's staff post them (a title and Markdown), edit and
delete them (softly); the course's members read them on the course page, on a list page
and on their dashboard, and enrolled learners hear of each new one ("announcement",
on the site and by email per their preferences).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import literal, select, union_all

from webapp.content.render import render_post
from webapp.content.sanitize import POLICY_VERSION
from webapp.extensions import db
from webapp.models import Announcement, Course, Enrollment, Event, User
from webapp.models.base import utcnow
from webapp.services.community import access, rules
from webapp.services.community.notifications import MailContext, notify
from webapp.services.exceptions import NotFound
from webapp.services.paging import split_page

PAGE_SIZE = 20
TITLE_MAX = 200
TITLE_MIN = 3


def announcement_path(announcement_id: int) -> str:
    return f"/announcements/{announcement_id}"


@dataclass(frozen=True)
class Headline:
    """One line of the dashboard's "Announcements": the announcement and its course."""

    id: int
    title: str
    created_at: datetime
    course_id: int
    course_title: str
    course_slug: str


def _clean(author: User, title: str | None, body: str | None) -> tuple[str, str]:
    title = rules.clean_text(title, field="title", label="Title", max_length=TITLE_MAX,
                             min_length=TITLE_MIN, single_line=True)
    body = rules.clean_text(body, field="body", label="Announcement",
                            max_length=rules.POST_MAX)
    rules.check_links(author, title, body)
    return title, body


def post_announcement(actor: User, course: Course, *, title: str | None, body: str | None,
                      mail_context: MailContext | None) -> Announcement:
    """Post an announcement to ``course`` (its staff only) and notify its enrolled
    learners, in the caller's transaction."""
    access.require_staff(actor, course)
    title, body = _clean(actor, title, body)
    item = Announcement(author_id=actor.id, course_id=course.id, title=title, body=body,
                        body_html=render_post(body), html_policy=POLICY_VERSION)
    db.session.add(item)
    db.session.flush()
    learners = db.session.scalars(select(Enrollment.user_id).where(
        Enrollment.course_id == course.id)).all()
    notify(learners, "announcement", f"{course.title}: {title}",
           announcement_path(item.id), mail_context=mail_context, actor=actor,
           course_id=course.id)
    return item


def get_announcement(user: User | None, announcement_id: int) -> tuple[Announcement, Course]:
    """A visible announcement and its course, for a member of the course."""
    item = db.session.get(Announcement, announcement_id)
    if item is None or item.status != "visible":
        raise NotFound("There is no such announcement.")
    course = access.get_course(item.course_id)
    access.require_member(user, course)
    return item, course


def _managed(actor: User, announcement_id: int) -> tuple[Announcement, Course]:
    item = db.session.get(Announcement, announcement_id)
    if item is None or item.status == "deleted":
        raise NotFound("There is no such announcement.")
    course = access.get_course(item.course_id)
    if not access.is_staff(actor, course):
        if access.is_member(actor, course) and item.status == "visible":
            access.require_staff(actor, course)
        raise NotFound("There is no such announcement.")
    return item, course


def get_managed_announcement(actor: User, announcement_id: int) -> tuple[Announcement, Course]:
    """The announcement and its course, for the course's staff."""
    return _managed(actor, announcement_id)


def edit_announcement(actor: User, announcement_id: int, *, title: str | None,
                      body: str | None) -> Announcement:
    """Change the title and text (staff); readers see it marked as edited."""
    item, _course = _managed(actor, announcement_id)
    title, body = _clean(actor, title, body)
    if (title, body) != (item.title, item.body):
        item.title, item.body = title, body
        item.body_html, item.html_policy = render_post(body), POLICY_VERSION
        item.edited_at = utcnow()
        db.session.flush()
    return item


def delete_announcement(actor: User, announcement_id: int) -> Course:
    """Soft delete (staff): readers no longer see it; the row stays for moderators."""
    item, course = _managed(actor, announcement_id)
    item.status, item.deleted_at = "deleted", utcnow()
    db.session.flush()
    return course


def list_announcements(user: User | None, course: Course, *, before: int | None = None,
                       page_size: int = PAGE_SIZE) -> tuple[list[Announcement], int | None]:
    """A course's announcements, newest first, for its members: one page (keyset on id,
    ``before`` the last id of the previous page) and the cursor of the next (or None)."""
    access.require_member(user, course)
    stmt = select(Announcement).where(Announcement.course_id == course.id,
                                      Announcement.status == "visible")
    if before is not None:
        stmt = stmt.where(Announcement.id < before)
    rows = db.session.scalars(stmt.order_by(Announcement.id.desc()).limit(page_size + 1)).all()
    page, last = split_page(rows, page_size)
    return page, (last.id if last is not None else None)


@dataclass(frozen=True)
class NewsItem:
    """A line of a course page's "Announcements and events": an announcement (``at``: when
    it was posted) or an upcoming event (``at``: when it starts)."""

    kind: str
    id: int
    title: str
    at: datetime


def course_news(course_id: int, limit: int = 3) -> tuple[list[NewsItem], list[NewsItem]]:
    """The newest ``limit`` announcements and the next ``limit`` events of a course, in one
    statement (the course page's budget); the caller checks that the reader is a member."""
    news = select(literal("announcement").label("kind"), Announcement.id, Announcement.title,
                  Announcement.created_at.label("at")).where(
        Announcement.course_id == course_id, Announcement.status == "visible").order_by(
        Announcement.id.desc()).limit(limit).subquery()
    coming = select(literal("event").label("kind"), Event.id, Event.title,
                    Event.starts_at.label("at")).where(
        Event.course_id == course_id, Event.status == "visible", Event.state == "scheduled",
        Event.ends_at > utcnow()).order_by(Event.starts_at, Event.id).limit(limit).subquery()
    rows = db.session.execute(union_all(select(news), select(coming))).all()
    items = [NewsItem(kind, id_, title, at) for kind, id_, title, at in rows]
    return ([i for i in items if i.kind == "announcement"],
            sorted((i for i in items if i.kind == "event"), key=lambda i: (i.at, i.id)))


def latest_for_user(user: User, limit: int = 5) -> list[Headline]:
    """The newest announcements of the published courses ``user`` is enrolled in (one
    statement)."""
    rows = db.session.execute(
        select(Announcement.id, Announcement.title, Announcement.created_at, Course.id,
               Course.title, Course.slug)
        .join(Course, Course.id == Announcement.course_id)
        .join(Enrollment, (Enrollment.course_id == Course.id)
              & (Enrollment.user_id == user.id))
        .where(Announcement.status == "visible", Course.status == "published")
        .order_by(Announcement.id.desc()).limit(limit)).all()
    return [Headline(*row) for row in rows]
