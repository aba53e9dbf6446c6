"""A quiz's settings: key, title, description, pass mark, attempts and the checking,
feedback and scoring policy; creating and deleting."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from webapp.content.render import slugify
from webapp.extensions import db
from webapp.models import Module, Quiz, User
from webapp.models.quizzes import GRADEBOOK_SCORES
from webapp.services.audit import delta_of, record_audit
from webapp.services.authoring import require_editor
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.quiz_authoring.lookup import (
    course_of,
    fingerprint,
    lessons_embedding,
    quiz_usage,
)
from webapp.services.quizzes import check_policy

MAX_KEY = 80
MAX_QUIZ_TITLE = 160
MAX_DESCRIPTION = 500
MAX_ATTEMPTS_ALLOWED = 100


def quiz_fingerprint(quiz: Quiz) -> str:
    """Changes whenever the quiz's settings change (sent back by the settings form)."""
    return fingerprint(_quiz_fields(quiz))


def _quiz_fields(quiz: Quiz) -> dict[str, Any]:
    return {"key": quiz.key, "title": quiz.title, "description": quiz.description,
            "pass_percent": quiz.pass_percent, "max_attempts": quiz.max_attempts,
            "mode": quiz.mode, "feedback": quiz.feedback, "scoring": quiz.scoring,
            "gradebook_score": quiz.gradebook_score,
            "module_id": quiz.module_id}


@dataclass(frozen=True)
class QuizSettings:
    key: str
    title: str
    description: str
    pass_percent: int
    max_attempts: int | None
    mode: str = "graded"
    feedback: str = "after_submit"
    scoring: str = "all_or_nothing"
    gradebook_score: str = "best"


def check_quiz_settings(course_id: int, *, key: str, title: str, description: str = "",
                        pass_percent: int | None = 70, max_attempts: int | None = None,
                        mode: str = "graded", feedback: str = "after_submit",
                        scoring: str = "all_or_nothing", gradebook_score: str = "best",
                        quiz_id: int | None = None) -> QuizSettings:
    """Validated, normalized settings; an empty key is derived from the title.

    New quizzes are graded, with feedback after each submitted attempt and
    all-or-nothing scoring, unless the author chooses otherwise.
    """
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
    check_policy(mode, feedback, scoring, max_attempts)
    if gradebook_score not in GRADEBOOK_SCORES:
        raise ValidationFailed("Choose whether the gradebook shows the best or the last "
                               "attempt.", field="gradebook_score")
    return QuizSettings(key, title, description, pass_percent, max_attempts, mode, feedback,
                        scoring, gradebook_score)


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


def create_quiz_in_module(actor: User, module: Module, *, key: str, title: str,
                          description: str = "", pass_percent: int | None = 70,
                          max_attempts: int | None = None, mode: str = "graded",
                          feedback: str = "after_submit",
                          scoring: str = "all_or_nothing",
                          gradebook_score: str = "best") -> Quiz:
    """A new quiz without questions at the end of ``module``; an empty key comes from the title."""
    require_editor(actor, module.course)
    settings = check_quiz_settings(module.course_id, key=key, title=title,
                                   description=description, pass_percent=pass_percent,
                                   max_attempts=max_attempts, mode=mode, feedback=feedback,
                                   scoring=scoring, gradebook_score=gradebook_score)
    quiz = Quiz(course_id=module.course_id, module_id=module.id, **asdict(settings))
    db.session.add(quiz)
    db.session.flush()
    record_audit(actor, "quiz.create", "quiz", quiz.id, delta_of({}, _quiz_fields(quiz)))
    return quiz


def update_quiz_settings(actor: User, quiz: Quiz, *, key: str, title: str,
                         description: str = "", pass_percent: int | None = 70,
                         max_attempts: int | None = None, mode: str = "graded",
                         feedback: str = "after_submit", scoring: str = "all_or_nothing",
                         gradebook_score: str = "best",
                         expected: str | None = None) -> bool:
    """Change a quiz's settings; False when nothing changed.

    ``expected`` is the fingerprint the form was loaded with: a save over a
    newer change is a Conflict. Changing the id of a quiz that lessons embed is
    refused, as it would break those lessons.
    """
    course = course_of(quiz)
    require_editor(actor, course)
    if expected and expected != quiz_fingerprint(quiz):
        raise Conflict("Someone else changed this quiz's settings while you were editing. "
                       "The form shows your text; save again to replace theirs.")
    settings = check_quiz_settings(quiz.course_id, key=key, title=title,
                                   description=description, pass_percent=pass_percent,
                                   max_attempts=max_attempts, mode=mode, feedback=feedback,
                                   scoring=scoring, gradebook_score=gradebook_score,
                                   quiz_id=quiz.id)
    if settings.key != quiz.key:
        embedding = lessons_embedding(quiz)
        if embedding:
            names = ", ".join(f"“{lesson.title}”" for lesson in embedding[:3])
            raise ValidationFailed(
                f"Lessons embed this quiz as <Quiz id=\"{quiz.key}\"/> ({names}). Remove "
                "those embeds first, or keep the id.", field="key")
    before = _quiz_fields(quiz)
    for name, value in asdict(settings).items():
        setattr(quiz, name, value)
    delta = delta_of(before, _quiz_fields(quiz))
    if not delta:
        return False
    db.session.flush()
    record_audit(actor, "quiz.update", "quiz", quiz.id, delta)
    return True


def delete_quiz(actor: User, quiz: Quiz) -> None:
    """Delete a quiz with its questions and every learner's attempts and answers at it."""
    course = course_of(quiz)
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
