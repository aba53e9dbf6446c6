"""Quizzes: attempts, grading, retake rules, and certificates when a course is complete."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

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
from webapp.services.audit import record_audit
from webapp.services.completion import answerable_quiz_ids as answerable_quiz_ids
from webapp.services.completion import certificate_for as certificate_for
from webapp.services.completion import get_enrollment, maybe_issue_certificate
from webapp.services.completion import passed_quiz_ids as passed_quiz_ids
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed

TEXT_ANSWER_MAX = 200


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
    best_score: int | None
    best_max: int | None
    passed: bool
    open_attempt: Attempt | None
    last_submitted: Attempt | None = None

    @property
    def best_percent(self) -> int | None:
        if self.best_score is None or not self.best_max:
            return None
        return (100 * self.best_score) // self.best_max


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
    points: int
    text: str | None = None
    number: Decimal | None = None
    choice_ids: tuple[int, ...] = ()


def grade_question(question: Question, raw: Sequence[str] | str) -> Graded:
    """Grade one question from the submitted form values (validated here).

    ``raw`` is the list of values posted for ``q<question id>``; for ordering
    questions, the choice ids in the learner's order. A lone string counts as
    one value (a ``MultiDict.get`` result must not be graded letter by letter).
    """
    if isinstance(raw, str):
        raw = [raw]
    values = [v for v in raw if v is not None]
    kind = question.kind
    if kind in ("single", "true_false"):
        choice_ids = _choice_ids(question, values[:1])
        correct_ids = {c.id for c in question.choices if c.is_correct}
        correct = len(choice_ids) == 1 and choice_ids[0] in correct_ids
        return Graded(question, correct, question.points if correct else 0, choice_ids=choice_ids)
    if kind == "multiple":
        choice_ids = _choice_ids(question, values)
        correct = set(choice_ids) == {c.id for c in question.choices if c.is_correct}
        return Graded(question, correct, question.points if correct else 0, choice_ids=choice_ids)
    if kind == "ordering":
        choice_ids = _choice_ids(question, values)
        expected = tuple(c.id for c in sorted(question.choices, key=lambda c: c.position))
        correct = choice_ids == expected
        return Graded(question, correct, question.points if correct else 0, choice_ids=choice_ids)
    if kind == "short_text":
        text = (values[0] if values else "").strip()[:TEXT_ANSWER_MAX]
        accepted = {normalize_text_answer(a.text) for a in question.accepted_answers}
        correct = bool(text) and normalize_text_answer(text) in accepted
        return Graded(question, correct, question.points if correct else 0, text=text)
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
        return Graded(question, correct, question.points if correct else 0, number=number)
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


@dataclass(frozen=True)
class SubmitResult:
    attempt: Attempt
    graded: Sequence[Graded]
    certificate: Certificate | None


def submit_attempt(user: User, attempt_id: int, form: Mapping[str, Sequence[str]]) -> SubmitResult:
    """Grade and record an attempt, update progress, maybe issue the certificate.

    One transaction. Safe against double submit: the attempt is claimed with a
    conditional UPDATE, so a second submission of the same attempt finds it
    already submitted and changes nothing.
    """
    attempt = get_attempt(user, attempt_id)
    if attempt.status == "submitted":
        raise Conflict("This attempt was already submitted.")
    quiz = get_quiz(attempt.quiz_id)
    _require_enrollment(user, quiz.course_id)
    graded = [grade_question(q, form.get(f"q{q.id}", ())) for q in quiz.questions]
    score = sum(g.points for g in graded)
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
                 {"score": [None, score], "passed": [None, passed]})
    certificate = maybe_issue_certificate(user, quiz.course_id) if passed else None
    return SubmitResult(attempt=attempt, graded=graded, certificate=certificate)


def get_attempt_result(user: User, attempt_id: int) -> tuple[Attempt, Quiz, dict[int, Answer]]:
    attempt = db.session.scalar(
        select(Attempt).where(Attempt.id == attempt_id)
        .options(selectinload(Attempt.answers).selectinload(Answer.selections))
    )
    if attempt is None or attempt.user_id != user.id or attempt.status != "submitted":
        raise NotFound("There is no such submitted attempt.")
    quiz = get_quiz(attempt.quiz_id)
    return attempt, quiz, {a.question_id: a for a in attempt.answers}


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
    quiz = Quiz(course_id=module.course_id, module_id=module.id, key=slugify(key, 80),
                title=title.strip()[:160], description=description.strip()[:500],
                pass_percent=pass_percent, max_attempts=max_attempts)
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
