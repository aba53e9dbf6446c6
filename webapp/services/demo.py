"""Demo content: the courses in ``webapp/demo_content`` loaded through the content services.

Each course is a folder (loaded in name order) holding ``course.toml`` and one
Markdown file per lesson::

    title = "…"            slug = "…"            summary = "…"
    level = "beginner"     tags = ["…", "…"]     prerequisites = ["other-course-slug"]

    [[modules]]
    title = "…"
    [[modules.lessons]]     # slug, title, file, optional minutes
    [modules.quiz]          # key, title, optional description, pass_percent, max_attempts
    [[modules.quiz.questions]]

A question has ``kind``, ``prompt``, ``explanation``, optional ``points`` and, by kind:
``choices = [{ text = "…", correct = true }, …]`` (single, multiple),
``answer = true|false`` (true_false), ``accepted = ["…"]`` (short_text),
``answer`` and ``tolerance`` (numeric; numbers or strings) or
``order = ["first", "second", …]`` (ordering, listed in the correct order).

Every file is read and checked before anything is written; a malformed file
raises ``ValidationFailed`` naming it. Loading is idempotent: a course whose
slug already exists is skipped. The services flush; the caller commits.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from sqlalchemy import select

from webapp.content.render import slugify
from webapp.extensions import db
from webapp.models import Course, User
from webapp.models.courses import LEVELS
from webapp.models.quizzes import QUESTION_KINDS
from webapp.services.courses import add_lesson, add_module, create_course, publish_course
from webapp.services.exceptions import ValidationFailed
from webapp.services.quizzes import QuestionSpec, create_quiz, validate_question

DEMO_PACKAGE = "webapp.demo_content"
COURSE_FILE = "course.toml"
_LESSON_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.md$")
_KIND_FIELDS = {
    "single": {"choices"},
    "multiple": {"choices"},
    "true_false": {"answer"},
    "short_text": {"accepted"},
    "numeric": {"answer", "tolerance"},
    "ordering": {"order"},
}


@dataclass(frozen=True)
class DemoLesson:
    slug: str
    title: str
    source: str
    minutes: int | None


@dataclass(frozen=True)
class DemoQuiz:
    key: str
    title: str
    description: str
    pass_percent: int
    max_attempts: int | None
    questions: tuple[QuestionSpec, ...]


@dataclass(frozen=True)
class DemoModule:
    title: str
    lessons: tuple[DemoLesson, ...]
    quiz: DemoQuiz | None


@dataclass(frozen=True)
class DemoCourse:
    folder: str
    slug: str
    title: str
    summary: str
    level: str
    tags: tuple[str, ...]
    prerequisites: tuple[str, ...]
    modules: tuple[DemoModule, ...]


# --- reading and checking the files -----------------------------------------------------


class _Fields:
    """One TOML table, read strictly: unknown keys and wrong types are errors."""

    def __init__(self, data: Any, where: str, required: set[str], optional: set[str]) -> None:
        if not isinstance(data, dict):
            raise ValidationFailed(f"{where}: expected a table.")
        unknown = sorted(set(data) - required - optional)
        if unknown:
            raise ValidationFailed(f"{where}: unknown key(s) {', '.join(unknown)}.")
        missing = sorted(required - set(data))
        if missing:
            raise ValidationFailed(f"{where}: missing key(s) {', '.join(missing)}.")
        self.data = data
        self.where = where

    def text(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise ValidationFailed(f"{self.where}: {key} must be a non-empty string.")
        return value.strip()

    def integer(self, key: str, default: int | None, low: int, high: int) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(f"{self.where}: {key} must be a whole number "
                                   f"from {low} to {high}.")
        return value

    def strings(self, key: str, *, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise ValidationFailed(f"{self.where}: {key} must be a list of non-empty strings.")
        if not value and not allow_empty:
            raise ValidationFailed(f"{self.where}: {key} must not be empty.")
        return tuple(v.strip() for v in value)

    def tables(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise ValidationFailed(f"{self.where}: {key} must be a non-empty list of tables.")
        return value

    def decimal(self, key: str, default: Decimal | None = None) -> Decimal:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValidationFailed(f"{self.where}: {key} must be a number.")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationFailed(f"{self.where}: {key} must be a number.") from None
        if not number.is_finite():
            raise ValidationFailed(f"{self.where}: {key} must be a finite number.")
        return number


def _slug(value: str, where: str) -> str:
    if slugify(value) != value:
        raise ValidationFailed(f"{where}: {value!r} is not a slug (lower-case words joined "
                               "by hyphens).")
    return value


def _question(data: Any, where: str) -> QuestionSpec:
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in QUESTION_KINDS:
        raise ValidationFailed(f"{where}: kind must be one of {', '.join(QUESTION_KINDS)}.")
    kind_fields = _KIND_FIELDS[kind]
    required = {"kind", "prompt", "explanation"} | (kind_fields - {"tolerance"})
    optional = {"points"} | (kind_fields & {"tolerance"})
    fields = _Fields(data, where, required, optional)
    choices: list[tuple[str, bool]] = []
    accepted: tuple[str, ...] = ()
    numeric_answer = None
    tolerance = Decimal(0)
    if kind in ("single", "multiple"):
        for n, raw in enumerate(fields.tables("choices"), start=1):
            choice = _Fields(raw, f"{where}.choices[{n}]", {"text"}, {"correct"})
            correct = choice.data.get("correct", False)
            if not isinstance(correct, bool):
                raise ValidationFailed(f"{choice.where}: correct must be true or false.")
            choices.append((choice.text("text"), correct))
    elif kind == "true_false":
        answer = data["answer"]
        if not isinstance(answer, bool):
            raise ValidationFailed(f"{where}: answer must be true or false.")
        choices = [("True", answer), ("False", not answer)]
    elif kind == "ordering":
        choices = [(item, True) for item in fields.strings("order")]
    elif kind == "short_text":
        accepted = fields.strings("accepted")
    else:
        numeric_answer = fields.decimal("answer")
        tolerance = fields.decimal("tolerance", Decimal(0))
    spec = QuestionSpec(
        kind=kind,
        prompt=fields.text("prompt"),
        explanation=fields.text("explanation"),
        points=fields.integer("points", 1, 1, 100) or 1,
        choices=tuple(choices),
        accepted=accepted,
        numeric_answer=numeric_answer,
        tolerance=tolerance,
    )
    try:
        validate_question(spec)
    except ValidationFailed as exc:
        raise ValidationFailed(f"{where}: {exc.message}") from None
    return spec


def _quiz(data: Any, where: str) -> DemoQuiz:
    fields = _Fields(data, where, {"key", "title", "questions"},
                     {"description", "pass_percent", "max_attempts"})
    questions = tuple(
        _question(raw, f"{where}.questions[{n}]")
        for n, raw in enumerate(fields.tables("questions"), start=1)
    )
    return DemoQuiz(
        key=_slug(fields.text("key"), f"{where}.key"),
        title=fields.text("title"),
        description=fields.text("description", ""),
        pass_percent=fields.integer("pass_percent", 70, 0, 100) or 0,
        max_attempts=fields.integer("max_attempts", None, 1, 100),
        questions=questions,
    )


def _lesson(data: Any, where: str, folder: Traversable, label: str) -> DemoLesson:
    fields = _Fields(data, where, {"slug", "title", "file"}, {"minutes"})
    name = fields.text("file")
    if not _LESSON_FILE_RE.match(name):
        raise ValidationFailed(f"{where}: file must be a .md file name in the course folder.")
    path = folder.joinpath(name)
    lesson_label = f"{label}/{name}"
    if not path.is_file():
        raise ValidationFailed(f"{lesson_label}: lesson file not found (named in {where}).")
    try:
        source = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(f"{lesson_label}: not valid UTF-8.") from None
    if not source.strip():
        raise ValidationFailed(f"{lesson_label}: the lesson is empty.")
    return DemoLesson(
        slug=_slug(fields.text("slug"), f"{where}.slug"),
        title=fields.text("title"),
        source=source,
        minutes=fields.integer("minutes", None, 1, 600),
    )


def read_course(folder: Traversable) -> DemoCourse:
    """One course folder, fully checked (nothing is written)."""
    label = f"{folder.name}/{COURSE_FILE}"
    path = folder.joinpath(COURSE_FILE)
    if not path.is_file():
        raise ValidationFailed(f"{label}: file not found.")
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationFailed(f"{label}: not valid TOML ({exc}).") from None
    fields = _Fields(data, label, {"title", "slug", "summary", "level", "tags", "modules"},
                     {"prerequisites"})
    level = fields.text("level")
    if level not in LEVELS:
        raise ValidationFailed(f"{label}: level must be one of {', '.join(LEVELS)}.")
    slug = _slug(fields.text("slug"), f"{label}: slug")
    modules = []
    lesson_slugs: set[str] = set()
    quiz_keys: set[str] = set()
    for m, raw_module in enumerate(fields.tables("modules"), start=1):
        where = f"{label}: modules[{m}]"
        module = _Fields(raw_module, where, {"title", "lessons"}, {"quiz"})
        lessons = tuple(
            _lesson(raw, f"{where}.lessons[{n}]", folder, folder.name)
            for n, raw in enumerate(module.tables("lessons"), start=1)
        )
        for lesson in lessons:
            if lesson.slug in lesson_slugs:
                raise ValidationFailed(f"{where}: lesson slug {lesson.slug!r} is used twice.")
            lesson_slugs.add(lesson.slug)
        quiz = _quiz(raw_module["quiz"], f"{where}.quiz") if "quiz" in raw_module else None
        if quiz is not None:
            if quiz.key in quiz_keys:
                raise ValidationFailed(f"{where}: quiz key {quiz.key!r} is used twice.")
            quiz_keys.add(quiz.key)
        modules.append(DemoModule(title=module.text("title"), lessons=lessons, quiz=quiz))
    prerequisites = fields.strings("prerequisites", allow_empty=True)
    if slug in prerequisites:
        raise ValidationFailed(f"{label}: a course cannot be its own prerequisite.")
    return DemoCourse(
        folder=folder.name,
        slug=slug,
        title=fields.text("title"),
        summary=fields.text("summary"),
        level=level,
        tags=fields.strings("tags"),
        prerequisites=prerequisites,
        modules=tuple(modules),
    )


def read_demo_courses(root: Traversable | None = None) -> list[DemoCourse]:
    """Every course folder under ``root`` (the packaged demo content by default), checked."""
    root = root if root is not None else files(DEMO_PACKAGE)
    folders = sorted(
        (entry for entry in root.iterdir()
         if entry.is_dir() and not entry.name.startswith(("_", "."))),
        key=lambda entry: entry.name,
    )
    courses = [read_course(folder) for folder in folders]
    slugs: dict[str, str] = {}
    for course in courses:
        if course.slug in slugs:
            raise ValidationFailed(f"{course.folder}/{COURSE_FILE}: slug {course.slug!r} is "
                                   f"also used by {slugs[course.slug]}/{COURSE_FILE}.")
        slugs[course.slug] = course.folder
    for course in courses:
        for prerequisite in course.prerequisites:
            if prerequisite not in slugs or slugs[prerequisite] >= course.folder:
                raise ValidationFailed(
                    f"{course.folder}/{COURSE_FILE}: prerequisite {prerequisite!r} is not a "
                    "demo course loaded before this one."
                )
    return courses


# --- writing ------------------------------------------------------------------------------


def _create(actor: User | None, data: DemoCourse) -> Course:
    course = create_course(actor, title=data.title, summary=data.summary, level=data.level,
                           tags=data.tags, slug=data.slug)
    for module_data in data.modules:
        module = add_module(actor, course, module_data.title)
        for lesson in module_data.lessons:
            add_lesson(actor, module, lesson.title, lesson.source, slug=lesson.slug,
                       estimated_minutes=lesson.minutes)
        if module_data.quiz is not None:
            quiz = module_data.quiz
            create_quiz(actor, module, key=quiz.key, title=quiz.title,
                        description=quiz.description, questions=quiz.questions,
                        pass_percent=quiz.pass_percent, max_attempts=quiz.max_attempts)
    for slug in data.prerequisites:
        prerequisite = db.session.scalar(select(Course).where(Course.slug == slug))
        if prerequisite is not None:
            course.prerequisites.append(prerequisite)
    db.session.flush()
    return course


def load_demo_content(
    actor: User | None, root: Traversable | None = None
) -> list[Course]:
    """Create and publish the demo courses that do not exist yet; returns the new ones.

    Courses are published in reverse folder order, so the catalog (newest
    first) lists them in folder order. Flushes only; the caller commits.
    """
    courses: Sequence[DemoCourse] = read_demo_courses(root)
    existing = set(db.session.scalars(
        select(Course.slug).where(Course.slug.in_([c.slug for c in courses]))
    ))
    created = [_create(actor, data) for data in courses if data.slug not in existing]
    for course in reversed(created):
        publish_course(actor, course)
    db.session.flush()
    return created
