"""The gradebook of a course: its learners (rows, by name) by its graded quizzes (columns,
in course order). A cell is the learner's best or last submitted score — the quiz
author's choice (``Quiz.gradebook_score``) — as a percentage, passed or not against
the quiz's pass mark, and the attempts used.

A page is three statements whatever the number of learners or attempts: the quizzes,
the page of learners (keyset: name, then id), and one window-function query over the
attempts of those learners at those quizzes. The CSV runs the same two per chunk.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, case, func, literal, or_, select, tuple_

from webapp.extensions import db
from webapp.models import Attempt, Course, Enrollment, Module, Quiz, User
from webapp.services.quizzes import percent_of

PAGE_SIZE = 50
CSV_CHUNK = 500
MAX_SEARCH = 200
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """A graded quiz of the course, as the gradebook shows it."""

    id: int
    title: str
    pass_percent: int
    max_attempts: int | None
    gradebook_score: str  # "best" | "last"


@dataclass(frozen=True)
class Cell:
    percent: int | None  # None: attempts started, none submitted
    passed: bool | None
    used: int
    allowed: int | None  # None: unlimited


@dataclass
class Row:
    user_id: int
    name: str
    email: str
    cells: dict[int, Cell] = field(default_factory=dict)  # quiz id -> cell (absent: no attempt)


@dataclass(frozen=True)
class Page:
    columns: list[Column]
    rows: list[Row]
    next_after: int | None  # the user id to continue after, None on the last page


def graded_quizzes(course: Course) -> list[Column]:
    """The course's graded quizzes in course order (module position, then quiz)."""
    quizzes = db.session.execute(
        select(Quiz.id, Quiz.title, Quiz.pass_percent, Quiz.max_attempts, Quiz.gradebook_score)
        .join(Module, Module.id == Quiz.module_id)
        .where(Quiz.course_id == course.id, Quiz.mode == "graded")
        .order_by(Module.position, Quiz.id)
    ).all()
    return [Column(*row) for row in quizzes]


def clean_search(q: str | None) -> str:
    """The search text as typed, trimmed and cut to a sane length."""
    return " ".join((q or "").split())[:MAX_SEARCH]


def _learners(course: Course, *, q: str, after: int | None, limit: int) -> list[Row]:
    name_key = func.lower(User.display_name)
    stmt = (
        select(User.id, User.display_name, User.email)
        .join(Enrollment, and_(Enrollment.user_id == User.id, Enrollment.course_id == course.id))
        .order_by(name_key, User.id)
        .limit(limit)
    )
    if q:
        needle = q.lower()
        stmt = stmt.where(or_(name_key.contains(needle, autoescape=True),
                              func.lower(User.email).contains(needle, autoescape=True)))
    if after is not None:
        # Keyset on (name, id): the name of the row the last page ended on, in the same
        # statement (an unknown id gives an empty page, never an error).
        after_name = (select(func.lower(User.display_name)).where(User.id == after)
                      .scalar_subquery())
        stmt = stmt.where(tuple_(name_key, User.id) > tuple_(after_name, literal(after)))
    return [Row(user_id, name, email) for user_id, name, email in db.session.execute(stmt)]


def _fill_cells(columns: Sequence[Column], rows: Sequence[Row]) -> None:
    """One statement: per learner and quiz, the best and the last submitted attempt (by
    window functions, so SQLite and PostgreSQL agree) and the number of attempts used."""
    if not columns or not rows:
        return
    by_quiz = {c.id: c for c in columns}
    by_user = {r.user_id: r for r in rows}
    submitted = case((Attempt.status == "submitted", 1), else_=0)
    part = (Attempt.user_id, Attempt.quiz_id)
    ranked = (
        select(
            Attempt.user_id, Attempt.quiz_id, Attempt.score, Attempt.max_score,
            Attempt.status,
            func.row_number().over(partition_by=(*part, submitted),
                                   order_by=(Attempt.score.desc(), Attempt.number.desc()))
            .label("best_rank"),
            func.row_number().over(partition_by=(*part, submitted),
                                   order_by=Attempt.number.desc()).label("last_rank"),
            func.count().over(partition_by=part).label("used"),
        )
        .where(Attempt.quiz_id.in_(list(by_quiz)), Attempt.user_id.in_(list(by_user)))
        .subquery()
    )
    found = db.session.execute(
        select(ranked.c.user_id, ranked.c.quiz_id, ranked.c.score, ranked.c.max_score,
               ranked.c.status, ranked.c.best_rank, ranked.c.last_rank, ranked.c.used)
        .where(or_(ranked.c.best_rank == 1, ranked.c.last_rank == 1))
    ).all()
    for user_id, quiz_id, score, max_score, status, best_rank, last_rank, used in found:
        column = by_quiz[quiz_id]
        row = by_user[user_id]
        chosen = best_rank if column.gradebook_score == "best" else last_rank
        if status == "submitted" and chosen == 1:
            percent = percent_of(score, max_score)
            passed = max_score > 0 and 100 * Decimal(score) >= column.pass_percent * max_score
            row.cells[quiz_id] = Cell(percent, passed, used, column.max_attempts)
        elif quiz_id not in row.cells:
            row.cells[quiz_id] = Cell(None, None, used, column.max_attempts)


def gradebook_page(course: Course, *, q: str = "", after: int | None = None,
                   page_size: int = PAGE_SIZE) -> Page:
    """A page of the gradebook: learners by name after the learner ``after``."""
    columns = graded_quizzes(course)
    rows = _learners(course, q=clean_search(q), after=after, limit=page_size + 1)
    more = len(rows) > page_size
    rows = rows[:page_size]
    _fill_cells(columns, rows)
    return Page(columns, rows, rows[-1].user_id if more else None)


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def csv_header(columns: Sequence[Column]) -> list[str]:
    header = ["name", "email"]
    for column in columns:
        header += [f"{column.title} (%)", f"{column.title} passed", f"{column.title} attempts"]
    return [csv_cell(h) for h in header]


def attempts_text(cell: Cell) -> str:
    """"2 of 3" or "2 of ∞" (unlimited)."""
    allowed = "∞" if cell.allowed is None else str(cell.allowed)
    return f"{cell.used} of {allowed}"


def csv_row(columns: Sequence[Column], row: Row) -> list[str]:
    values: list[object] = [row.name, row.email]
    for column in columns:
        cell = row.cells.get(column.id)
        if cell is None:
            values += ["", "", ""]
            continue
        values += ["" if cell.percent is None else cell.percent,
                   "" if cell.passed is None else ("yes" if cell.passed else "no"),
                   attempts_text(cell)]
    return [csv_cell(v) for v in values]


def gradebook_csv(course: Course, *, q: str = "") -> Iterator[str]:
    """The whole gradebook as CSV text (UTF-8 with a BOM, so spreadsheets read accents),
    streamed in chunks of learners: two statements per chunk."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = graded_quizzes(course)
    writer.writerow(csv_header(columns))
    yield "\ufeff" + out.getvalue()
    q = clean_search(q)
    after: int | None = None
    while True:
        rows = _learners(course, q=q, after=after, limit=CSV_CHUNK)
        if not rows:
            return
        _fill_cells(columns, rows)
        out.seek(0)
        out.truncate()
        for row in rows:
            writer.writerow(csv_row(columns, row))
        yield out.getvalue()
        if len(rows) < CSV_CHUNK:
            return
        after = rows[-1].user_id
