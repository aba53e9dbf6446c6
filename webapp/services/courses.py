"""Courses: the catalog (keyset-paginated), course and lesson lookups, content writes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import selectinload

from webapp.content.diff import make_delta
from webapp.content.render import (
    RENDERER_VERSION,
    RenderedSection,
    render_sections,
    slugify,
)
from webapp.extensions import db
from webapp.models import (
    Course,
    CourseTag,
    Lesson,
    LessonRevision,
    Module,
    Question,
    Quiz,
    Section,
    Tag,
    User,
)
from webapp.models.base import utcnow
from webapp.models.courses import LEVELS
from webapp.services.audit import record_audit
from webapp.services.exceptions import NotFound, ValidationFailed
from webapp.services.paging import split_page

CATALOG_PAGE_SIZE = 12
SEARCH_MAX = 100


# --- catalog -----------------------------------------------------------------


@dataclass(frozen=True)
class CatalogFilter:
    q: str = ""
    tag: str = ""
    level: str = ""

    @classmethod
    def from_args(cls, q: str | None, tag: str | None, level: str | None) -> CatalogFilter:
        q = (q or "").strip()[:SEARCH_MAX]
        level = (level or "").strip()
        if level and level not in LEVELS:
            raise ValidationFailed(f"Level must be one of {', '.join(LEVELS)}.", field="level")
        return cls(q=q, tag=(tag or "").strip()[:40], level=level)


@dataclass(frozen=True)
class CatalogPage:
    courses: Sequence[Course]
    next_cursor: str | None
    filter: CatalogFilter


def encode_cursor(published_at: datetime, course_id: int) -> str:
    raw = f"{published_at.isoformat()}|{course_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, _, course_id = base64.urlsafe_b64decode(padded).decode().partition("|")
        return datetime.fromisoformat(stamp), int(course_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationFailed("That page link is not valid; start from the first page.",
                               field="after") from None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_catalog(
    filters: CatalogFilter, after: str | None = None, page_size: int = CATALOG_PAGE_SIZE
) -> CatalogPage:
    """Published courses, newest first, one page after ``after`` (a cursor)."""
    stmt = (
        select(Course)
        .where(Course.status == "published")
        .options(selectinload(Course.tags))
        .order_by(Course.published_at.desc(), Course.id.desc())
        .limit(page_size + 1)
    )
    if filters.q:
        pattern = f"%{_escape_like(filters.q.lower())}%"
        stmt = stmt.where(
            or_(func.lower(Course.title).like(pattern, escape="\\"),
                func.lower(Course.summary).like(pattern, escape="\\"))
        )
    if filters.level:
        stmt = stmt.where(Course.level == filters.level)
    if filters.tag:
        stmt = stmt.where(
            Course.id.in_(
                select(CourseTag.course_id).join(Tag, Tag.id == CourseTag.tag_id)
                .where(Tag.slug == filters.tag)
            )
        )
    if after:
        stamp, course_id = decode_cursor(after)
        stmt = stmt.where(
            or_(Course.published_at < stamp,
                and_(Course.published_at == stamp, Course.id < course_id))
        )
    rows, last = split_page(db.session.scalars(stmt).all(), page_size)
    next_cursor = encode_cursor(last.published_at, last.id) if last else None  # type: ignore[arg-type]
    return CatalogPage(courses=rows, next_cursor=next_cursor, filter=filters)


def list_tags() -> Sequence[Tag]:
    """Tags used by at least one published course."""
    stmt = (
        select(Tag)
        .where(Tag.id.in_(
            select(CourseTag.tag_id).join(Course, Course.id == CourseTag.course_id)
            .where(Course.status == "published")
        ))
        .order_by(Tag.name)
    )
    return db.session.scalars(stmt).all()


# --- reading one course ----------------------------------------------------------


def get_published_course(slug: str) -> Course:
    """A published course with its syllabus (modules → lessons) loaded in fixed queries."""
    course = db.session.scalar(
        select(Course)
        .where(Course.slug == slug, Course.status == "published")
        .options(
            selectinload(Course.modules).selectinload(Module.lessons),
            selectinload(Course.tags),
            selectinload(Course.prerequisites),
        )
    )
    if course is None:
        raise NotFound("There is no published course at this address.")
    return course


def get_published_lesson(course_slug: str, lesson_slug: str) -> Lesson:
    lesson = db.session.scalar(
        select(Lesson)
        .join(Course, Course.id == Lesson.course_id)
        .where(Course.slug == course_slug, Course.status == "published",
               Lesson.slug == lesson_slug)
        .options(selectinload(Lesson.sections))
    )
    if lesson is None:
        raise NotFound("There is no such lesson in this course.")
    return lesson


def get_published_lesson_by_id(lesson_id: int) -> Lesson:
    """A lesson of a published course, by id (for actions posted to /lessons/<id>/…)."""
    lesson = db.session.scalar(
        select(Lesson)
        .join(Course, Course.id == Lesson.course_id)
        .where(Lesson.id == lesson_id, Course.status == "published")
    )
    if lesson is None:
        raise NotFound("There is no such lesson.")
    return lesson


def lesson_neighbours(lesson: Lesson) -> tuple[Lesson | None, Lesson | None]:
    """The previous and next lesson of the course, by course-wide position."""
    base = select(Lesson).where(Lesson.course_id == lesson.course_id)
    prev = db.session.scalar(
        base.where(Lesson.position < lesson.position).order_by(Lesson.position.desc()).limit(1)
    )
    nxt = db.session.scalar(
        base.where(Lesson.position > lesson.position).order_by(Lesson.position).limit(1)
    )
    return prev, nxt


def quiz_after(lesson: Lesson) -> Quiz | None:
    """The quiz that follows ``lesson`` on the learning path: its module's first quiz
    (that has questions) when ``lesson`` is the module's last lesson."""
    later = select(Lesson.id).where(Lesson.module_id == lesson.module_id,
                                    Lesson.position > lesson.position).exists()
    return db.session.scalar(
        select(Quiz).where(Quiz.module_id == lesson.module_id, ~later,
                           Quiz.id.in_(select(Question.quiz_id)))
        .order_by(Quiz.id).limit(1))


# --- writing content without permission checks ----------------------------------------
# For the demo loader, package import, AI drafts and tests. An editor's actions go
# through ``webapp.services.authoring``, which checks who may write first.


def _unique_course_slug(title: str) -> str:
    base = slugify(title, 70) or "course"
    slug, n = base, 2
    while db.session.scalar(select(Course.id).where(Course.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug


def get_or_create_tags(names: Iterable[str]) -> list[Tag]:
    tags = []
    for name in names:
        slug = slugify(name, 40)
        if not slug:
            raise ValidationFailed(f"Tag {name!r} has no letters or digits.", field="tags")
        tag = db.session.scalar(select(Tag).where(Tag.slug == slug))
        if tag is None:
            tag = Tag(slug=slug, name=name.strip()[:40])
            db.session.add(tag)
            db.session.flush()
        tags.append(tag)
    return tags


def create_course_unchecked(
    actor: User | None,
    *,
    title: str,
    summary: str = "",
    level: str = "beginner",
    tags: Iterable[str] = (),
    slug: str | None = None,
) -> Course:
    """A new draft course owned by ``actor``; no permission check (see authoring.create_course)."""
    title = title.strip()
    if not title:
        raise ValidationFailed("Give the course a title.", field="title")
    if level not in LEVELS:
        raise ValidationFailed(f"Level must be one of {', '.join(LEVELS)}.", field="level")
    course = Course(
        slug=slugify(slug, 80) if slug else _unique_course_slug(title),
        title=title[:160],
        summary=summary.strip()[:500],
        level=level,
        owner_id=actor.id if actor else None,
    )
    course.tags = get_or_create_tags(tags)
    db.session.add(course)
    db.session.flush()
    record_audit(actor, "course.create", "course", course.id,
                 {"title": [None, course.title], "slug": [None, course.slug]})
    return course


def add_module_unchecked(actor: User | None, course: Course, title: str) -> Module:
    """Append a module to ``course``; no permission check (see authoring.add_module)."""
    position = (db.session.scalar(
        select(func.max(Module.position)).where(Module.course_id == course.id)
    ) or 0) + 1
    module = Module(course_id=course.id, position=position, title=title.strip()[:160])
    db.session.add(module)
    db.session.flush()
    record_audit(actor, "module.create", "module", module.id, {"title": [None, module.title]})
    return module


def add_lesson_unchecked(
    actor: User | None,
    module: Module,
    title: str,
    source: str,
    *,
    slug: str | None = None,
    estimated_minutes: int | None = None,
) -> Lesson:
    """Append a lesson to ``module`` (course-wide positions stay in module order); no
    permission check (see authoring.add_lesson)."""
    last_in_module = db.session.scalar(
        select(func.max(Lesson.position)).where(Lesson.module_id == module.id)
    )
    if last_in_module is None:
        last_in_module = db.session.scalar(
            select(func.max(Lesson.position)).join(Module, Module.id == Lesson.module_id)
            .where(Module.course_id == module.course_id, Module.position < module.position)
        ) or 0
    position = last_in_module + 1
    # Make room after the module's last lesson (later modules' lessons move down).
    later = db.session.scalars(
        select(Lesson).where(Lesson.course_id == module.course_id, Lesson.position >= position)
        .order_by(Lesson.position.desc())
    ).all()
    for other in later:
        other.position += 1
    lesson = Lesson(
        course_id=module.course_id,
        module_id=module.id,
        position=position,
        slug=slugify(slug or title, 80) or f"lesson-{position}",
        title=title.strip()[:160],
    )
    db.session.add(lesson)
    db.session.flush()
    set_lesson_source(actor, lesson, source, estimated_minutes=estimated_minutes)
    # The first revision: every later version can be rebuilt back to this one.
    db.session.add(LessonRevision(
        lesson_id=lesson.id, version=lesson.version, kind="create",
        actor_id=actor.id if actor else None,
        delta={"title": [None, lesson.title], "source": make_delta("", source)},
    ))
    db.session.flush()
    return lesson


WORDS_PER_MINUTE = 200


def store_sections(lesson: Lesson, rendered: Sequence[RenderedSection]) -> None:
    """Write rendered sections; rows whose key survives keep their id (and progress)."""
    existing = {s.key: s for s in db.session.scalars(
        select(Section).where(Section.lesson_id == lesson.id)
    )}
    keep = {r.key for r in rendered}
    stale = [s.id for key, s in existing.items() if key not in keep]
    if stale:
        db.session.execute(delete(Section).where(Section.id.in_(stale)))
        for key in [key for key in existing if key not in keep]:
            db.session.expunge(existing.pop(key))
    for position, part in enumerate(rendered, start=1):
        section = existing.get(part.key)
        if section is None:
            db.session.add(Section(lesson_id=lesson.id, key=part.key, position=position,
                                   title=part.title[:200], html=part.html))
        else:
            section.position, section.title, section.html = position, part.title[:200], part.html
    db.session.flush()
    db.session.expire(lesson, ["sections"])


def apply_source(lesson: Lesson, source: str, rendered: Sequence[RenderedSection],
                 estimated_minutes: int | None = None) -> None:
    """Store the source and its rendered sections, and what they imply (renderer
    version, reading time); the caller records the revision or audit row."""
    store_sections(lesson, rendered)
    lesson.source = source
    lesson.renderer_version = RENDERER_VERSION
    lesson.estimated_minutes = estimated_minutes or max(1, len(source.split()) // WORDS_PER_MINUTE)
    lesson.updated_at = utcnow()
    db.session.flush()


def set_lesson_source(
    actor: User | None, lesson: Lesson, source: str, *, estimated_minutes: int | None = None
) -> None:
    """Store the source, render + sanitize it into sections, keep unchanged sections' rows."""
    before = lesson.source
    apply_source(lesson, source, render_sections(source, lesson.title), estimated_minutes)
    record_audit(actor, "lesson.source", "lesson", lesson.id,
                 {"source_chars": [len(before or ""), len(source)]})


def publish_course(actor: User | None, course: Course) -> None:
    if course.status == "published":
        return
    has_lesson = db.session.scalar(select(Lesson.id).where(Lesson.course_id == course.id).limit(1))
    if has_lesson is None:
        raise ValidationFailed("A course needs at least one lesson before it is published.")
    before = course.status
    course.status = "published"
    course.published_at = course.published_at or utcnow()
    course.estimated_minutes = db.session.scalar(
        select(func.coalesce(func.sum(Lesson.estimated_minutes), 0))
        .where(Lesson.course_id == course.id)
    ) or 0
    record_audit(actor, "course.publish", "course", course.id, {"status": [before, "published"]})
