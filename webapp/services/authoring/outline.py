"""The outline of a course: modules and lessons, their order, adding and deleting them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from webapp.content.render import slugify
from webapp.extensions import db
from webapp.models import Course, Enrollment, Lesson, Module, Quiz, SectionProgress, User
from webapp.services import courses as course_service
from webapp.services.audit import record_audit
from webapp.services.authoring.access import require_editor
from webapp.services.authoring.checks import check_source, check_title
from webapp.services.exceptions import ValidationFailed

STARTER_SOURCE = "Introduce the lesson here.\n\n## First step\n\nWrite the first step.\n"


def renumber(course_id: int) -> None:
    """Dense module positions, and course-wide lesson positions in module order."""
    modules = db.session.scalars(
        select(Module).where(Module.course_id == course_id).order_by(Module.position, Module.id)
    ).all()
    position = 0
    for module_position, module in enumerate(modules, start=1):
        module.position = module_position
        lessons = db.session.scalars(
            select(Lesson).where(Lesson.module_id == module.id)
            .order_by(Lesson.position, Lesson.id)
        ).all()
        for lesson in lessons:
            position += 1
            lesson.position = position
    db.session.flush()


def add_module(actor: User, course: Course, title: str) -> Module:
    require_editor(actor, course)
    return course_service.add_module_unchecked(actor, course, check_title(title, "module title"))


def rename_module(actor: User, module: Module, title: str) -> None:
    require_editor(actor, module.course)
    before = module.title
    module.title = check_title(title, "module title")
    record_audit(actor, "module.rename", "module", module.id, {"title": [before, module.title]})
    db.session.flush()


def _swap(items: Sequence[Any], index: int, direction: str) -> bool:
    """Swap the positions of ``items[index]`` and its neighbour; False at either end."""
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.")
    if not 0 <= other < len(items):
        return False
    a, b = items[index], items[other]
    a.position, b.position = b.position, a.position
    db.session.flush()
    return True


def _in_order(model: type[Module] | type[Lesson], course_id: int) -> Sequence[Any]:
    """The course's modules, or its lessons, by position."""
    return db.session.scalars(
        select(model).where(model.course_id == course_id).order_by(model.position)
    ).all()


def move_module(actor: User, module: Module, direction: str) -> None:
    """Swap with the neighbouring module; lessons' course-wide order follows."""
    require_editor(actor, module.course)
    renumber(module.course_id)
    modules = _in_order(Module, module.course_id)
    if not _swap(modules, modules.index(module), direction):
        return
    renumber(module.course_id)
    record_audit(actor, "module.move", "module", module.id, {"direction": direction})


def delete_module(actor: User, module: Module) -> None:
    """Delete a module with its lessons and quizzes (and learners' progress on them)."""
    require_editor(actor, module.course)
    course_id = module.course_id
    record_audit(actor, "module.delete", "module", module.id,
                 {"title": [module.title, None], "lessons": [len(module.lessons), None]})
    db.session.delete(module)
    db.session.flush()
    renumber(course_id)


def add_lesson(actor: User, module: Module, title: str, source: str = STARTER_SOURCE) -> Lesson:
    """A new lesson at the end of ``module``, with a slug unique in the course."""
    require_editor(actor, module.course)
    title = check_title(title, "lesson title")
    source = check_source(source)
    base = slugify(title, 70) or "lesson"
    slug, n = base, 2
    while db.session.scalar(select(Lesson.id).where(Lesson.course_id == module.course_id,
                                                    Lesson.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    return course_service.add_lesson_unchecked(actor, module, title, source, slug=slug)


def move_lesson(actor: User, lesson: Lesson, direction: str) -> None:
    """Up/down within the module; past its edge, into the neighbouring module."""
    require_editor(actor, lesson.course)
    renumber(lesson.course_id)
    lessons = _in_order(Lesson, lesson.course_id)
    index = lessons.index(lesson)
    siblings = [x for x in lessons if x.module_id == lesson.module_id]
    at_edge = siblings[0 if direction == "up" else -1] is lesson
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.")
    if at_edge:
        modules = _in_order(Module, lesson.course_id)
        m = [x.id for x in modules].index(lesson.module_id)
        target = m - 1 if direction == "up" else m + 1
        if not 0 <= target < len(modules):
            return
        _move_to(lesson, modules[target], first=direction == "down")
    elif not _swap(lessons, index, direction):
        return
    renumber(lesson.course_id)
    record_audit(actor, "lesson.move", "lesson", lesson.id, {"direction": direction})


def _move_to(lesson: Lesson, module: Module, *, first: bool) -> None:
    lesson.module_id = module.id
    positions = db.session.scalars(select(Lesson.position).where(Lesson.module_id == module.id,
                                                                 Lesson.id != lesson.id)).all()
    if positions:
        lesson.position = (min(positions) - 1) if first else (max(positions) + 1)
    db.session.flush()
    db.session.expire(lesson, ["module"])


def move_lesson_to_module(actor: User, lesson: Lesson, module: Module) -> None:
    """Move a lesson to the end of another module of the same course."""
    require_editor(actor, lesson.course)
    if module.course_id != lesson.course_id:
        raise ValidationFailed("A lesson can only move within its course.", field="module")
    if module.id == lesson.module_id:
        return
    before = lesson.module_id
    lesson.position = 10**9
    _move_to(lesson, module, first=False)
    renumber(lesson.course_id)
    record_audit(actor, "lesson.move", "lesson", lesson.id, {"module_id": [before, module.id]})


@dataclass(frozen=True)
class DeleteImpact:
    lessons: int
    learners_with_progress: int
    quizzes: int = 0


def lesson_delete_impact(lesson: Lesson) -> DeleteImpact:
    learners = db.session.scalar(
        select(func.count(func.distinct(SectionProgress.user_id)))
        .where(SectionProgress.lesson_id == lesson.id)
    ) or 0
    return DeleteImpact(lessons=1, learners_with_progress=learners)


def module_delete_impact(module: Module) -> DeleteImpact:
    lesson_ids = [lesson.id for lesson in module.lessons]
    learners = db.session.scalar(
        select(func.count(func.distinct(SectionProgress.user_id)))
        .where(SectionProgress.lesson_id.in_(lesson_ids))
    ) if lesson_ids else 0
    quizzes = db.session.scalar(select(func.count()).select_from(Quiz)
                                .where(Quiz.module_id == module.id)) or 0
    return DeleteImpact(lessons=len(lesson_ids), learners_with_progress=learners or 0,
                        quizzes=quizzes)


def delete_lesson(actor: User, lesson: Lesson) -> None:
    require_editor(actor, lesson.course)
    course_id = lesson.course_id
    record_audit(actor, "lesson.delete", "lesson", lesson.id,
                 {"title": [lesson.title, None], "slug": [lesson.slug, None]})
    db.session.delete(lesson)
    db.session.flush()
    renumber(course_id)


def enrolled_count(course: Course) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrollment)
                             .where(Enrollment.course_id == course.id)) or 0
