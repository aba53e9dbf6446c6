"""Writing a package that was read into a new draft, or over an existing draft."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Course, CourseRevision, Lesson, Module, Quiz, User
from webapp.services import authoring
from webapp.services import courses as course_service
from webapp.services.audit import delta_of, record_audit
from webapp.services.course_format import MAX_SLUG, QuizSpec
from webapp.services.exceptions import PermissionDenied, ValidationFailed
from webapp.services.packages.layout import PackageCourse
from webapp.services.quizzes import create_quiz


def _free_slug(slug: str) -> str:
    candidate, n = slug, 2
    while db.session.scalar(select(Course.id).where(Course.slug == candidate)) is not None:
        suffix = f"-{n}"
        candidate = slug[:MAX_SLUG - len(suffix)].rstrip("-") + suffix
        n += 1
    return candidate


def _create_quizzes(actor: User, module: Module, quizzes: Sequence[QuizSpec]) -> None:
    for quiz in quizzes:
        create_quiz(actor, module, key=quiz.key, title=quiz.title,
                    description=quiz.description, questions=quiz.questions,
                    pass_percent=quiz.pass_percent, max_attempts=quiz.max_attempts,
                    mode=quiz.mode, feedback=quiz.feedback, scoring=quiz.scoring,
                    gradebook_score=quiz.gradebook_score)


def _course_fields(package: PackageCourse) -> dict[str, Any]:
    return {"title": package.title, "summary": package.summary, "level": package.level,
            "tags": list(package.tags)}


def import_new(actor: User, package: PackageCourse) -> Course:
    """A new draft course owned by ``actor`` from a package read by ``read_package``.

    The manifest's slug is used when it is free, else a numbered variant
    (compare ``course.slug`` with ``package.slug``). Flushes; the caller commits.
    """
    if actor is None or not actor.is_active or not actor.is_editor:
        raise PermissionDenied("Only editors can import courses.")
    course = course_service.create_course_unchecked(
        actor, title=package.title, summary=package.summary, level=package.level,
        tags=package.tags, slug=_free_slug(package.slug),
    )
    db.session.add(CourseRevision(course_id=course.id, version=course.version, kind="import",
                                  actor_id=actor.id,
                                  delta=delta_of({}, _course_fields(package))))
    for module_data in package.modules:
        module = course_service.add_module_unchecked(actor, course, module_data.title)
        for lesson in module_data.lessons:
            course_service.add_lesson_unchecked(actor, module, lesson.title, lesson.source,
                                                slug=lesson.slug, estimated_minutes=lesson.minutes)
        _create_quizzes(actor, module, module_data.quizzes)
    authoring.renumber(course.id)
    record_audit(actor, "course.import", "course", course.id, {
        "slug": [None, course.slug],
        "modules": [None, len(package.modules)],
        "lessons": [None, len(package.lessons)],
        "quizzes": [None, len(package.quizzes)],
    })
    db.session.flush()
    return course


def replace_problem(course: Course) -> str | None:
    """Why ``course`` cannot be replaced from a package (None when it can)."""
    if course.status == "published":
        return ("Only a draft can be replaced from a package: this course is published, "
                "so unpublish it first.")
    if course.status != "draft":
        return f"Only a draft can be replaced from a package; this course is {course.status}."
    return None


def replace_draft(actor: User, course: Course, package: PackageCourse) -> Course:
    """Make a draft course match a package, keeping learners' progress where possible.

    Lessons whose slug is in both keep their row (saved as an ``import``
    revision, so unchanged sections keep their rows and progress) and move into
    the package's module structure; other lessons are deleted, new ones added.
    Quizzes are replaced. The course keeps its slug. Flushes; the caller commits.
    """
    authoring.require_editor(actor, course)
    problem = replace_problem(course)
    if problem:
        raise ValidationFailed(problem)
    authoring.update_course(actor, course, base_version=course.version, title=package.title,
                            summary=package.summary, level=package.level,
                            tags=list(package.tags), kind="import")
    for quiz in db.session.scalars(select(Quiz).where(Quiz.course_id == course.id)).all():
        record_audit(actor, "quiz.delete", "quiz", quiz.id, {"key": [quiz.key, None]})
        db.session.delete(quiz)
    db.session.flush()
    wanted = {lesson.slug for lesson in package.lessons}
    existing = {lesson.slug: lesson for lesson in db.session.scalars(
        select(Lesson).where(Lesson.course_id == course.id)
    )}
    removed = [lesson for slug, lesson in existing.items() if slug not in wanted]
    for lesson in removed:
        record_audit(actor, "lesson.delete", "lesson", lesson.id,
                     {"title": [lesson.title, None], "slug": [lesson.slug, None]})
        db.session.delete(lesson)
    db.session.flush()
    old_modules = list(db.session.scalars(
        select(Module).where(Module.course_id == course.id).order_by(Module.position, Module.id)
    ))
    position = 0
    added = 0
    for index, module_data in enumerate(package.modules):
        if index < len(old_modules):
            module = old_modules[index]
            if module.title != module_data.title:
                record_audit(actor, "module.rename", "module", module.id,
                             {"title": [module.title, module_data.title]})
                module.title = module_data.title
        else:
            module = course_service.add_module_unchecked(actor, course, module_data.title)
        module.position = index + 1
        for lesson_data in module_data.lessons:
            position += 1
            lesson = existing.get(lesson_data.slug)
            if lesson is None:
                db.session.flush()
                lesson = course_service.add_lesson_unchecked(
                    actor, module, lesson_data.title, lesson_data.source,
                    slug=lesson_data.slug, estimated_minutes=lesson_data.minutes)
                added += 1
            else:
                if lesson.module_id != module.id:
                    record_audit(actor, "lesson.move", "lesson", lesson.id,
                                 {"module_id": [lesson.module_id, module.id]})
                    lesson.module_id = module.id
                if (lesson.title, lesson.source or "") != (lesson_data.title,
                                                          lesson_data.source):
                    authoring.save_lesson(actor, lesson, base_version=lesson.version,
                                          title=lesson_data.title, source=lesson_data.source,
                                          kind="import")
                if lesson_data.minutes is not None:
                    lesson.estimated_minutes = lesson_data.minutes
            lesson.position = position
        db.session.flush()
        _create_quizzes(actor, module, module_data.quizzes)
    db.session.flush()
    for module in old_modules[len(package.modules):]:
        # Its lessons were moved or deleted above; reload the collection so the ORM
        # cascade cannot reach a lesson that now lives in another module.
        db.session.expire(module, ["lessons"])
        record_audit(actor, "module.delete", "module", module.id, {"title": [module.title, None]})
        db.session.delete(module)
    db.session.flush()
    authoring.renumber(course.id)
    lesson_total = db.session.scalar(
        select(func.count(Lesson.id)).where(Lesson.course_id == course.id)
    ) or 0
    record_audit(actor, "course.replace", "course", course.id, {
        "modules": [len(old_modules), len(package.modules)],
        "lessons": [len(existing), lesson_total],
        "lessons_added": added,
        "lessons_deleted": len(removed),
        "quizzes": [None, len(package.quizzes)],
    })
    db.session.expire(course, ["modules"])
    for module in db.session.scalars(select(Module).where(Module.course_id == course.id)):
        db.session.expire(module, ["lessons"])
    db.session.flush()
    return course
