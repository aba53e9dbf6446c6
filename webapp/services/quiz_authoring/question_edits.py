"""Adding, changing, moving and deleting a quiz's questions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from webapp.content.questions import QuestionSpec
from webapp.extensions import db
from webapp.models import AcceptedAnswer, Choice, Question, Quiz, User
from webapp.services.audit import delta_of, record_audit
from webapp.services.authoring import require_editor
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.quiz_authoring.lookup import course_of, question_usage
from webapp.services.quiz_authoring.question_checks import (
    check_question,
    question_fields,
    question_fingerprint,
)

MAX_QUESTIONS = 100
DIRECTIONS = ("up", "down")


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
    require_editor(actor, course_of(quiz))
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
                 delta_of({}, {"quiz_id": quiz.id, **question_fields(question)}))
    return question


def update_question(actor: User, question: Question, spec: QuestionSpec, *,
                    expected: str | None = None) -> bool:
    """Replace a question's text, choices and answers (its kind stays); False when unchanged.

    ``expected`` is the fingerprint the form was loaded with: a save over a
    newer change is a Conflict.
    """
    require_editor(actor, course_of(question.quiz))
    if spec.kind != question.kind:
        raise ValidationFailed("A question keeps its kind; add a new question instead.",
                               field="kind")
    if expected and expected != question_fingerprint(question):
        raise Conflict("Someone else changed this question while you were editing. "
                       "The form shows your text; save again to replace theirs.")
    spec = check_question(spec)
    before = question_fields(question)
    _apply(question, spec)
    db.session.flush()
    delta = delta_of(before, question_fields(question))
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
    course = course_of(quiz)
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
                             for name, value in question_fields(question).items()}
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
    require_editor(actor, course_of(question.quiz))
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
