"""Loading quizzes and questions for the editor, with summaries and usage counts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Answer, Attempt, Course, Lesson, Question, Quiz, User
from webapp.services.authoring import require_editor
from webapp.services.exceptions import NotFound
from webapp.services.quizzes import get_quiz


def course_of(quiz: Quiz) -> Course:
    """The course a quiz belongs to."""
    course = db.session.get(Course, quiz.course_id)
    if course is None:  # pragma: no cover - the foreign key cascades
        raise NotFound("There is no such course.")
    return course


def get_quiz_for_edit(actor: User, quiz_id: int) -> tuple[Quiz, Course]:
    """A quiz the actor may edit (questions, choices and answers loaded), and its course."""
    quiz = get_quiz(quiz_id)
    course = course_of(quiz)
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
    course = course_of(quiz)
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


def fingerprint(fields: dict[str, Any]) -> str:
    """A short hash of a form's fields, sent back to detect a save over a newer change."""
    raw = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
