"""What every reader of a lesson sees, built once per process and content change.

A lesson page is mostly the same for all its readers: the lesson's sections
(stored, sanitized HTML), the course and module it sits in, its neighbours,
the quiz that follows it, the course's section count, the narration, the
"Go deeper" suggestions. ``lesson_page`` returns that as an immutable snapshot
from a per-process cache; only the reader's own state (``reader_state``) is
queried on every request.

A snapshot is valid under the content tag it was built under
(``webapp.models.content_generation``): every write to a content table gives
the tag a new value in its own transaction, and the first cached read of a
request reads the tag (one primary-key lookup) and drops the whole cache when
it moved. So an edit, a rerender, an import, new narration or a moved lesson
is seen by the next request of every process. Without a tag row (an emptied
database) nothing is cached.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models.content_generation import ROW_ID, TAG_KEY, ContentGeneration
from webapp.models.courses import Course, Lesson, Module, Section
from webapp.models.progress import (
    Bookmark,
    Certificate,
    Enrollment,
    LessonProgress,
    SectionProgress,
)
from webapp.models.quizzes import Attempt, Question, Quiz
from webapp.models.users import User
from webapp.services import audio_access, branches, courses
from webapp.services.completion import CourseProgress
from webapp.services.exceptions import NotFound

CACHE_SIZE = 256
_TAG = select(ContentGeneration.tag).where(ContentGeneration.id == ROW_ID)


# --- the snapshot ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CourseInfo:
    id: int
    slug: str
    title: str
    status: str
    owner_id: int | None


@dataclass(frozen=True, slots=True)
class ModuleInfo:
    id: int
    title: str


@dataclass(frozen=True, slots=True)
class SectionInfo:
    id: int
    key: str
    position: int
    title: str
    html: str


@dataclass(frozen=True, slots=True)
class LessonLink:
    id: int
    slug: str
    title: str
    module_id: int


@dataclass(frozen=True, slots=True)
class QuizLink:
    id: int
    title: str


@dataclass(frozen=True, slots=True)
class NarrationInfo:
    id: int
    duration_ms: int | None
    size_bytes: int
    section_offsets: dict[str, int]


@dataclass(frozen=True, slots=True)
class LessonInfo:
    """The fields of a lesson the learner's pages read (the same names as ``Lesson``)."""

    id: int
    slug: str
    title: str
    position: int
    version: int
    estimated_minutes: int
    course_id: int
    module_id: int
    course: CourseInfo
    module: ModuleInfo
    sections: tuple[SectionInfo, ...]


@dataclass(frozen=True, eq=False)
class LessonPage:
    """What every reader of one lesson sees. Identity-hashed, so views can memoize on it."""

    lesson: LessonInfo
    prev_lesson: LessonLink | None
    next_lesson: LessonLink | None
    # The module quiz on the path after this lesson (only at a module's last lesson).
    next_quiz: QuizLink | None
    course_sections: int
    narration: NarrationInfo | None
    branch_suggestions: tuple[str, ...]

    @property
    def course(self) -> CourseInfo:
        return self.lesson.course

    @property
    def sections(self) -> tuple[SectionInfo, ...]:
        return self.lesson.sections


# --- the cache ---------------------------------------------------------------------------


class SnapshotCache:
    """A bounded LRU map, valid under one content tag; safe across threads."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._tag: str | None = None
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, tag: str | None, key: Hashable, build: Callable[[], Any]) -> Any:
        if tag is None:
            return build()
        with self._lock:
            if tag != self._tag:
                self._items.clear()
                self._tag = tag
            elif key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            if tag == self._tag:
                self._items[key] = value
                if len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._tag = None

    def __len__(self) -> int:
        return len(self._items)


# Lesson and course pages; lists (catalog pages, by filter and cursor) have their own,
# smaller cache, so that many searches cannot push the pages out.
CACHE = SnapshotCache()
LISTS = SnapshotCache(128)


def clear_caches() -> None:
    CACHE.clear()
    LISTS.clear()


def _run(statement, params=None):
    """Run a prebuilt Core statement on the session's connection, skipping the ORM's
    per-statement work (these statements select columns, never entities)."""
    return db.session.connection().execute(statement, params)


def content_tag() -> str | None:
    """The current content tag, read once per session transaction (reset by writes)."""
    info = db.session.info
    if TAG_KEY not in info:
        info[TAG_KEY] = _run(_TAG).scalar()
    return info[TAG_KEY]


# --- building a lesson page --------------------------------------------------------------


def lesson_page(course_slug: str, lesson_slug: str) -> LessonPage:
    """The shared part of a published lesson's page; ``NotFound`` when there is none."""
    return CACHE.get(content_tag(), ("lesson", course_slug, lesson_slug),
                     lambda: _build(courses.get_published_lesson(course_slug, lesson_slug)))


def lesson_page_of(lesson: Lesson) -> LessonPage:
    """The same, for a published lesson already loaded (the note form's error page)."""
    return lesson_page(lesson.course.slug, lesson.slug)


_LINK_COLUMNS = (Lesson.id, Lesson.slug, Lesson.title, Lesson.module_id)


def _build(lesson: Lesson) -> LessonPage:
    course = db.session.scalar(
        select(Course).where(Course.id == lesson.course_id).options(selectinload(Course.modules)))
    if course is None:  # pragma: no cover - the lesson was read with its course
        raise NotFound("There is no such lesson in this course.")
    module = next(m for m in course.modules if m.id == lesson.module_id)
    sections = tuple(SectionInfo(s.id, s.key, s.position, s.title, s.html)
                     for s in lesson.sections)
    info = LessonInfo(
        id=lesson.id, slug=lesson.slug, title=lesson.title, position=lesson.position,
        version=lesson.version, estimated_minutes=lesson.estimated_minutes,
        course_id=lesson.course_id, module_id=lesson.module_id,
        course=CourseInfo(course.id, course.slug, course.title, course.status, course.owner_id),
        module=ModuleInfo(module.id, module.title), sections=sections,
    )
    same_course = select(*_LINK_COLUMNS).where(Lesson.course_id == lesson.course_id)
    prev_row = db.session.execute(same_course.where(Lesson.position < lesson.position)
                                  .order_by(Lesson.position.desc()).limit(1)).first()
    next_row = db.session.execute(same_course.where(Lesson.position > lesson.position)
                                  .order_by(Lesson.position).limit(1)).first()
    next_lesson = LessonLink(*next_row) if next_row else None
    quiz = (None if next_lesson is not None and next_lesson.module_id == lesson.module_id
            else courses.quiz_after(lesson))
    total = db.session.scalar(
        select(func.count(Section.id)).join(Lesson, Lesson.id == Section.lesson_id)
        .where(Lesson.course_id == lesson.course_id)) or 0
    asset = audio_access.latest_asset(lesson)
    narration = (NarrationInfo(asset.id, asset.duration_ms, asset.size_bytes,
                               dict(asset.section_offsets or {})) if asset else None)
    return LessonPage(
        lesson=info,
        prev_lesson=LessonLink(*prev_row) if prev_row else None,
        next_lesson=next_lesson,
        next_quiz=QuizLink(quiz.id, quiz.title) if quiz else None,
        course_sections=total,
        narration=narration,
        branch_suggestions=tuple(branches.suggestions(lesson)),
    )


# --- the reader's own state ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReaderState:
    """One reader's relation to a lesson, in one statement (plus the done sections)."""

    enrolled: bool = False
    last_lesson_id: int | None = None
    last_section_id: int | None = None
    # The section the reader was last at in this lesson.
    position_id: int | None = None
    bookmarked: bool = False
    course_done: int = 0
    done_ids: frozenset[int] = frozenset()


def _reader_state_statements():
    user, course, lesson = bindparam("user_id"), bindparam("course_id"), bindparam("lesson_id")
    mine = and_(Enrollment.user_id == user, Enrollment.course_id == course)
    state = select(
        exists().where(mine),
        select(Enrollment.last_lesson_id).where(mine).scalar_subquery(),
        select(Enrollment.last_section_id).where(mine).scalar_subquery(),
        select(LessonProgress.last_section_id)
        .where(LessonProgress.user_id == user, LessonProgress.lesson_id == lesson)
        .scalar_subquery(),
        exists().where(Bookmark.user_id == user, Bookmark.lesson_id == lesson),
        select(func.count(SectionProgress.id))
        .where(SectionProgress.user_id == user, SectionProgress.course_id == course,
               SectionProgress.status == "completed").scalar_subquery(),
    )
    done = select(SectionProgress.section_id).where(
        SectionProgress.user_id == user, SectionProgress.lesson_id == lesson,
        SectionProgress.status == "completed")
    return state, done


# Built once: on a warm cache these are most of what a lesson page runs, and building
# a select() and its cache key costs more than running it.
_READER_STATE, _DONE_SECTIONS = _reader_state_statements()


def reader_state(user: User, page: LessonPage) -> ReaderState:
    if not user.is_authenticated:
        return ReaderState()
    lesson = page.lesson
    params = {"user_id": user.id, "course_id": lesson.course_id, "lesson_id": lesson.id}
    enrolled, last_lesson, last_section, position, bookmarked, done = \
        _run(_READER_STATE, params).one()
    done_ids: frozenset[int] = frozenset()
    if enrolled:
        done_ids = frozenset(_run(_DONE_SECTIONS, params).scalars())
    return ReaderState(enrolled=bool(enrolled), last_lesson_id=last_lesson,
                       last_section_id=last_section, position_id=position if enrolled else None,
                       bookmarked=bool(bookmarked), course_done=done or 0, done_ids=done_ids)


def course_progress(page: LessonPage, state: ReaderState) -> CourseProgress:
    return CourseProgress(done=state.course_done, total=page.course_sections)


# --- a course's page -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagInfo:
    slug: str
    name: str


@dataclass(frozen=True, slots=True)
class OutlineLesson:
    id: int
    slug: str
    title: str
    estimated_minutes: int


@dataclass(frozen=True, slots=True)
class OutlineModule:
    id: int
    title: str
    lessons: tuple[OutlineLesson, ...]


@dataclass(frozen=True, slots=True)
class QuizInfo:
    id: int
    title: str
    module_id: int
    # Has questions: only such a quiz holds a certificate back.
    answerable: bool


@dataclass(frozen=True, eq=False)
class CoursePage:
    """What every visitor of a published course's page sees (the names of ``Course``)."""

    id: int
    slug: str
    title: str
    summary: str
    level: str
    estimated_minutes: int
    status: str
    owner_id: int | None
    modules: tuple[OutlineModule, ...]
    tags: tuple[TagInfo, ...]
    # Published prerequisites only.
    prerequisites: tuple[CourseInfo, ...]
    quizzes: tuple[QuizInfo, ...]
    section_total: int
    # Section id → key, for the "Resume" link's anchor.
    section_keys: dict[int, str]

    @property
    def lessons(self) -> dict[int, OutlineLesson]:
        return {lesson.id: lesson for module in self.modules for lesson in module.lessons}

    @property
    def first_lesson(self) -> OutlineLesson | None:
        return next((m.lessons[0] for m in self.modules if m.lessons), None)

    def module_quizzes(self) -> dict[int, list[QuizInfo]]:
        found: dict[int, list[QuizInfo]] = {}
        for quiz in self.quizzes:
            found.setdefault(quiz.module_id, []).append(quiz)
        return found


def course_page(slug: str) -> CoursePage:
    """The shared part of a published course's page; ``NotFound`` when there is none."""
    return CACHE.get(content_tag(), ("course", slug),
                     lambda: _build_course(courses.get_published_course(slug)))


def _build_course(course: Course) -> CoursePage:
    answerable = exists().where(Question.quiz_id == Quiz.id)
    quizzes = tuple(QuizInfo(*row) for row in db.session.execute(
        select(Quiz.id, Quiz.title, Quiz.module_id, answerable)
        .where(Quiz.course_id == course.id).order_by(Quiz.module_id, Quiz.id)))
    sections = db.session.execute(
        select(Section.id, Section.key).join(Lesson, Lesson.id == Section.lesson_id)
        .where(Lesson.course_id == course.id)).all()
    return CoursePage(
        id=course.id, slug=course.slug, title=course.title, summary=course.summary,
        level=course.level, estimated_minutes=course.estimated_minutes, status=course.status,
        owner_id=course.owner_id,
        modules=tuple(_outline(module) for module in course.modules),
        tags=tuple(TagInfo(tag.slug, tag.name) for tag in course.tags),
        prerequisites=tuple(CourseInfo(p.id, p.slug, p.title, p.status, p.owner_id)
                            for p in course.prerequisites if p.status == "published"),
        quizzes=quizzes, section_total=len(sections), section_keys=dict(sections),
    )


def _outline(module: Module) -> OutlineModule:
    return OutlineModule(module.id, module.title, tuple(
        OutlineLesson(lesson.id, lesson.slug, lesson.title, lesson.estimated_minutes)
        for lesson in module.lessons))


@dataclass(frozen=True, slots=True)
class CertificateLink:
    code: str


@dataclass(frozen=True, slots=True)
class LearnerCourseState:
    """One visitor's relation to a course, in one statement (plus per-item sets when
    enrolled)."""

    enrolled: bool = False
    last_lesson_id: int | None = None
    last_section_id: int | None = None
    done: int = 0
    certificate: CertificateLink | None = None
    passed_quiz_ids: frozenset[int] = frozenset()
    lesson_states: dict[int, str] | None = None


def _course_state_statements():
    user, course = bindparam("user_id"), bindparam("course_id")
    mine = and_(Enrollment.user_id == user, Enrollment.course_id == course)
    state = select(
        exists().where(mine),
        select(Enrollment.last_lesson_id).where(mine).scalar_subquery(),
        select(Enrollment.last_section_id).where(mine).scalar_subquery(),
        select(func.count(SectionProgress.id))
        .where(SectionProgress.user_id == user, SectionProgress.course_id == course,
               SectionProgress.status == "completed").scalar_subquery(),
        select(Certificate.code)
        .where(Certificate.user_id == user, Certificate.course_id == course)
        .scalar_subquery(),
    )
    passed = (select(Attempt.quiz_id).join(Quiz, Quiz.id == Attempt.quiz_id)
              .where(Attempt.user_id == user, Quiz.course_id == course,
                     Attempt.passed.is_(True)))
    states = (select(LessonProgress.lesson_id, LessonProgress.status)
              .where(LessonProgress.user_id == user, LessonProgress.course_id == course))
    return state, passed, states


_COURSE_STATE, _PASSED_QUIZZES, _LESSON_STATES = _course_state_statements()


def course_state(user: User, page: CoursePage) -> LearnerCourseState:
    if not user.is_authenticated:
        return LearnerCourseState()
    params = {"user_id": user.id, "course_id": page.id}
    enrolled, last_lesson, last_section, done, code = \
        _run(_COURSE_STATE, params).one()
    if not enrolled:
        return LearnerCourseState()
    return LearnerCourseState(
        enrolled=True, last_lesson_id=last_lesson, last_section_id=last_section,
        done=done or 0, certificate=CertificateLink(code) if code else None,
        passed_quiz_ids=frozenset(_run(_PASSED_QUIZZES, params).scalars()),
        lesson_states=dict(_run(_LESSON_STATES, params).all()))


def resume_point(page: CoursePage,
                 state: LearnerCourseState) -> tuple[OutlineLesson, str | None] | None:
    """Where "Resume" (or "Start") goes: the learner's last lesson and section, else the
    course's first lesson."""
    lesson = page.lessons.get(state.last_lesson_id) if state.last_lesson_id else None
    if lesson is not None:
        return lesson, page.section_keys.get(state.last_section_id or 0)
    first = page.first_lesson
    return (first, None) if first else None


# --- course cards (the catalog, the home page) -------------------------------------------


@dataclass(frozen=True, slots=True)
class CourseCard:
    id: int
    slug: str
    title: str
    summary: str
    level: str
    estimated_minutes: int
    tags: tuple[TagInfo, ...]
    section_total: int


def catalog(filters: courses.CatalogFilter, after: str | None = None,
            page_size: int = courses.CATALOG_PAGE_SIZE) -> courses.CatalogPage:
    """A page of the catalog (``courses.list_catalog``) as cards, from the list cache."""
    return LISTS.get(content_tag(), ("catalog", filters, after, page_size),
                     lambda: _build_catalog(courses.list_catalog(filters, after, page_size)))


def _build_catalog(page: courses.CatalogPage) -> courses.CatalogPage:
    ids = [course.id for course in page.courses]
    totals = dict(db.session.execute(
        select(Lesson.course_id, func.count(Section.id))
        .join(Section, Section.lesson_id == Lesson.id)
        .where(Lesson.course_id.in_(ids)).group_by(Lesson.course_id)).all()) if ids else {}
    cards = tuple(CourseCard(
        c.id, c.slug, c.title, c.summary, c.level, c.estimated_minutes,
        tuple(TagInfo(t.slug, t.name) for t in c.tags), totals.get(c.id, 0),
    ) for c in page.courses)
    return courses.CatalogPage(courses=cards, next_cursor=page.next_cursor,  # type: ignore[arg-type]
                               filter=page.filter)


def catalog_tags() -> tuple[TagInfo, ...]:
    return LISTS.get(content_tag(), ("tags",), lambda: tuple(
        TagInfo(tag.slug, tag.name) for tag in courses.list_tags()))


def _badges_statement():
    user = bindparam("user_id")
    done = (select(func.count(SectionProgress.id))
            .where(SectionProgress.user_id == user,
                   SectionProgress.course_id == Enrollment.course_id,
                   SectionProgress.status == "completed").scalar_subquery())
    return select(Enrollment.course_id, done).where(
        Enrollment.user_id == user,
        Enrollment.course_id.in_(bindparam("course_ids", expanding=True)))


_BADGES = _badges_statement()


def card_badges(user: User, cards: tuple[CourseCard, ...] | list[CourseCard],
                ) -> tuple[set[int], dict[int, CourseProgress]]:
    """The signed-in learner's enrollments among ``cards`` and their progress, one query."""
    if not cards or not user.is_authenticated:
        return set(), {}
    rows = _run(_BADGES, {"user_id": user.id,
                          "course_ids": [card.id for card in cards]}).all()
    totals = {card.id: card.section_total for card in cards}
    return ({course_id for course_id, _n in rows},
            {course_id: CourseProgress(done=n or 0, total=totals[course_id])
             for course_id, n in rows})


# --- the dashboard ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CourseSummary:
    """A course as lists of a learner's courses show it (any status), cached by id."""

    id: int
    slug: str
    title: str
    status: str
    section_total: int
    # Lesson id → (slug, title), and section id → key: where "Continue" lands.
    lessons: dict[int, tuple[str, str]]
    section_keys: dict[int, str]


def course_summary(course_id: int) -> CourseSummary | None:
    return CACHE.get(content_tag(), ("summary", course_id), lambda: _build_summary(course_id))


def _build_summary(course_id: int) -> CourseSummary | None:
    course = db.session.execute(select(Course.id, Course.slug, Course.title, Course.status)
                                .where(Course.id == course_id)).first()
    if course is None:
        return None
    lessons = {row.id: (row.slug, row.title) for row in db.session.execute(
        select(Lesson.id, Lesson.slug, Lesson.title).where(Lesson.course_id == course_id))}
    keys = dict(db.session.execute(
        select(Section.id, Section.key).join(Lesson, Lesson.id == Section.lesson_id)
        .where(Lesson.course_id == course_id)).all())
    return CourseSummary(course.id, course.slug, course.title, course.status, len(keys),
                         lessons, keys)


@dataclass(frozen=True, slots=True)
class CourseRef:
    slug: str
    title: str
    status: str


@dataclass(frozen=True, slots=True)
class LessonRef:
    slug: str
    title: str
    course: CourseRef


@dataclass(frozen=True, slots=True)
class BookmarkLink:
    lesson: LessonRef


@dataclass(frozen=True, slots=True)
class DashboardCourse:
    course: CourseSummary
    progress: CourseProgress
    # Where "Continue" lands: (lesson slug, section key or None), or None.
    resume: tuple[str, str | None] | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    courses: list[DashboardCourse]
    bookmarks: list[BookmarkLink]
    certificates: list[Certificate]
    more_courses: bool


def _dashboard_statements():
    user = bindparam("user_id")
    enrollments = (
        select(Enrollment.course_id, Enrollment.last_lesson_id, Enrollment.last_section_id,
               select(func.count(SectionProgress.id))
               .where(SectionProgress.user_id == user,
                      SectionProgress.course_id == Enrollment.course_id,
                      SectionProgress.status == "completed").scalar_subquery())
        .where(Enrollment.user_id == user)
        .order_by(Enrollment.last_activity_at.desc(), Enrollment.id.desc())
        .limit(bindparam("courses"))
    )
    bookmarks = (
        select(Lesson.slug, Lesson.title, Course.slug, Course.title, Course.status)
        .select_from(Bookmark).join(Lesson, Lesson.id == Bookmark.lesson_id)
        .join(Course, Course.id == Lesson.course_id)
        .where(Bookmark.user_id == user)
        .order_by(Bookmark.created_at.desc(), Bookmark.id.desc())
        .limit(bindparam("bookmarks"))
    )
    certificates = (select(Certificate).where(Certificate.user_id == user)
                    .order_by(Certificate.issued_at.desc()).limit(20))
    return enrollments, bookmarks, certificates


_ENROLLMENTS, _BOOKMARKS, _CERTIFICATES = _dashboard_statements()
DASHBOARD_COURSES = 6
DASHBOARD_BOOKMARKS = 5


def dashboard(user: User) -> Dashboard:
    """"Continue learning", recent bookmarks and certificates: three statements, the
    courses themselves from the cache."""
    params = {"user_id": user.id, "courses": DASHBOARD_COURSES + 1,
              "bookmarks": DASHBOARD_BOOKMARKS}
    rows = _run(_ENROLLMENTS, params).all()
    items = []
    for course_id, last_lesson, last_section, done in rows[:DASHBOARD_COURSES]:
        summary = course_summary(course_id)
        if summary is None:  # pragma: no cover - enrollments go with their course
            continue
        lesson = summary.lessons.get(last_lesson) if last_lesson else None
        resume = (lesson[0], summary.section_keys.get(last_section or 0)) if lesson else None
        items.append(DashboardCourse(summary, CourseProgress(done or 0, summary.section_total),
                                     resume))
    bookmarks = [BookmarkLink(LessonRef(slug, title, CourseRef(c_slug, c_title, status)))
                 for slug, title, c_slug, c_title, status
                 in _run(_BOOKMARKS, params)]
    return Dashboard(courses=items, bookmarks=bookmarks,
                     certificates=list(db.session.scalars(_CERTIFICATES, params)),
                     more_courses=len(rows) > DASHBOARD_COURSES)
