"""Reading a package's manifest, lessons and quizzes, collecting every problem."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import yaml

from webapp.services import authoring, course_format
from webapp.services.course_format import Fields, LessonSpec, Problems, QuizSpec
from webapp.services.exceptions import ValidationFailed
from webapp.services.packages.archive import read_members
from webapp.services.packages.layout import (
    FORMAT,
    FORMAT_VERSION,
    LESSON_DIR,
    MANIFEST,
    MAX_FRONT_MATTER,
    MAX_MODULES,
    QUIZ_DIR,
    PackageCourse,
    PackageInvalid,
    PackageModule,
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _load_json(name: str, text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(f"{name}: not valid JSON ({str(exc)[:120]}).") from None


def parse_lesson_file(name: str, text: str) -> LessonSpec:
    """A lesson file: front matter between ``---`` lines, then the Markdown source."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.startswith("---\n"):
        raise ValidationFailed(f"{name}: must start with front matter (a line '---', then "
                               "title, slug and minutes, then '---').")
    end = text.find("\n---\n", 3)
    if end == -1 and text.endswith("\n---"):
        end = len(text) - 4
    if end == -1 or end > MAX_FRONT_MATTER:
        raise ValidationFailed(f"{name}: the front matter has no closing '---' line within "
                               f"{MAX_FRONT_MATTER:,} characters.")
    front, source = text[4:end + 1], text[end + 5:]
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        problem = str(exc).replace("\n", " ")[:160]
        raise ValidationFailed(f"{name}: the front matter is not valid YAML ({problem}).") \
            from None
    fields = Fields(meta, f"{name}: front matter", {"title", "slug"}, {"minutes"})
    try:
        source = authoring.check_source(source)
    except ValidationFailed as exc:
        raise ValidationFailed(f"{name}: {exc.message}") from None
    return course_format.read_lesson(fields, source)


def _paths(fields: Fields, key: str, prefix: str, suffix: str) -> list[str]:
    value = fields.data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed(f"{fields.where}: {key} must be a list of file names.")
    wrong = [v for v in value if not (v.startswith(prefix) and v.endswith(suffix))]
    if wrong:
        raise ValidationFailed(f"{fields.where}: {key}: {wrong[0][:80]!r} is not a "
                               f"{prefix}…{suffix} file.")
    return value


def _module_quiz_paths(fields: Fields) -> list[str]:
    if "quiz" in fields.data and "quizzes" in fields.data:
        raise ValidationFailed(f"{fields.where}: give quiz or quizzes, not both.")
    if "quizzes" in fields.data:
        return _paths(fields, "quizzes", QUIZ_DIR, ".json")
    value = fields.data.get("quiz")
    if value is None:
        return []
    if not isinstance(value, str) or not value.startswith(QUIZ_DIR) or \
            not value.endswith(".json"):
        raise ValidationFailed(f"{fields.where}: quiz must be a quizzes/….json file name "
                               "or null.")
    return [value]


class _Reader:
    """Reads the manifest and the files it names, once each, collecting problems."""

    def __init__(self, texts: dict[str, str], problems: Problems) -> None:
        self.texts = texts
        self.problems = problems
        self.used: set[str] = set()

    def _take(self, path: str, where: str) -> str | None:
        if path in self.used:
            self.problems.add(f"{where}: {path} is listed more than once.")
            return None
        self.used.add(path)
        if path not in self.texts:
            self.problems.add(f"{where}: {path} is listed but not in the package.")
            return None
        return self.texts[path]

    def lesson(self, path: str, where: str) -> LessonSpec | None:
        text = self._take(path, where)
        return None if text is None else self.problems.attempt(parse_lesson_file, path, text)

    def quiz(self, path: str, where: str) -> QuizSpec | None:
        text = self._take(path, where)
        if text is None:
            return None
        return self.problems.attempt(
            lambda: course_format.read_quiz(_load_json(path, text), f"{path}: quiz")
        )

    def module(self, raw: Any, where: str) -> PackageModule | None:
        allowed = {"title", "lessons", "quiz", "quizzes"}
        if isinstance(raw, dict) and set(raw) - allowed:
            # Report the stray keys, then read the rest: the files it lists still count.
            self.problems.attempt(Fields, raw, where, {"title", "lessons"}, {"quiz", "quizzes"})
            raw = {key: value for key, value in raw.items() if key in allowed}
        fields = self.problems.attempt(Fields, raw, where, {"title", "lessons"},
                                       {"quiz", "quizzes"})
        if fields is None:
            return None
        title = self.problems.attempt(fields.text, "title", max_length=course_format.MAX_TITLE)
        lesson_paths = self.problems.attempt(_paths, fields, "lessons", LESSON_DIR, ".md") or []
        quiz_paths = self.problems.attempt(_module_quiz_paths, fields) or []
        lessons = [self.lesson(path, where) for path in lesson_paths]
        quizzes = [self.quiz(path, where) for path in quiz_paths]
        return PackageModule(title=title or "",
                             lessons=tuple(x for x in lessons if x is not None),
                             quizzes=tuple(x for x in quizzes if x is not None))


def _check_manifest_header(fields: Fields) -> None:
    if fields.data.get("format") != FORMAT:
        raise ValidationFailed(f"{MANIFEST}: format must be {FORMAT!r}.")
    version = fields.data.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValidationFailed(f"{MANIFEST}: format_version {version!r} is not one this "
                               f"Tangent reads (it reads {FORMAT_VERSION}).")


def read_package(data: bytes) -> PackageCourse:
    """Check a package completely and return its content; nothing is written.

    Raises ``PackageInvalid`` listing every problem found.
    """
    problems = Problems()
    texts = read_members(data, problems)
    if MANIFEST not in texts:
        if not problems.items:
            problems.add(f"{MANIFEST}: missing (every package starts from its manifest).")
        raise PackageInvalid(problems.items)
    manifest = problems.attempt(_load_json, MANIFEST, texts[MANIFEST])
    fields = problems.attempt(
        Fields, manifest, MANIFEST,
        {"format", "format_version", "title", "slug", "summary", "level", "tags", "modules"},
        set(),
    ) if manifest is not None else None
    if fields is None:
        raise PackageInvalid(problems.items)
    problems.attempt(_check_manifest_header, fields)
    meta = problems.attempt(course_format.read_course_meta, fields, allow_empty=True)
    raw_modules = fields.data.get("modules")
    if not isinstance(raw_modules, list):
        problems.add(f"{MANIFEST}: modules must be a list.")
        raw_modules = []
    if len(raw_modules) > MAX_MODULES:
        problems.add(f"{MANIFEST}: {len(raw_modules)} modules; the limit is {MAX_MODULES}.")
        raw_modules = raw_modules[:MAX_MODULES]
    reader = _Reader(texts, problems)
    modules = [reader.module(raw, f"{MANIFEST}: modules[{m}]")
               for m, raw in enumerate(raw_modules, start=1)]
    for name in sorted(set(texts) - reader.used - {MANIFEST}):
        problems.add(f"{name}: in the package but not listed in {MANIFEST}.")
    course = PackageCourse(
        title=meta.title if meta else "", slug=meta.slug if meta else "",
        summary=meta.summary if meta else "", level=meta.level if meta else "",
        tags=meta.tags if meta else (),
        modules=tuple(m for m in modules if m is not None),
    )
    _check_unique(course, problems)
    if problems.items:
        raise PackageInvalid(problems.items)
    return course


def _check_unique(course: PackageCourse, problems: Problems) -> None:
    seen: set[str] = set()
    for lesson in course.lessons:
        if lesson.slug in seen:
            problems.add(f"Lesson slug {lesson.slug!r} is used by two lessons.")
        seen.add(lesson.slug)
    keys: set[str] = set()
    for quiz in course.quizzes:
        if quiz.key in keys:
            problems.add(f"Quiz key {quiz.key!r} is used by two quizzes.")
        keys.add(quiz.key)
