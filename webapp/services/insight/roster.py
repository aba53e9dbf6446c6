"""A course's learners as its editors see them: the roster (search, sort, keyset pages,
CSV) and one learner's record (progress per lesson and section, every quiz attempt with
its answers).

Every function runs a fixed number of queries, whatever the number of learners, rows or
attempts: one for the page of enrollments and users, then aggregates restricted to the
page's learners (``GROUP BY user_id``). Sorting by progress joins an aggregate subquery.
Callers pass a course already checked by ``webapp.services.insight.access``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import aliased

from webapp.extensions import db
from webapp.models import (
    Answer,
    AnswerChoice,
    Attempt,
    Certificate,
    Choice,
    Course,
    Enrollment,
    Lesson,
    LessonProgress,
    Module,
    Question,
    Quiz,
    Section,
    SectionProgress,
    User,
)
from webapp.models.base import MAX_ID
from webapp.services.audit_log import csv_cell
from webapp.services.exceptions import NotFound, ValidationFailed
from webapp.services.quizzes import plain_points
from webapp.services.user_admin import like_pattern

PAGE_SIZE = 50
CSV_BATCH = 1000
QUERY_MAX = 254
CURSOR_MAX = 600
SORTS = {"name": "Name", "enrolled": "Enrolled", "activity": "Last activity",
         "progress": "Progress"}
ORDERS = {"asc": "Ascending", "desc": "Descending"}
# What each sort starts with when no order is chosen: names A→Z, the rest newest/most first.
DEFAULT_ORDER = {"name": "asc", "enrolled": "desc", "activity": "desc", "progress": "desc"}
CSV_HEADER = ("name", "email", "enrolled_at", "last_activity_at", "sections_done",
              "sections_total", "progress_percent", "quizzes_passed", "graded_quizzes",
              "certificate", "certificate_issued_at")


# --- the roster ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterQuery:
    """A checked search, sort and order (``roster_query`` makes one from raw input)."""

    q: str = ""
    sort: str = "name"
    order: str = "asc"


def roster_query(q: str | None = "", sort: str | None = "", order: str | None = "") -> RosterQuery:
    """The search, sort and order from a request; unknown choices are a 400 that says so."""
    q = (q or "").strip()
    if len(q) > QUERY_MAX:
        raise ValidationFailed(f"Search for at most {QUERY_MAX} characters.", field="q")
    sort = sort or "name"
    if sort not in SORTS:
        raise ValidationFailed(f"Sort by one of: {', '.join(SORTS)}.", field="sort")
    order = order or DEFAULT_ORDER[sort]
    if order not in ORDERS:
        raise ValidationFailed("Order must be asc or desc.", field="order")
    return RosterQuery(q, sort, order)


@dataclass(frozen=True)
class RosterRow:
    user_id: int
    display_name: str
    email: str
    enrolled_at: datetime
    last_activity_at: datetime
    sections_done: int
    sections_total: int
    quizzes_passed: int
    quizzes_total: int
    certificate_at: datetime | None

    @property
    def percent(self) -> int:
        if not self.sections_total:
            return 0
        return min(100, (100 * self.sections_done) // self.sections_total)


@dataclass(frozen=True)
class RosterPage:
    rows: list[RosterRow]
    next_cursor: str | None
    sections_total: int
    quizzes_total: int
    enrolled: int


def _done_counts():
    """Sections completed per learner in the course: ``user_id``, ``n``."""
    return (select(SectionProgress.user_id, func.count(SectionProgress.id).label("n"))
            .where(SectionProgress.status == "completed")
            .group_by(SectionProgress.user_id))


def _sections_total(course_id: int) -> int:
    return db.session.scalar(
        select(func.count(Section.id)).join(Lesson, Lesson.id == Section.lesson_id)
        .where(Lesson.course_id == course_id)) or 0


def graded_quiz_ids(course_id: int) -> list[int]:
    """The course's graded quizzes that have questions: what "quizzes passed" counts."""
    return list(db.session.scalars(
        select(Quiz.id).where(Quiz.course_id == course_id, Quiz.mode == "graded",
                              Quiz.id.in_(select(Question.quiz_id)))
        .order_by(Quiz.id)))


def _encode_cursor(value: object, enrollment_id: int) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    raw = json.dumps([value, enrollment_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str) -> tuple[object, int]:
    """The sort value and enrollment id of a cursor from a link; ``ValidationFailed`` (400)
    for anything a link of this page could not hold."""
    bad = ValidationFailed("This page link is broken; go back to the first page.",
                           field="after")
    if len(cursor) > CURSOR_MAX:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, enrollment_id = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise bad from None
    if type(enrollment_id) is not int or not 0 <= enrollment_id <= MAX_ID:
        raise bad
    if sort == "name":
        if not isinstance(value, str) or len(value) > 80 or "\x00" in value:
            raise bad
    elif sort == "progress":
        if type(value) is not int or not 0 <= value <= MAX_ID:
            raise bad
    else:
        try:
            value = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise bad from None
        if value.tzinfo is None:
            raise bad
    return value, enrollment_id


def _after(key, value, order: str):
    """Rows after (``value``, id) in the page's order: the keyset condition."""
    if order == "asc":
        return or_(key[0] > value[0], and_(key[0] == value[0], key[1] > value[1]))
    return or_(key[0] < value[0], and_(key[0] == value[0], key[1] < value[1]))


def roster_page(course: Course, query: RosterQuery = RosterQuery(), *,
                after: str | None = None, page_size: int = PAGE_SIZE) -> RosterPage:
    """One page of the course's enrolled learners, and the cursor of the next page.

    Queries: the totals (sections, graded quizzes, enrolled matching), the page, and one
    aggregate each for progress (unless sorted by it), passed quizzes and certificates.
    """
    cursor = _decode_cursor(after, query.sort) if after else None
    sections_total = _sections_total(course.id)
    quiz_ids = graded_quiz_ids(course.id)
    done = _done_counts().where(SectionProgress.course_id == course.id).subquery()
    done_n = func.coalesce(done.c.n, 0)
    sort_column = {
        "name": func.lower(User.display_name),
        "enrolled": Enrollment.created_at,
        "activity": Enrollment.last_activity_at,
        "progress": done_n,
    }[query.sort]
    columns = [Enrollment.id, Enrollment.user_id, Enrollment.created_at,
               Enrollment.last_activity_at, User.display_name, User.email, sort_column]
    where = [Enrollment.course_id == course.id]
    if query.q:
        pattern = like_pattern(query.q)
        where.append(or_(func.lower(User.email).like(pattern, escape="\\"),
                         func.lower(User.display_name).like(pattern, escape="\\")))
    enrolled = db.session.scalar(
        select(func.count(Enrollment.id)).join(User, User.id == Enrollment.user_id)
        .where(*where)) or 0
    stmt = (select(*columns).join(User, User.id == Enrollment.user_id).where(*where))
    if query.sort == "progress":
        stmt = stmt.outerjoin(done, done.c.user_id == Enrollment.user_id)
    if cursor is not None:
        stmt = stmt.where(_after((sort_column, Enrollment.id), cursor, query.order))
    direction = (lambda c: c.asc()) if query.order == "asc" else (lambda c: c.desc())
    stmt = stmt.order_by(direction(sort_column), direction(Enrollment.id)).limit(page_size + 1)
    found = db.session.execute(stmt).all()
    more = len(found) > page_size
    found = found[:page_size]
    ids = [row.user_id for row in found]
    if query.sort == "progress":
        done_by_user = {row.user_id: row[-1] for row in found}
    else:
        done_by_user = _per_user(_done_counts().where(SectionProgress.course_id == course.id),
                                 SectionProgress.user_id, ids)
    passed = _passed_counts(quiz_ids, ids)
    certificates = _certificates(course.id, ids)
    rows = [RosterRow(
        user_id=r.user_id, display_name=r.display_name, email=r.email,
        enrolled_at=r.created_at, last_activity_at=r.last_activity_at,
        sections_done=done_by_user.get(r.user_id, 0), sections_total=sections_total,
        quizzes_passed=passed.get(r.user_id, 0), quizzes_total=len(quiz_ids),
        certificate_at=certificates.get(r.user_id)) for r in found]
    next_cursor = _encode_cursor(found[-1][-1], found[-1].id) if more else None
    return RosterPage(rows, next_cursor, sections_total, len(quiz_ids), enrolled)


def _per_user(stmt, user_column, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    return dict(db.session.execute(stmt.where(user_column.in_(ids))).tuples().all())


def _passed_counts(quiz_ids: Sequence[int], ids: Sequence[int]) -> dict[int, int]:
    if not quiz_ids or not ids:
        return {}
    return _per_user(
        select(Attempt.user_id, func.count(func.distinct(Attempt.quiz_id)))
        .where(Attempt.quiz_id.in_(quiz_ids), Attempt.passed.is_(True))
        .group_by(Attempt.user_id), Attempt.user_id, ids)


def _certificates(course_id: int, ids: Sequence[int]) -> dict[int, datetime]:
    if not ids:
        return {}
    return dict(db.session.execute(
        select(Certificate.user_id, Certificate.issued_at)
        .where(Certificate.course_id == course_id, Certificate.user_id.in_(ids))).tuples().all())


def roster_csv(course: Course, query: RosterQuery = RosterQuery()) -> Iterator[str]:
    """The whole roster (search and sort applied) as CSV text, a batch of learners per
    chunk: each batch is one keyset page, so the queries per chunk stay the same and
    memory stays flat. Every cell is neutralized against spreadsheet formulas."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    yield out.getvalue()
    after = None
    while True:
        page = roster_page(course, query, after=after, page_size=CSV_BATCH)
        out.seek(0)
        out.truncate()
        for row in page.rows:
            writer.writerow([csv_cell(v) for v in (
                row.display_name, row.email, row.enrolled_at.isoformat(),
                row.last_activity_at.isoformat(), row.sections_done, row.sections_total,
                row.percent, row.quizzes_passed, row.quizzes_total,
                "yes" if row.certificate_at else "no",
                row.certificate_at.isoformat() if row.certificate_at else "")])
        yield out.getvalue()
        after = page.next_cursor
        if after is None:
            return


# --- one learner ----------------------------------------------------------------------------


@dataclass
class SectionLine:
    id: int
    title: str
    completed_at: datetime | None


@dataclass
class LessonLine:
    id: int
    title: str
    module_title: str
    status: str  # "not started" | "in progress" | "completed"
    completed_at: datetime | None
    sections: list[SectionLine] = field(default_factory=list)

    @property
    def sections_done(self) -> int:
        return sum(1 for s in self.sections if s.completed_at is not None)


@dataclass
class AnswerLine:
    position: int
    prompt: str
    kind: str
    given: str
    is_correct: bool
    points: Decimal
    max_points: int

    @property
    def points_text(self) -> str:
        return plain_points(self.points)


@dataclass
class AttemptLine:
    id: int
    quiz_title: str
    quiz_mode: str
    number: int
    status: str
    started_at: datetime
    submitted_at: datetime | None
    score: Decimal | None
    max_score: int
    passed: bool | None
    answers: list[AnswerLine] = field(default_factory=list)

    @property
    def score_text(self) -> str:
        return plain_points(self.score)

    @property
    def percent(self) -> int | None:
        if self.score is None or not self.max_score:
            return None
        return int(100 * self.score // self.max_score)


@dataclass
class LearnerRecord:
    user: User
    enrollment: Enrollment
    lessons: list[LessonLine]
    attempts: list[AttemptLine]
    certificate: Certificate | None

    @property
    def sections_done(self) -> int:
        return sum(lesson.sections_done for lesson in self.lessons)

    @property
    def sections_total(self) -> int:
        return sum(len(lesson.sections) for lesson in self.lessons)

    @property
    def percent(self) -> int:
        total = self.sections_total
        return min(100, (100 * self.sections_done) // total) if total else 0


def enrolled_learner(course: Course, user_id: int) -> tuple[User, Enrollment]:
    """The learner and their enrollment; ``NotFound`` unless enrolled in this course."""
    found = db.session.execute(
        select(User, Enrollment).join(Enrollment, Enrollment.user_id == User.id)
        .where(Enrollment.course_id == course.id, Enrollment.user_id == user_id)).first()
    if found is None:
        raise NotFound("This person is not enrolled in this course.")
    return found[0], found[1]


def learner_record(course: Course, user_id: int) -> LearnerRecord:
    """A learner's progress per lesson and section in course order and every attempt at
    the course's quizzes with its answers: seven queries, whatever the size of the course
    or the number of attempts."""
    user, enrollment = enrolled_learner(course, user_id)
    lessons = _lesson_lines(course.id, user.id)
    attempts = _attempt_lines(course.id, user.id)
    certificate = db.session.scalar(select(Certificate).where(
        Certificate.course_id == course.id, Certificate.user_id == user.id))
    return LearnerRecord(user, enrollment, lessons, attempts, certificate)


def _lesson_lines(course_id: int, user_id: int) -> list[LessonLine]:
    outline = db.session.execute(
        select(Lesson.id, Lesson.title, Module.title.label("module_title"),
               Section.id.label("section_id"), Section.title.label("section_title"))
        .join(Module, Module.id == Lesson.module_id)
        .outerjoin(Section, Section.lesson_id == Lesson.id)
        .where(Lesson.course_id == course_id)
        .order_by(Module.position, Lesson.position, Section.position)).all()
    sections_done = dict(db.session.execute(
        select(SectionProgress.section_id, SectionProgress.completed_at)
        .where(SectionProgress.course_id == course_id, SectionProgress.user_id == user_id,
               SectionProgress.status == "completed")).tuples().all())
    lesson_rows = {row.lesson_id: row for row in db.session.execute(
        select(LessonProgress.lesson_id, LessonProgress.status, LessonProgress.completed_at)
        .where(LessonProgress.course_id == course_id, LessonProgress.user_id == user_id))}
    lessons: dict[int, LessonLine] = {}
    for row in outline:
        line = lessons.get(row.id)
        if line is None:
            state = lesson_rows.get(row.id)
            status = ("not started" if state is None else
                      "completed" if state.status == "completed" else "in progress")
            line = lessons[row.id] = LessonLine(
                row.id, row.title, row.module_title, status,
                state.completed_at if state is not None else None)
        if row.section_id is not None:
            line.sections.append(SectionLine(row.section_id, row.section_title,
                                              sections_done.get(row.section_id)))
    return list(lessons.values())


def _attempt_lines(course_id: int, user_id: int) -> list[AttemptLine]:
    attempts = {row.id: AttemptLine(
        row.id, row.title, row.mode, row.number, row.status, row.started_at, row.submitted_at,
        row.score, row.max_score, row.passed) for row in db.session.execute(
        select(Attempt.id, Attempt.number, Attempt.status, Attempt.started_at,
               Attempt.submitted_at, Attempt.score, Attempt.max_score, Attempt.passed,
               Quiz.title, Quiz.mode)
        .join(Quiz, Quiz.id == Attempt.quiz_id)
        .join(Module, Module.id == Quiz.module_id)
        .where(Quiz.course_id == course_id, Attempt.user_id == user_id)
        .order_by(Module.position, Quiz.id, Attempt.number))}
    if not attempts:
        return []
    answers = db.session.execute(
        select(Answer.id, Answer.attempt_id, Answer.text_answer, Answer.numeric_answer,
               Answer.is_correct, Answer.points, Question.position, Question.prompt,
               Question.kind, Question.points.label("max_points"))
        .join(Question, Question.id == Answer.question_id)
        .join(Attempt, Attempt.id == Answer.attempt_id)
        .join(Quiz, Quiz.id == Attempt.quiz_id)
        .where(Quiz.course_id == course_id, Attempt.user_id == user_id)
        .order_by(Answer.attempt_id, Question.position)).all()
    chosen: dict[int, list[str]] = {}
    choice = aliased(Choice)
    for answer_id, text in db.session.execute(
            select(AnswerChoice.answer_id, choice.text)
            .join(choice, choice.id == AnswerChoice.choice_id)
            .join(Answer, Answer.id == AnswerChoice.answer_id)
            .join(Attempt, Attempt.id == Answer.attempt_id)
            .join(Quiz, Quiz.id == Attempt.quiz_id)
            .where(Quiz.course_id == course_id, Attempt.user_id == user_id)
            .order_by(AnswerChoice.answer_id, AnswerChoice.position)).tuples():
        chosen.setdefault(answer_id, []).append(text)
    for row in answers:
        attempts[row.attempt_id].answers.append(AnswerLine(
            row.position, row.prompt, row.kind, _given(row, chosen.get(row.id, [])),
            row.is_correct, row.points, row.max_points))
    return list(attempts.values())


def _given(row, choices: list[str]) -> str:
    """What the learner answered, in words."""
    if row.kind == "ordering" and choices:
        return " → ".join(choices)
    if choices:
        return "; ".join(choices)
    if row.text_answer:
        return row.text_answer
    if row.numeric_answer is not None:
        return format(row.numeric_answer.normalize(), "f")
    return ""
