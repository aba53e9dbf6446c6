"""What is hard in a course: per quiz (submitted attempts, pass rate, median score and
median time) and per question (answers, percent correct, the choices learners pick,
discrimination, flags).

Every figure comes from a fixed number of aggregate statements (GROUP BY, window
functions) whose number does not grow with learners, attempts or questions. Medians are
taken in SQL: the one or two middle rows of each quiz by row_number(), so only those rows
leave the database (the same on SQLite and PostgreSQL).

Discrimination is the upper-lower index: among learners' FIRST submitted attempts at the
quiz, ranked by score, the share who answered the question correctly in the top 27 %
minus that share in the bottom 27 %. +1: only strong learners get it right; 0: it does
not tell strong from weak; below 0: weaker learners do better at it than stronger ones
(often a wrong key or a misleading wording).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Answer, AnswerChoice, Attempt, Course, Module, Question, Quiz
from webapp.services.exceptions import NotFound

# Below this many answers a question's percent correct is not trusted for flags or for
# "the hardest question"; below this many first attempts there is no discrimination.
MIN_ANSWERS = 10
MIN_ATTEMPTS_FOR_DISCRIMINATION = 10
GROUP_SHARE = 27  # percent of learners in the top and in the bottom group
CHOICE_KINDS = ("single", "multiple", "true_false")

FLAG_EVERYONE = "everyone gets this right"
FLAG_NOBODY = "nobody does"
FLAG_NO_SEPARATION = "does not separate strong from weak"
FLAG_REVERSED = "stronger learners get it wrong more"


@dataclass(frozen=True)
class QuizSummary:
    id: int
    title: str
    pass_percent: int
    submitted: int
    passed: int
    median_percent: Fraction | None
    median_seconds: Fraction | None

    @property
    def pass_rate(self) -> int | None:
        return None if not self.submitted else round(100 * self.passed / self.submitted)


@dataclass(frozen=True)
class HardestQuestion:
    quiz_id: int
    quiz_title: str
    question_id: int
    position: int
    prompt: str
    answers: int
    percent_correct: int


@dataclass(frozen=True)
class Overview:
    quizzes: list[QuizSummary]
    hardest: HardestQuestion | None


@dataclass
class ChoiceStat:
    id: int
    text: str
    is_correct: bool
    chosen: int = 0
    most_chosen_wrong: bool = False


@dataclass
class QuestionStat:
    id: int
    position: int
    kind: str
    prompt: str
    answers: int = 0
    correct: int = 0
    choices: list[ChoiceStat] = field(default_factory=list)
    discrimination: Fraction | None = None

    @property
    def percent_correct(self) -> int | None:
        return None if not self.answers else round(100 * self.correct / self.answers)

    @property
    def shows_choices(self) -> bool:
        return self.kind in CHOICE_KINDS and bool(self.choices)

    @property
    def flags(self) -> list[str]:
        found = []
        if self.answers >= MIN_ANSWERS:
            share = Fraction(self.correct, self.answers)
            if share >= Fraction(95, 100):
                found.append(FLAG_EVERYONE)
            elif share <= Fraction(10, 100):
                found.append(FLAG_NOBODY)
        if self.discrimination is not None:
            if self.discrimination < 0:
                found.append(FLAG_REVERSED)
            elif self.discrimination < Fraction(1, 10):
                found.append(FLAG_NO_SEPARATION)
        return found


@dataclass(frozen=True)
class QuizDetail:
    quiz: Quiz
    summary: QuizSummary
    questions: list[QuestionStat]
    first_attempts: int  # learners with a submitted first attempt (for discrimination)
    group_size: int  # learners in each of the top and bottom groups


def median(values: Sequence[Fraction]) -> Fraction | None:
    """The median of the one (odd count) or two (even count) middle values."""
    if not values:
        return None
    values = sorted(values)
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def _seconds(started, submitted):
    """Seconds from start to submit, in SQL, on PostgreSQL and on SQLite."""
    if db.engine.dialect.name == "postgresql":
        return func.extract("epoch", submitted - started)
    return (func.julianday(submitted) - func.julianday(started)) * 86400


def _middle(rank, count):
    # The middle row(s) of 1..count: (count+1)/2 and (count+2)/2 in integer division.
    return or_(rank == (count + 1) // 2, rank == (count + 2) // 2)


def _quiz_summaries(quizzes: Sequence[tuple[int, str, int]]) -> list[QuizSummary]:
    """One statement for every quiz: counts by window function, and only the middle
    rows (by score, by time) come back."""
    if not quizzes:
        return []
    ids = [q[0] for q in quizzes]
    share = cast(Attempt.score, Float) / func.nullif(Attempt.max_score, 0)
    seconds = _seconds(Attempt.started_at, Attempt.submitted_at)
    ranked = (
        select(
            Attempt.quiz_id, Attempt.score, Attempt.max_score, seconds.label("seconds"),
            func.count().over(partition_by=Attempt.quiz_id).label("n"),
            func.sum(case((Attempt.passed.is_(True), 1), else_=0))
            .over(partition_by=Attempt.quiz_id).label("passed"),
            func.row_number().over(partition_by=Attempt.quiz_id,
                                   order_by=(share, Attempt.id)).label("score_rank"),
            func.row_number().over(partition_by=Attempt.quiz_id,
                                   order_by=(seconds, Attempt.id)).label("time_rank"),
        )
        .where(Attempt.quiz_id.in_(ids), Attempt.status == "submitted")
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.quiz_id, ranked.c.score, ranked.c.max_score, ranked.c.seconds,
               ranked.c.n, ranked.c.passed, ranked.c.score_rank, ranked.c.time_rank)
        .where(or_(_middle(ranked.c.score_rank, ranked.c.n),
                   _middle(ranked.c.time_rank, ranked.c.n)))
    ).all()
    counts: dict[int, tuple[int, int]] = {}
    scores: dict[int, list[Fraction]] = defaultdict(list)
    times: dict[int, list[Fraction]] = defaultdict(list)
    for quiz_id, score, max_score, secs, n, passed, score_rank, time_rank in rows:
        counts[quiz_id] = (n, int(passed or 0))
        if score_rank in ((n + 1) // 2, (n + 2) // 2):
            scores[quiz_id].append(
                Fraction(Decimal(score)) * 100 / max_score if max_score else Fraction(0))
        if time_rank in ((n + 1) // 2, (n + 2) // 2):
            times[quiz_id].append(Fraction(round(float(secs))))
    return [
        QuizSummary(quiz_id, title, pass_percent, *counts.get(quiz_id, (0, 0)),
                    median(scores[quiz_id]), median(times[quiz_id]))
        for quiz_id, title, pass_percent in quizzes
    ]


def _answer_counts(where) -> list[tuple]:
    """(quiz_id, question_id, answers, correct) over submitted attempts."""
    return db.session.execute(
        select(Question.quiz_id, Answer.question_id, func.count(),
               func.sum(case((Answer.is_correct.is_(True), 1), else_=0)))
        .join(Attempt, and_(Attempt.id == Answer.attempt_id, Attempt.status == "submitted"))
        .join(Question, Question.id == Answer.question_id)
        .where(where)
        .group_by(Question.quiz_id, Answer.question_id)
    ).all()


def overview(course: Course) -> Overview:
    """Every quiz of the course, and its hardest question (three statements)."""
    quizzes = db.session.execute(
        select(Quiz.id, Quiz.title, Quiz.pass_percent)
        .join(Module, Module.id == Quiz.module_id)
        .where(Quiz.course_id == course.id)
        .order_by(Module.position, Quiz.id)
    ).all()
    summaries = _quiz_summaries(quizzes)
    hardest = None
    candidates = [row for row in _answer_counts(Attempt.quiz_id.in_([q[0] for q in quizzes]))
                  if row[2] >= MIN_ANSWERS] if quizzes else []
    if candidates:
        quiz_id, question_id, answers, correct = min(
            candidates, key=lambda r: (Fraction(int(r[3] or 0), r[2]), -r[2], r[1]))
        question = db.session.get(Question, question_id)
        title = next(q[1] for q in quizzes if q[0] == quiz_id)
        hardest = HardestQuestion(quiz_id, title, question_id, question.position,
                                  question.prompt, answers,
                                  round(100 * int(correct or 0) / answers))
    return Overview(summaries, hardest)


def course_quiz(course: Course, quiz_id: int) -> Quiz:
    """The quiz ``quiz_id`` of this course (its questions and choices loaded); NotFound
    for a quiz of another course or none."""
    quiz = db.session.scalar(
        select(Quiz).where(Quiz.id == quiz_id, Quiz.course_id == course.id)
        .options(selectinload(Quiz.questions).selectinload(Question.choices))
    )
    if quiz is None:
        raise NotFound("This course has no such quiz.")
    return quiz


def _discrimination(quiz_id: int) -> tuple[int, int, dict[int, tuple[int, int]]]:
    """(first attempts, group size, question id -> (correct in top, correct in bottom)).

    One statement: each learner's first submitted attempt, ranked by score (ties by
    attempt id), the top and bottom 27 % (rounded to the nearest learner) joined to
    their answers and counted per question.
    """
    first = (
        select(Attempt.id, Attempt.score, Attempt.max_score,
               func.row_number().over(partition_by=Attempt.user_id,
                                      order_by=Attempt.number).label("nth"))
        .where(Attempt.quiz_id == quiz_id, Attempt.status == "submitted")
        .subquery()
    )
    share = cast(first.c.score, Float) / func.nullif(first.c.max_score, 0)
    ranked = (
        select(first.c.id,
               func.row_number().over(order_by=(share.desc(), first.c.id)).label("from_top"),
               func.count().over().label("n"))
        .where(first.c.nth == 1)
        .subquery()
    )
    k = (ranked.c.n * GROUP_SHARE + 50) // 100  # integer division on both databases
    top = ranked.c.from_top <= k
    bottom = ranked.c.from_top > ranked.c.n - k
    rows = db.session.execute(
        select(Answer.question_id, func.max(ranked.c.n), func.max(k),
               func.sum(case((and_(top, Answer.is_correct.is_(True)), 1), else_=0)),
               func.sum(case((and_(bottom, Answer.is_correct.is_(True)), 1), else_=0)))
        .select_from(ranked)
        .join(Answer, Answer.attempt_id == ranked.c.id)
        .group_by(Answer.question_id)
    ).all()
    n = group = 0
    found: dict[int, tuple[int, int]] = {}
    for question_id, total, size, top_right, bottom_right in rows:
        n, group = int(total), int(size)
        found[question_id] = (int(top_right or 0), int(bottom_right or 0))
    return n, group, found


def quiz_detail(course: Course, quiz_id: int) -> QuizDetail:
    """One quiz's questions with their figures (a fixed number of statements)."""
    quiz = course_quiz(course, quiz_id)
    summary = _quiz_summaries([(quiz.id, quiz.title, quiz.pass_percent)])[0]
    stats = {q.id: QuestionStat(q.id, q.position, q.kind, q.prompt,
                                choices=[ChoiceStat(c.id, c.text, c.is_correct)
                                         for c in q.choices])
             for q in quiz.questions}
    for _quiz_id, question_id, answers, correct in _answer_counts(Attempt.quiz_id == quiz.id):
        if question_id in stats:
            stats[question_id].answers = answers
            stats[question_id].correct = int(correct or 0)
    chosen = db.session.execute(
        select(Answer.question_id, AnswerChoice.choice_id, func.count())
        .join(Answer, Answer.id == AnswerChoice.answer_id)
        .join(Attempt, and_(Attempt.id == Answer.attempt_id, Attempt.status == "submitted"))
        .where(Attempt.quiz_id == quiz.id)
        .group_by(Answer.question_id, AnswerChoice.choice_id)
    ).all()
    counts = {(question_id, choice_id): n for question_id, choice_id, n in chosen}
    for stat in stats.values():
        for choice in stat.choices:
            choice.chosen = counts.get((stat.id, choice.id), 0)
        wrong = [c for c in stat.choices if not c.is_correct and c.chosen]
        if wrong and stat.kind in CHOICE_KINDS:
            top = max(c.chosen for c in wrong)
            for c in wrong:
                c.most_chosen_wrong = c.chosen == top
    n, group, split = _discrimination(quiz.id)
    if n >= MIN_ATTEMPTS_FOR_DISCRIMINATION and group:
        for question_id, (top_right, bottom_right) in split.items():
            if question_id in stats:
                stats[question_id].discrimination = Fraction(top_right - bottom_right, group)
    questions = sorted(stats.values(), key=lambda s: s.position)
    return QuizDetail(quiz, summary, questions, n, group)



# --- kept figures of the overview (``webapp.services.insight.snapshots``) -----------------

def _fraction_out(value: Fraction | None) -> list[int] | None:
    return None if value is None else [value.numerator, value.denominator]


def _fraction_in(value: list[int] | None) -> Fraction | None:
    return None if value is None else Fraction(value[0], value[1])


def to_json(figures: Overview) -> dict:
    return {"quizzes": [{**asdict(q), "median_percent": _fraction_out(q.median_percent),
                         "median_seconds": _fraction_out(q.median_seconds)}
                        for q in figures.quizzes],
            "hardest": asdict(figures.hardest) if figures.hardest else None}


def from_json(data: dict) -> Overview:
    quizzes = [QuizSummary(**{**q, "median_percent": _fraction_in(q["median_percent"]),
                              "median_seconds": _fraction_in(q["median_seconds"])})
               for q in data["quizzes"]]
    hardest = HardestQuestion(**data["hardest"]) if data["hardest"] else None
    return Overview(quizzes=quizzes, hardest=hardest)
