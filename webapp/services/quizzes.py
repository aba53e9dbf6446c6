"""Quizzes: attempts, grading, retake rules, and certificates when a course is complete.

Each quiz has its author's policy (``Quiz.mode``, ``feedback``, ``scoring``):

- practice: a learner may check any answer before submitting and read its
  explanation; graded: ``check_answer`` refuses, nothing is checked before submit.
- feedback (graded quizzes): which answers were right, with the explanations,
  shows after every submitted attempt (``after_submit``) or only once the
  learner has no attempt left (``after_last_attempt``). The score and whether
  it passed always show.
- scoring of multiple-choice questions: ``all_or_nothing`` (exactly the correct
  set earns the points) or ``proportional``: points * (correct choices ticked -
  wrong choices ticked) / correct choices, at least 0, rounded down to
  hundredths of a point. Scores are Decimals, never floats.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from webapp.content.questions import QuestionSpec as QuestionSpec
from webapp.content.questions import question_problems
from webapp.extensions import db
from webapp.models import (
    Answer,
    AnswerChoice,
    Attempt,
    Certificate,
    Course,
    Question,
    Quiz,
    User,
)
from webapp.models.base import utcnow
from webapp.models.quizzes import FEEDBACK_TIMES, GRADEBOOK_SCORES, QUIZ_MODES, SCORING_RULES
from webapp.services.audit import record_audit
from webapp.services.completion import answerable_quiz_ids as answerable_quiz_ids
from webapp.services.completion import certificate_for as certificate_for
from webapp.services.completion import get_enrollment, maybe_issue_certificate
from webapp.services.completion import passed_quiz_ids as passed_quiz_ids
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed

TEXT_ANSWER_MAX = 200
HUNDREDTHS = 100


def plain_points(points: Decimal | int | None) -> str:
    """Points as a person writes them: ``2``, ``2.5``, ``0.33`` (never ``2.50`` or ``2E+1``)."""
    if points is None:
        return ""
    text = format(Decimal(points).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def percent_of(score: Decimal | int | None, max_score: int | None) -> int:
    """A score as a whole percentage of the maximum, rounded down (so 69.9 % is 69 %)."""
    if score is None or not max_score:
        return 0
    return math.floor(Fraction(Decimal(score)) * 100 / max_score)


def normalize_text_answer(text: str) -> str:
    """Case-, accent-width- and space-insensitive form used to compare short answers."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split())


# --- loading ---------------------------------------------------------------------------


def get_quiz(quiz_id: int) -> Quiz:
    quiz = db.session.scalar(
        select(Quiz).where(Quiz.id == quiz_id)
        .options(selectinload(Quiz.questions).selectinload(Question.choices),
                 selectinload(Quiz.questions).selectinload(Question.accepted_answers))
    )
    if quiz is None:
        raise NotFound("There is no such quiz.")
    return quiz


def quiz_course(quiz: Quiz) -> Course:
    """The course a quiz belongs to (whatever its status)."""
    course = db.session.get(Course, quiz.course_id)
    if course is None:  # pragma: no cover - the foreign key cascades
        raise NotFound("There is no such course.")
    return course


def get_published_quiz(quiz_id: int) -> tuple[Quiz, Course]:
    """A quiz with its questions, and its course, which must be published."""
    quiz = get_quiz(quiz_id)
    course = quiz_course(quiz)
    if course.status != "published":
        raise NotFound("There is no such quiz.")
    return quiz, course


def get_published_quiz_by_key(course_slug: str, key: str) -> Quiz:
    """A quiz of a published course, by the key lessons embed it with."""
    quiz = db.session.scalar(
        select(Quiz).join(Course, Course.id == Quiz.course_id)
        .where(Course.slug == course_slug, Course.status == "published", Quiz.key == key)
    )
    if quiz is None:
        raise NotFound("There is no such quiz in this course.")
    return quiz


def quizzes_for_course(course_id: int) -> Sequence[Quiz]:
    return db.session.scalars(
        select(Quiz).where(Quiz.course_id == course_id).order_by(Quiz.module_id, Quiz.id)
    ).all()


@dataclass(frozen=True)
class QuizRecord:
    attempts_used: int
    best_score: Decimal | None
    best_max: int | None
    passed: bool
    open_attempt: Attempt | None
    last_submitted: Attempt | None = None

    @property
    def best_percent(self) -> int | None:
        if self.best_score is None or not self.best_max:
            return None
        return percent_of(self.best_score, self.best_max)

    @property
    def full_marks(self) -> bool:
        """The best attempt earned every point: no retake can improve on it."""
        return bool(self.best_max) and self.best_score == self.best_max


def quiz_record(user: User, quiz: Quiz) -> QuizRecord:
    attempts = db.session.scalars(
        select(Attempt).where(Attempt.user_id == user.id, Attempt.quiz_id == quiz.id)
        .order_by(Attempt.number)
    ).all()
    submitted = [a for a in attempts if a.status == "submitted"]
    best = max(submitted, key=lambda a: (a.score or 0, -a.number), default=None)
    open_attempt = next((a for a in attempts if a.status == "in_progress"), None)
    return QuizRecord(
        attempts_used=len(submitted),
        best_score=best.score if best else None,
        best_max=best.max_score if best else None,
        passed=any(a.passed for a in submitted),
        open_attempt=open_attempt,
        last_submitted=submitted[-1] if submitted else None,
    )


# --- attempts ----------------------------------------------------------------------------


def _require_enrollment(user: User, course_id: int | None) -> None:
    if course_id is None or get_enrollment(user, course_id) is None:
        raise PermissionDenied("Enroll in this course to take its quizzes.")


def attempts_left(quiz: Quiz, record: QuizRecord) -> int | None:
    """How many more attempts the learner may start; None when unlimited.

    An attempt in progress counts as started.
    """
    if quiz.max_attempts is None:
        return None
    started = record.attempts_used + (1 if record.open_attempt is not None else 0)
    return max(quiz.max_attempts - started, 0)


def feedback_released(quiz: Quiz, record: QuizRecord) -> bool:
    """Whether the learner may now see which answers were right, and the explanations.

    Practice quizzes and graded quizzes with feedback after submit: always (after a
    submitted attempt). Feedback after the last attempt: once no attempt is left and
    none is in progress (the last attempt, started, must not see the answers).
    """
    if quiz.mode == "practice" or quiz.feedback == "after_submit":
        return True
    return record.open_attempt is None and attempts_left(quiz, record) == 0


def retake_offered(quiz: Quiz, record: QuizRecord) -> bool:
    """Whether a result page offers another attempt: one is allowed (none is open and
    attempts remain) and useful (the best score kept is not already full marks)."""
    if record.open_attempt is not None or attempts_left(quiz, record) == 0:
        return False
    return not record.full_marks


def start_attempt(user: User, quiz: Quiz) -> Attempt:
    """The open attempt, or a new one if the retake rules allow it."""
    _require_enrollment(user, quiz.course_id)
    record = quiz_record(user, quiz)
    if record.open_attempt is not None:
        return record.open_attempt
    if quiz.max_attempts is not None and record.attempts_used >= quiz.max_attempts:
        raise PermissionDenied(
            f"You have used all {quiz.max_attempts} attempts at this quiz. "
            "Your best score is kept."
        )
    number = (db.session.scalar(
        select(func.max(Attempt.number)).where(Attempt.user_id == user.id,
                                               Attempt.quiz_id == quiz.id)
    ) or 0) + 1
    max_score = sum(q.points for q in quiz.questions)
    attempt = Attempt(user_id=user.id, quiz_id=quiz.id, number=number, max_score=max_score)
    try:
        with db.session.begin_nested():
            db.session.add(attempt)
    except IntegrityError:
        # Two tabs started at once: the other one won; use its attempt.
        again = quiz_record(user, quiz).open_attempt
        if again is None:
            raise
        return again
    return attempt


@dataclass(frozen=True)
class Graded:
    question: Question
    correct: bool
    points: Decimal
    text: str | None = None
    number: Decimal | None = None
    choice_ids: tuple[int, ...] = ()

    @property
    def partial(self) -> bool:
        """Partly right: some points, not all (proportional multiple choice)."""
        return 0 < self.points < self.question.points

    @property
    def answered(self) -> bool:
        return bool(self.choice_ids) or bool(self.text) or self.number is not None


def _all_or_nothing(question: Question, correct: bool) -> Decimal:
    return Decimal(question.points if correct else 0)


def proportional_points(points: int, total_correct: int, right: int, wrong: int) -> Decimal:
    """points * (right - wrong) / total_correct, at least 0, rounded down to hundredths.

    ``right`` and ``wrong`` count the correct and the wrong choices ticked. Exact:
    the fraction is rounded once, down, so partial credit never exceeds what is due.
    """
    if total_correct <= 0:
        return Decimal(0)
    share = max(Fraction(right - wrong, total_correct), Fraction(0))
    return Decimal(math.floor(share * points * HUNDREDTHS)) / HUNDREDTHS


def grade_question(question: Question, raw: Sequence[str] | str,
                   scoring: str = "all_or_nothing") -> Graded:
    """Grade one question from the submitted form values (validated here).

    ``raw`` is the list of values posted for ``q<question id>``; for ordering
    questions, the choice ids in the learner's order. A lone string counts as
    one value (a ``MultiDict.get`` result must not be graded letter by letter).
    ``scoring`` is the quiz's rule for multiple-choice questions.
    """
    if isinstance(raw, str):
        raw = [raw]
    values = [v for v in raw if v is not None]
    kind = question.kind
    if kind in ("single", "true_false"):
        choice_ids = _choice_ids(question, values[:1])
        correct_ids = {c.id for c in question.choices if c.is_correct}
        correct = len(choice_ids) == 1 and choice_ids[0] in correct_ids
        return Graded(question, correct, _all_or_nothing(question, correct), choice_ids=choice_ids)
    if kind == "multiple":
        choice_ids = _choice_ids(question, values)
        correct_ids = {c.id for c in question.choices if c.is_correct}
        correct = set(choice_ids) == correct_ids
        points = _all_or_nothing(question, correct)
        if scoring == "proportional" and not correct:
            right = len(correct_ids.intersection(choice_ids))
            points = proportional_points(question.points, len(correct_ids), right,
                                         len(choice_ids) - right)
        return Graded(question, correct, points, choice_ids=choice_ids)
    if kind == "ordering":
        choice_ids = _choice_ids(question, values)
        expected = tuple(c.id for c in sorted(question.choices, key=lambda c: c.position))
        correct = choice_ids == expected
        return Graded(question, correct, _all_or_nothing(question, correct), choice_ids=choice_ids)
    if kind == "short_text":
        text = (values[0] if values else "").strip()[:TEXT_ANSWER_MAX]
        accepted = {normalize_text_answer(a.text) for a in question.accepted_answers}
        correct = bool(text) and normalize_text_answer(text) in accepted
        return Graded(question, correct, _all_or_nothing(question, correct), text=text)
    if kind == "numeric":
        raw_number = (values[0] if values else "").strip().replace(",", ".")
        number = None
        if raw_number:
            try:
                number = Decimal(raw_number)
            except InvalidOperation:
                raise ValidationFailed(
                    f"“{raw_number[:30]}” is not a number.", field=f"q{question.id}"
                ) from None
            if not number.is_finite() or abs(number) >= Decimal("1e12"):
                raise ValidationFailed("That number is out of range.", field=f"q{question.id}")
        target = question.numeric_answer
        correct = number is not None and target is not None and \
            abs(number - target) <= question.tolerance
        return Graded(question, correct, _all_or_nothing(question, correct), number=number)
    raise ValidationFailed(f"Unknown question kind {kind!r}.")  # pragma: no cover


def _choice_ids(question: Question, values: Sequence[str]) -> tuple[int, ...]:
    valid = {c.id for c in question.choices}
    ids = []
    for value in values:
        try:
            choice_id = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed("That choice is not part of this question.",
                                   field=f"q{question.id}") from None
        if choice_id not in valid:
            raise ValidationFailed("That choice is not part of this question.",
                                   field=f"q{question.id}")
        if choice_id not in ids:
            ids.append(choice_id)
    return tuple(ids)


def get_attempt(user: User, attempt_id: int) -> Attempt:
    """One of ``user``'s own attempts (anyone else's is "not found")."""
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None or attempt.user_id != user.id:
        raise NotFound("There is no such attempt.")
    return attempt


def get_attempt_question(user: User, attempt_id: int, question_id: int) -> Question:
    """A question of the learner's open attempt, with what grading needs loaded."""
    attempt = get_attempt(user, attempt_id)
    if attempt.status != "in_progress":
        raise Conflict("This attempt was already submitted.")
    question = db.session.scalar(
        select(Question).where(Question.id == question_id, Question.quiz_id == attempt.quiz_id)
        .options(selectinload(Question.choices), selectinload(Question.accepted_answers))
    )
    if question is None:
        raise NotFound("There is no such question in this quiz.")
    _require_enrollment(user, db.session.scalar(
        select(Quiz.course_id).where(Quiz.id == attempt.quiz_id)
    ))
    return question


GRADED_NO_CHECK = ("This quiz is graded: your answers are checked when you submit the "
                   "attempt, not before.")


def check_answer(user: User, attempt_id: int, question_id: int,
                 raw: Sequence[str] | str) -> Graded:
    """Immediate feedback on one answer of an open attempt, in a practice quiz only.

    A graded quiz refuses (PermissionDenied): checking before submitting would let
    a learner try every answer, and read the explanation, on an attempt that counts.
    """
    question = get_attempt_question(user, attempt_id, question_id)
    quiz = question.quiz
    if quiz.mode != "practice":
        raise PermissionDenied(GRADED_NO_CHECK)
    return grade_question(question, raw, quiz.scoring)


class UnansweredQuestions(ValidationFailed):
    """A submission that leaves questions blank, not yet confirmed by the learner.

    ``numbers`` are the questions' numbers on the page (1 for the first).
    """

    def __init__(self, numbers: Sequence[int]) -> None:
        self.numbers = tuple(numbers)
        super().__init__(f"You left {_question_numbers(self.numbers)} unanswered.")


def _question_numbers(numbers: Sequence[int]) -> str:
    words = [str(n) for n in numbers]
    if len(words) == 1:
        return f"question {words[0]}"
    return f"questions {', '.join(words[:-1])} and {words[-1]}"


def unanswered_numbers(graded: Sequence[Graded]) -> list[int]:
    """The numbers (1 for the first question) of the questions left blank."""
    return [n for n, g in enumerate(graded, start=1) if not g.answered]


def grade_answers(quiz: Quiz, form: Mapping[str, Sequence[str]]) -> list[Graded]:
    """Every question of the quiz graded from the form (``{"q<id>": [values]}``)."""
    return [grade_question(q, form.get(f"q{q.id}", ()), quiz.scoring) for q in quiz.questions]


@dataclass(frozen=True)
class SubmitResult:
    attempt: Attempt
    graded: Sequence[Graded]
    certificate: Certificate | None


def submit_attempt(user: User, attempt_id: int, form: Mapping[str, Sequence[str]], *,
                   allow_unanswered: bool = False) -> SubmitResult:
    """Grade and record an attempt, update progress, maybe issue the certificate.

    Questions left blank are refused with ``UnansweredQuestions`` (nothing is
    written) unless ``allow_unanswered``: the learner confirmed they meant it.
    One transaction. Safe against double submit: the attempt is claimed with a
    conditional UPDATE, so a second submission of the same attempt finds it
    already submitted and changes nothing.
    """
    attempt = get_attempt(user, attempt_id)
    if attempt.status == "submitted":
        raise Conflict("This attempt was already submitted.")
    quiz = get_quiz(attempt.quiz_id)
    _require_enrollment(user, quiz.course_id)
    graded = grade_answers(quiz, form)
    blank = unanswered_numbers(graded)
    if blank and not allow_unanswered:
        raise UnansweredQuestions(blank)
    score = sum((g.points for g in graded), Decimal(0))
    max_score = sum(q.points for q in quiz.questions)
    passed = max_score > 0 and 100 * score >= quiz.pass_percent * max_score
    claimed = db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt.id, Attempt.status == "in_progress")
        .values(status="submitted", submitted_at=utcnow(), score=score,
                max_score=max_score, passed=passed)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Conflict("This attempt was already submitted.")
    for g in graded:
        answer = Answer(attempt_id=attempt.id, question_id=g.question.id, text_answer=g.text,
                        numeric_answer=g.number, is_correct=g.correct, points=g.points)
        db.session.add(answer)
        db.session.flush()
        for position, choice_id in enumerate(g.choice_ids):
            db.session.add(AnswerChoice(answer_id=answer.id, choice_id=choice_id,
                                        position=position))
    db.session.flush()
    db.session.refresh(attempt)
    record_audit(user, "attempt.submit", "attempt", attempt.id,
                 {"score": [None, plain_points(score)], "passed": [None, passed]})
    certificate = maybe_issue_certificate(user, quiz.course_id) if passed else None
    return SubmitResult(attempt=attempt, graded=graded, certificate=certificate)


@dataclass(frozen=True)
class AttemptResult:
    """What a result page may show: the score always; per-question feedback only when
    the quiz's policy releases it; a retake only when allowed and useful."""

    attempt: Attempt
    quiz: Quiz
    answers: dict[int, Answer]
    record: QuizRecord
    feedback_shown: bool
    attempts_left: int | None
    retake_offered: bool

    @property
    def percent(self) -> int:
        return percent_of(self.attempt.score, self.attempt.max_score)


def get_attempt_result(user: User, attempt_id: int) -> AttemptResult:
    """One of the learner's submitted attempts, with what the policy lets them see."""
    attempt = db.session.scalar(
        select(Attempt).where(Attempt.id == attempt_id)
        .options(selectinload(Attempt.answers).selectinload(Answer.selections))
    )
    if attempt is None or attempt.user_id != user.id or attempt.status != "submitted":
        raise NotFound("There is no such submitted attempt.")
    quiz = get_quiz(attempt.quiz_id)
    record = quiz_record(user, quiz)
    return AttemptResult(
        attempt=attempt, quiz=quiz, answers={a.question_id: a for a in attempt.answers},
        record=record, feedback_shown=feedback_released(quiz, record),
        attempts_left=attempts_left(quiz, record), retake_offered=retake_offered(quiz, record),
    )


# --- certificates ---------------------------------------------------------------------------


def get_certificate_by_code(code: str) -> Certificate:
    if not code or len(code) > 32:
        raise NotFound("No certificate has this code.")
    certificate = db.session.scalar(select(Certificate).where(Certificate.code == code))
    if certificate is None:
        raise NotFound("No certificate has this code.")
    return certificate


# --- writing quizzes (demo loader, packages, AI drafts, factories) ---------------------


def validate_question(spec: QuestionSpec) -> None:
    """Raise ValidationFailed when a question could never be answered correctly.

    The message names the question by its prompt when the problem is its answer.
    """
    problems = question_problems(spec)
    if not problems:
        return
    first = problems[0]
    if first.field in ("kind", "prompt", "points"):
        raise ValidationFailed(first.message)
    raise ValidationFailed(f"“{spec.prompt[:40]}”: {first.message[:1].lower()}"
                           f"{first.message[1:]}")


def check_policy(mode: str, feedback: str, scoring: str, max_attempts: int | None) -> None:
    """Raise ValidationFailed (naming the field) unless the policy is one a quiz can have."""
    if mode not in QUIZ_MODES:
        raise ValidationFailed("A quiz is either practice or graded.", field="mode")
    if feedback not in FEEDBACK_TIMES:
        raise ValidationFailed("Feedback shows after each submitted attempt or after the "
                               "last attempt.", field="feedback")
    if scoring not in SCORING_RULES:
        raise ValidationFailed("Multiple-choice questions score all or nothing, or "
                               "proportionally.", field="scoring")
    if feedback == "after_last_attempt":
        if mode != "graded":
            raise ValidationFailed("A practice quiz shows feedback whenever an answer is "
                                   "checked; holding it back until the last attempt is for "
                                   "graded quizzes.", field="feedback")
        if max_attempts is None:
            raise ValidationFailed("Feedback after the last attempt needs a limit on "
                                   "attempts: with unlimited attempts there is no last one.",
                                   field="feedback")


def create_quiz(
    actor: User | None,
    module,
    *,
    key: str,
    title: str,
    questions: Sequence[QuestionSpec],
    description: str = "",
    pass_percent: int = 70,
    max_attempts: int | None = None,
    mode: str = "graded",
    feedback: str = "after_submit",
    scoring: str = "all_or_nothing",
    gradebook_score: str = "best",
) -> Quiz:
    """A quiz with its questions, validated as a whole (nothing is written on error)."""
    from webapp.content.render import slugify
    from webapp.models import AcceptedAnswer, Choice

    if not questions:
        raise ValidationFailed("A quiz needs at least one question.")
    for spec in questions:
        validate_question(spec)
    if not 0 <= pass_percent <= 100:
        raise ValidationFailed("The pass mark is a percentage between 0 and 100.")
    check_policy(mode, feedback, scoring, max_attempts)
    if gradebook_score not in GRADEBOOK_SCORES:
        raise ValidationFailed("The gradebook shows the best or the last attempt.")
    quiz = Quiz(course_id=module.course_id, module_id=module.id, key=slugify(key, 80),
                title=title.strip()[:160], description=description.strip()[:500],
                pass_percent=pass_percent, max_attempts=max_attempts, mode=mode,
                feedback=feedback, scoring=scoring,
                gradebook_score=gradebook_score)
    db.session.add(quiz)
    db.session.flush()
    for position, spec in enumerate(questions, start=1):
        question = Question(quiz_id=quiz.id, position=position, kind=spec.kind,
                            prompt=spec.prompt.strip(), explanation=spec.explanation.strip(),
                            points=spec.points, numeric_answer=spec.numeric_answer,
                            tolerance=spec.tolerance)
        db.session.add(question)
        db.session.flush()
        for choice_position, (text, ok) in enumerate(spec.choices, start=1):
            db.session.add(Choice(question_id=question.id, position=choice_position,
                                  text=text.strip()[:500], is_correct=bool(ok)))
        for accepted in {a.strip() for a in spec.accepted if a.strip()}:
            db.session.add(AcceptedAnswer(question_id=question.id, text=accepted[:200]))
    db.session.flush()
    record_audit(actor, "quiz.create", "quiz", quiz.id, {"questions": [None, len(questions)]})
    return quiz
