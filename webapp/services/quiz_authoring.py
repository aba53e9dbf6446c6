"""The quiz editor: quizzes per module, and their questions of every kind.

What makes a question answerable lives in ``content.questions``; this
module adds what an editor's form needs on top (length limits, blank or
duplicate entries, numbers the database can hold) and names the field at fault
in every ``ValidationFailed``, so a form can show the message next to it.

Quizzes carry no version column, so an edit form sends back a fingerprint of
what it was loaded from; a save over someone else's newer change is a
``Conflict`` rather than a silent overwrite. Every write is audited in the
caller's transaction; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.content.questions import QuestionSpec, question_problems
from webapp.content.render import slugify
from webapp.extensions import db
from webapp.models import (
    AcceptedAnswer,
    Answer,
    Attempt,
    Choice,
    Course,
    Lesson,
    Module,
    Question,
    Quiz,
    User,
)
from webapp.models.quizzes import QUESTION_KINDS
from webapp.services.audit import delta_of, record_audit
from webapp.services.authoring import require_editor
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed
from webapp.services.quizzes import get_quiz, normalize_text_answer

MAX_KEY = 80
MAX_QUIZ_TITLE = 160
MAX_DESCRIPTION = 500
MAX_ATTEMPTS_ALLOWED = 100
MAX_PROMPT = 2000
MAX_EXPLANATION = 2000
MAX_CHOICE = 500
MAX_CHOICES = 12
MAX_ACCEPTED = 200
MAX_ACCEPTED_ANSWERS = 20
MAX_POINTS = 100
MAX_QUESTIONS = 100
# The columns are NUMERIC(18, 6): twelve digits before the point, six after.
NUMBER_LIMIT = Decimal("1e12")
NUMBER_PLACES = 6
DIRECTIONS = ("up", "down")

# --- loading ---------------------------------------------------------------------------


def _course_of(quiz: Quiz) -> Course:
    course = db.session.get(Course, quiz.course_id)
    if course is None:  # pragma: no cover - the foreign key cascades
        raise NotFound("There is no such course.")
    return course


def get_quiz_for_edit(actor: User, quiz_id: int) -> tuple[Quiz, Course]:
    """A quiz the actor may edit (questions, choices and answers loaded), and its course."""
    quiz = get_quiz(quiz_id)
    course = _course_of(quiz)
    require_editor(actor, course)
    return quiz, course


def get_question_for_edit(actor: User, question_id: int) -> tuple[Question, Quiz, Course]:
    """A question the actor may edit, with its quiz and course."""
    question = db.session.scalar(
        select(Question).where(Question.id == question_id)
        .options(selectinload(Question.choices), selectinload(Question.accepted_answers))
    )
    if question is None:
        raise NotFound("There is no such question.")
    quiz = question.quiz
    course = _course_of(quiz)
    require_editor(actor, course)
    return question, quiz, course


@dataclass(frozen=True)
class QuizSummary:
    quiz: Quiz
    questions: int
    attempts: int


def course_quiz_summaries(course: Course) -> dict[int, list[QuizSummary]]:
    """The course's quizzes by module id, with question and submitted-attempt counts.

    Three queries whatever the number of quizzes.
    """
    quizzes = db.session.scalars(
        select(Quiz).where(Quiz.course_id == course.id).order_by(Quiz.module_id, Quiz.id)
    ).all()
    if not quizzes:
        return {}
    ids = [q.id for q in quizzes]
    questions = dict(db.session.execute(
        select(Question.quiz_id, func.count()).where(Question.quiz_id.in_(ids))
        .group_by(Question.quiz_id)
    ).tuples().all())
    attempts = dict(db.session.execute(
        select(Attempt.quiz_id, func.count()).where(Attempt.quiz_id.in_(ids),
                                                    Attempt.status == "submitted")
        .group_by(Attempt.quiz_id)
    ).tuples().all())
    summaries: dict[int, list[QuizSummary]] = {}
    for quiz in quizzes:
        summaries.setdefault(quiz.module_id, []).append(
            QuizSummary(quiz, questions.get(quiz.id, 0), attempts.get(quiz.id, 0))
        )
    return summaries


@dataclass(frozen=True)
class QuizUsage:
    """What learners have done with a quiz so far."""

    submitted: int = 0
    learners: int = 0
    in_progress: int = 0
    answers: int = 0


def quiz_usage(quiz: Quiz) -> QuizUsage:
    """Submitted attempts, distinct learners, open attempts and stored answers."""
    row = db.session.execute(
        select(
            func.count().filter(Attempt.status == "submitted"),
            func.count(func.distinct(Attempt.user_id)).filter(Attempt.status == "submitted"),
            func.count().filter(Attempt.status == "in_progress"),
        ).where(Attempt.quiz_id == quiz.id)
    ).one()
    answers = db.session.scalar(
        select(func.count()).select_from(Answer).join(Attempt, Attempt.id == Answer.attempt_id)
        .where(Attempt.quiz_id == quiz.id)
    ) or 0
    return QuizUsage(submitted=row[0] or 0, learners=row[1] or 0, in_progress=row[2] or 0,
                     answers=answers)


@dataclass(frozen=True)
class QuestionUsage:
    """Learners' stored answers to one question, and the attempts they belong to."""

    answers: int = 0
    learners: int = 0


def question_usage(question: Question) -> QuestionUsage:
    """How many stored answers, from how many learners, deleting the question would remove."""
    row = db.session.execute(
        select(func.count(), func.count(func.distinct(Attempt.user_id)))
        .select_from(Answer).join(Attempt, Attempt.id == Answer.attempt_id)
        .where(Answer.question_id == question.id)
    ).one()
    return QuestionUsage(answers=row[0] or 0, learners=row[1] or 0)


def lessons_embedding(quiz: Quiz, key: str | None = None) -> list[Lesson]:
    """The course's lessons whose text embeds ``<Quiz id="key"/>`` (the quiz's key by default).

    A text search narrows the lessons down; the renderer has the last word, so
    an embed shown inside a code block does not count.
    """
    from webapp.content.render import render_lesson

    key = key or quiz.key
    candidates = db.session.scalars(
        select(Lesson).where(Lesson.course_id == quiz.course_id, Lesson.source.contains(key))
        .order_by(Lesson.module_id, Lesson.position)
    ).all()
    return [lesson for lesson in candidates
            if key in render_lesson(lesson.source, lesson.title).quiz_keys]


def _fingerprint(fields: dict[str, Any]) -> str:
    raw = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def quiz_fingerprint(quiz: Quiz) -> str:
    """Changes whenever the quiz's settings change (sent back by the settings form)."""
    return _fingerprint(_quiz_fields(quiz))


def question_fingerprint(question: Question) -> str:
    """Changes whenever the question changes (sent back by the question form)."""
    return _fingerprint(_question_fields(question))


# --- quiz settings ---------------------------------------------------------------------


def _quiz_fields(quiz: Quiz) -> dict[str, Any]:
    return {"key": quiz.key, "title": quiz.title, "description": quiz.description,
            "pass_percent": quiz.pass_percent, "max_attempts": quiz.max_attempts,
            "module_id": quiz.module_id}


@dataclass(frozen=True)
class QuizSettings:
    key: str
    title: str
    description: str
    pass_percent: int
    max_attempts: int | None


def check_quiz_settings(course_id: int, *, key: str, title: str, description: str = "",
                        pass_percent: int | None = 70, max_attempts: int | None = None,
                        quiz_id: int | None = None) -> QuizSettings:
    """Validated, normalized settings; an empty key is derived from the title."""
    title = " ".join((title or "").split())
    if not title:
        raise ValidationFailed("Give the quiz a title.", field="title")
    if len(title) > MAX_QUIZ_TITLE:
        raise ValidationFailed(f"The title is {len(title)} characters; the limit is "
                               f"{MAX_QUIZ_TITLE}.", field="title")
    description = (description or "").strip().replace("\r\n", "\n")
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(f"The description is {len(description)} characters; the limit "
                               f"is {MAX_DESCRIPTION}.", field="description")
    key = _check_key(key, title)
    taken = db.session.scalar(
        select(Quiz.id).where(Quiz.course_id == course_id, Quiz.key == key)
    )
    if taken is not None and taken != quiz_id:
        raise ValidationFailed(f"Another quiz in this course already has the id “{key}”.",
                               field="key")
    if pass_percent is None or not 0 <= pass_percent <= 100:
        raise ValidationFailed("The pass mark is a percentage from 0 to 100.",
                               field="pass_percent")
    if max_attempts is not None and not 1 <= max_attempts <= MAX_ATTEMPTS_ALLOWED:
        raise ValidationFailed(f"Allow from 1 to {MAX_ATTEMPTS_ALLOWED} attempts, or leave it "
                               "empty for unlimited attempts.", field="max_attempts")
    return QuizSettings(key, title, description, pass_percent, max_attempts)


def _check_key(key: str, title: str) -> str:
    key = (key or "").strip()
    if not key:
        derived = slugify(title, MAX_KEY)
        if not derived:
            raise ValidationFailed("Give the quiz an id of lower-case letters, digits and "
                                   "hyphens, e.g. “week-1-check”.", field="key")
        return derived
    if len(key) > MAX_KEY:
        raise ValidationFailed(f"The id is {len(key)} characters; the limit is {MAX_KEY}.",
                               field="key")
    if slugify(key, MAX_KEY) != key:
        suggestion = slugify(key, MAX_KEY)
        hint = f" such as “{suggestion}”" if suggestion else ""
        raise ValidationFailed(f"Use only lower-case letters, digits and single hyphens in the "
                               f"id{hint}.", field="key")
    return key


def create_quiz_in_module(
    actor: User,
    module: Module,
    *,
    key: str,
    title: str,
    description: str = "",
    pass_percent: int | None = 70,
    max_attempts: int | None = None,
) -> Quiz:
    """A new quiz without questions at the end of ``module``; an empty key comes from the title."""
    require_editor(actor, module.course)
    settings = check_quiz_settings(module.course_id, key=key, title=title,
                                   description=description, pass_percent=pass_percent,
                                   max_attempts=max_attempts)
    quiz = Quiz(course_id=module.course_id, module_id=module.id, key=settings.key,
                title=settings.title, description=settings.description,
                pass_percent=settings.pass_percent, max_attempts=settings.max_attempts)
    db.session.add(quiz)
    db.session.flush()
    record_audit(actor, "quiz.create", "quiz", quiz.id, delta_of({}, _quiz_fields(quiz)))
    return quiz


def update_quiz_settings(
    actor: User,
    quiz: Quiz,
    *,
    key: str,
    title: str,
    description: str = "",
    pass_percent: int | None = 70,
    max_attempts: int | None = None,
    expected: str | None = None,
) -> bool:
    """Change a quiz's settings; False when nothing changed.

    ``expected`` is the fingerprint the form was loaded with: a save over a
    newer change is a Conflict. Changing the id of a quiz that lessons embed is
    refused, as it would break those lessons.
    """
    course = _course_of(quiz)
    require_editor(actor, course)
    if expected and expected != quiz_fingerprint(quiz):
        raise Conflict("Someone else changed this quiz's settings while you were editing. "
                       "The form shows your text; save again to replace theirs.")
    settings = check_quiz_settings(quiz.course_id, key=key, title=title,
                                   description=description, pass_percent=pass_percent,
                                   max_attempts=max_attempts, quiz_id=quiz.id)
    if settings.key != quiz.key:
        embedding = lessons_embedding(quiz)
        if embedding:
            names = ", ".join(f"“{lesson.title}”" for lesson in embedding[:3])
            raise ValidationFailed(
                f"Lessons embed this quiz as <Quiz id=\"{quiz.key}\"/> ({names}). Remove "
                "those embeds first, or keep the id.", field="key")
    before = _quiz_fields(quiz)
    quiz.key = settings.key
    quiz.title = settings.title
    quiz.description = settings.description
    quiz.pass_percent = settings.pass_percent
    quiz.max_attempts = settings.max_attempts
    delta = delta_of(before, _quiz_fields(quiz))
    if not delta:
        return False
    db.session.flush()
    record_audit(actor, "quiz.update", "quiz", quiz.id, delta)
    return True


def delete_quiz(actor: User, quiz: Quiz) -> None:
    """Delete a quiz with its questions and every learner's attempts and answers at it."""
    course = _course_of(quiz)
    require_editor(actor, course)
    usage = quiz_usage(quiz)
    fields = _quiz_fields(quiz)
    delta: dict[str, Any] = {name: [value, None] for name, value in fields.items()}
    delta["questions"] = [len(quiz.questions), 0]
    delta["attempts"] = [usage.submitted + usage.in_progress, 0]
    quiz_id = quiz.id
    db.session.delete(quiz)
    db.session.flush()
    record_audit(actor, "quiz.delete", "quiz", quiz_id, delta)


# --- questions -------------------------------------------------------------------------


def plain_number(number: Decimal | None) -> str | None:
    """A Decimal as plain digits (``3.14``, ``100``), never in exponent form."""
    if number is None:
        return None
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _question_fields(question: Question) -> dict[str, Any]:
    return {
        "kind": question.kind,
        "prompt": question.prompt,
        "explanation": question.explanation,
        "points": question.points,
        "numeric_answer": plain_number(question.numeric_answer),
        "tolerance": plain_number(question.tolerance) if question.kind == "numeric" else None,
        "choices": [[c.text, bool(c.is_correct)]
                    for c in sorted(question.choices, key=lambda c: c.position)],
        "accepted": sorted(a.text for a in question.accepted_answers),
    }


def _check_number(value: Decimal | None, field: str, what: str) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise ValidationFailed(f"The {what} must be a finite number.", field=field)
    if abs(value) >= NUMBER_LIMIT:
        raise ValidationFailed(f"The {what} must be smaller than a trillion.", field=field)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -NUMBER_PLACES:
        raise ValidationFailed(f"Give the {what} with at most {NUMBER_PLACES} decimal places.",
                               field=field)


def check_question(spec: QuestionSpec) -> QuestionSpec:
    """The spec normalized (text trimmed, blank entries dropped), or ValidationFailed
    naming the field: ``prompt``, ``explanation``, ``points``, ``choices``,
    ``accepted``, ``numeric_answer`` or ``tolerance``."""
    if spec.kind not in QUESTION_KINDS:
        raise ValidationFailed(f"A question's kind is one of {', '.join(QUESTION_KINDS)}.",
                               field="kind")
    prompt = spec.prompt.strip().replace("\r\n", "\n")
    if not prompt:
        raise ValidationFailed("Write the question.", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise ValidationFailed(f"The question is {len(prompt)} characters; the limit is "
                               f"{MAX_PROMPT}.", field="prompt")
    explanation = spec.explanation.strip().replace("\r\n", "\n")
    if len(explanation) > MAX_EXPLANATION:
        raise ValidationFailed(f"The explanation is {len(explanation)} characters; the limit "
                               f"is {MAX_EXPLANATION}.", field="explanation")
    if not 1 <= spec.points <= MAX_POINTS:
        raise ValidationFailed(f"Points are a whole number from 1 to {MAX_POINTS}.",
                               field="points")
    choices: list[tuple[str, bool]] = []
    accepted: list[str] = []
    numeric_answer, tolerance = None, Decimal(0)
    if spec.kind in ("single", "multiple", "true_false", "ordering"):
        choices = _check_choices(spec)
    elif spec.kind == "short_text":
        accepted = _check_accepted(spec.accepted)
    else:
        numeric_answer, tolerance = spec.numeric_answer, spec.tolerance
        _check_number(numeric_answer, "numeric_answer", "answer")
        _check_number(tolerance, "tolerance", "tolerance")
        if tolerance < 0:
            raise ValidationFailed("The tolerance cannot be negative.", field="tolerance")
    checked = replace(spec, prompt=prompt, explanation=explanation, choices=choices,
                      accepted=accepted, numeric_answer=numeric_answer, tolerance=tolerance)
    problems = question_problems(checked)
    if problems:
        raise ValidationFailed(problems[0].message, field=problems[0].field)
    return checked


def _check_choices(spec: QuestionSpec) -> list[tuple[str, bool]]:
    noun = "item" if spec.kind == "ordering" else "choice"
    choices: list[tuple[str, bool]] = []
    seen: dict[str, int] = {}
    for text, ok in spec.choices:
        text = " ".join((text or "").split())
        if not text:
            if ok and spec.kind != "ordering":
                raise ValidationFailed("A choice marked correct has no text.", field="choices")
            continue
        number = len(choices) + 1
        if len(text) > MAX_CHOICE:
            raise ValidationFailed(f"{noun.capitalize()} {number} is {len(text)} characters; "
                                   f"the limit is {MAX_CHOICE}.", field="choices")
        folded = normalize_text_answer(text)
        if folded in seen:
            raise ValidationFailed(f"{noun.capitalize()}s {seen[folded]} and {number} are the "
                                   f"same (“{text[:40]}”); each {noun} must differ.",
                                   field="choices")
        seen[folded] = number
        choices.append((text, bool(ok) and spec.kind != "ordering"))
    if len(choices) > MAX_CHOICES:
        raise ValidationFailed(f"Use at most {MAX_CHOICES} {noun}s.", field="choices")
    return choices


def _check_accepted(values: Sequence[str]) -> list[str]:
    accepted: list[str] = []
    seen: set[str] = set()
    for raw in values:
        text = " ".join((raw or "").split())
        if not text:
            continue
        if len(text) > MAX_ACCEPTED:
            raise ValidationFailed(f"Accepted answer “{text[:30]}…” is {len(text)} characters; "
                                   f"the limit is {MAX_ACCEPTED}.", field="accepted")
        # Answers are compared case- and space-insensitively, so these are one answer.
        folded = normalize_text_answer(text)
        if folded not in seen:
            seen.add(folded)
            accepted.append(text)
    if len(accepted) > MAX_ACCEPTED_ANSWERS:
        raise ValidationFailed(f"List at most {MAX_ACCEPTED_ANSWERS} accepted answers.",
                               field="accepted")
    return accepted


def _apply(question: Question, spec: QuestionSpec) -> None:
    """Write a checked spec into the question.

    Choices are rewritten in place by position, so learners' past answers and
    open attempts keep pointing at the same rows.
    """
    question.prompt = spec.prompt
    question.explanation = spec.explanation
    question.points = spec.points
    question.numeric_answer = spec.numeric_answer
    question.tolerance = spec.tolerance
    existing = sorted(question.choices, key=lambda c: c.position)
    for choice, (text, ok) in zip(existing, spec.choices, strict=False):
        choice.text, choice.is_correct = text, ok
    for stale in existing[len(spec.choices):]:
        question.choices.remove(stale)
    for position, (text, ok) in enumerate(spec.choices[len(existing):],
                                          start=len(existing) + 1):
        question.choices.append(Choice(position=position, text=text, is_correct=ok))
    wanted = set(spec.accepted)
    for answer in list(question.accepted_answers):
        if answer.text not in wanted:
            question.accepted_answers.remove(answer)
    have = {a.text for a in question.accepted_answers}
    for text in spec.accepted:
        if text not in have:
            question.accepted_answers.append(AcceptedAnswer(text=text))


def add_question(actor: User, quiz: Quiz, spec: QuestionSpec) -> Question:
    """Append a validated question to the quiz."""
    require_editor(actor, _course_of(quiz))
    spec = check_question(spec)
    count, last = db.session.execute(
        select(func.count(), func.max(Question.position)).where(Question.quiz_id == quiz.id)
    ).one()
    if count >= MAX_QUESTIONS:
        raise ValidationFailed(f"A quiz has at most {MAX_QUESTIONS} questions; split it into "
                               "two quizzes.", field="prompt")
    last = last or 0
    question = Question(quiz_id=quiz.id, position=last + 1, kind=spec.kind, prompt=spec.prompt)
    db.session.add(question)
    _apply(question, spec)
    db.session.flush()
    record_audit(actor, "question.create", "question", question.id,
                 delta_of({}, {"quiz_id": quiz.id, **_question_fields(question)}))
    return question


def update_question(actor: User, question: Question, spec: QuestionSpec, *,
                    expected: str | None = None) -> bool:
    """Replace a question's text, choices and answers (its kind stays); False when unchanged.

    ``expected`` is the fingerprint the form was loaded with: a save over a
    newer change is a Conflict.
    """
    require_editor(actor, _course_of(question.quiz))
    if spec.kind != question.kind:
        raise ValidationFailed("A question keeps its kind; add a new question instead.",
                               field="kind")
    if expected and expected != question_fingerprint(question):
        raise Conflict("Someone else changed this question while you were editing. "
                       "The form shows your text; save again to replace theirs.")
    spec = check_question(spec)
    before = _question_fields(question)
    _apply(question, spec)
    db.session.flush()
    delta = delta_of(before, _question_fields(question))
    if not delta:
        return False
    record_audit(actor, "question.update", "question", question.id, delta)
    return True


def _renumber(quiz_id: int) -> list[Question]:
    questions = list(db.session.scalars(
        select(Question).where(Question.quiz_id == quiz_id)
        .order_by(Question.position, Question.id)
    ))
    for position, question in enumerate(questions, start=1):
        if question.position != position:
            question.position = position
    return questions


def delete_question(actor: User, question: Question) -> None:
    """Delete a question with learners' answers to it (scores already given are kept).

    The last question of a quiz in a published course stays: learners could not
    pass a quiz without questions. Delete the quiz instead.
    """
    quiz = question.quiz
    course = _course_of(quiz)
    require_editor(actor, course)
    remaining = db.session.scalar(
        select(func.count()).select_from(Question).where(Question.quiz_id == quiz.id)
    ) or 0
    if remaining <= 1 and course.status == "published":
        raise Conflict("This is the quiz's only question and the course is published: "
                       "learners could not pass a quiz without questions. Add another "
                       "question first, or delete the quiz.")
    usage = question_usage(question)
    delta: dict[str, Any] = {name: [value, None]
                             for name, value in _question_fields(question).items()}
    delta["answers"] = [usage.answers, 0]
    question_id = question.id
    db.session.delete(question)
    db.session.flush()
    _renumber(quiz.id)
    db.session.flush()
    db.session.expire(quiz, ["questions"])
    record_audit(actor, "question.delete", "question", question_id, delta)


def move_question(actor: User, question: Question, direction: str) -> bool:
    """Swap a question with its neighbour above or below; False at either end."""
    if direction not in DIRECTIONS:
        raise ValidationFailed("Move a question up or down.", field="direction")
    require_editor(actor, _course_of(question.quiz))
    questions = _renumber(question.quiz_id)
    index = next(i for i, q in enumerate(questions) if q.id == question.id)
    other = index - 1 if direction == "up" else index + 1
    if not 0 <= other < len(questions):
        db.session.flush()
        return False
    neighbour = questions[other]
    before = question.position
    question.position, neighbour.position = neighbour.position, question.position
    db.session.flush()
    # The quiz's ordered collection was loaded before the swap.
    db.session.expire(question.quiz, ["questions"])
    record_audit(actor, "question.move", "question", question.id,
                 {"position": [before, question.position]})
    return True
