"""Publishing a course once nothing would break for learners, and taking it back to draft."""

from __future__ import annotations

from sqlalchemy import select, update

from webapp.content.placeholders import is_placeholder_text, placeholder_lines
from webapp.content.render import lesson_embeds
from webapp.extensions import db
from webapp.models import Choice, Course, CourseRevision, Lesson, Question, Quiz, User
from webapp.services import courses as course_service
from webapp.services.audit import record_audit
from webapp.services.authoring.access import require_editor
from webapp.services.exceptions import ValidationFailed


def publish_problems(course: Course) -> list[str]:
    """Why the course cannot be published yet (empty when it can)."""
    problems = []
    lessons = db.session.scalars(
        select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
    ).all()
    if not lessons:
        problems.append("The course has no lessons yet.")
    known = set(db.session.scalars(select(Quiz.key).where(Quiz.course_id == course.id)))
    empty = db.session.scalars(
        select(Quiz.title).where(Quiz.course_id == course.id,
                                 Quiz.id.not_in(select(Question.quiz_id)))
    ).all()
    problems.extend(f"Quiz “{title}” has no questions." for title in empty)
    for lesson in lessons:
        quiz_keys, _topics = lesson_embeds(lesson.source or "")
        for key in quiz_keys:
            if key not in known:
                problems.append(f"Lesson “{lesson.title}” embeds <Quiz id=\"{key}\"/>, "
                                "but the course has no quiz with that id.")
        if not (lesson.source or "").strip():
            problems.append(f"Lesson “{lesson.title}” is empty.")
        lines = placeholder_lines(lesson.source or "")
        if lines:
            problems.append(f"Lesson “{lesson.title}” still has the draft's prompts for the "
                            f"editor (line{'s' if len(lines) > 1 else ''} "
                            f"{', '.join(map(str, lines))}): write those parts, then delete "
                            "the prompts.")
    problems.extend(_quiz_placeholders(course))
    return problems


def _quiz_placeholders(course: Course) -> list[str]:
    """Quiz questions whose prompt, choices or explanation are still the draft's prompts."""
    rows = db.session.execute(
        select(Quiz.title, Question.position, Question.prompt, Question.explanation,
               Question.id).join(Question, Question.quiz_id == Quiz.id)
        .where(Quiz.course_id == course.id).order_by(Quiz.id, Question.position)).all()
    choice_texts: dict[int, list[str]] = {}
    for question_id, text in db.session.execute(
            select(Choice.question_id, Choice.text).join(Question).join(Quiz)
            .where(Quiz.course_id == course.id)):
        choice_texts.setdefault(question_id, []).append(text)
    return [f"Quiz “{title}”, question {position}, still has the draft's prompts for the "
            "editor: rewrite it."
            for title, position, prompt, explanation, question_id in rows
            if any(is_placeholder_text(text or "") for text in
                   [prompt, explanation, *choice_texts.get(question_id, [])])]


def _status_revision(actor: User, course: Course, kind: str, before: str) -> None:
    version = course.version + 1
    db.session.execute(update(Course).where(Course.id == course.id)
                       .values(version=version).execution_options(synchronize_session=False))
    db.session.flush()
    db.session.refresh(course, ["version"])
    db.session.add(CourseRevision(course_id=course.id, version=version, kind=kind,
                                  actor_id=actor.id, delta={"status": [before, course.status]}))


def publish(actor: User, course: Course) -> None:
    """Publish after the checks pass; ValidationFailed lists every problem."""
    require_editor(actor, course)
    if course.status == "published":
        return
    problems = publish_problems(course)
    if problems:
        raise ValidationFailed("The course cannot be published yet: " + " ".join(problems))
    before = course.status
    course_service.publish_course(actor, course)
    _status_revision(actor, course, "publish", before)


def unpublish(actor: User, course: Course) -> None:
    """Back to draft: invisible to learners; their progress is kept for when it returns."""
    require_editor(actor, course)
    if course.status != "published":
        return
    course.status = "draft"
    db.session.flush()
    record_audit(actor, "course.unpublish", "course", course.id,
                 {"status": ["published", "draft"]})
    _status_revision(actor, course, "unpublish", "published")
