"""Course packages: a course exported as a zip file, and imported back.

Layout (nothing else is accepted; directory entries for the two folders are
allowed)::

    course.json            the manifest, a JSON object:
                           {"format": "tangent-course", "format_version": 1,
                            "title": "…", "slug": "…", "summary": "…",
                            "level": "beginner|intermediate|advanced", "tags": ["…"],
                            "modules": [{"title": "…",
                                         "lessons": ["lessons/01-intro.md", …],
                                         "quiz": "quizzes/<key>.json" or null}]}
    lessons/NN-<slug>.md   one lesson: YAML front matter between two ``---`` lines
                           (``title``, ``slug``, optional ``minutes``), then the
                           Markdown source exactly as stored
    quizzes/<key>.json     one quiz, with the fields the demo ``course.toml`` uses
                           (see ``webapp.services.course_format``): key, title,
                           description, pass_percent, max_attempts (null: unlimited),
                           questions [{kind, prompt, explanation, points, and by
                           kind choices [{text, correct}] | answer | accepted |
                           order | answer + tolerance}]

Numeric answers and tolerances are written as strings ("2.5"), so no binary
float ever touches them. A module with several quizzes lists them as
``"quizzes": ["quizzes/a.json", …]`` instead of ``"quiz"``. Every file must be
listed in the manifest exactly once, and every file the manifest names must be
there. Lesson slugs and quiz keys are unique in the course. Not in a package:
prerequisites (they name other courses), revision history and anything about
learners.

Limits: 500 members and 200 modules; a lesson file holds at most
``authoring.MAX_SOURCE_BYTES`` of source plus 4 KB of front matter, a JSON file
1 MB, the whole package 20 MB (packed and unpacked); a member over 1 KB that is
compressed more than 100:1 is refused. Sizes in the zip headers are never
trusted: every member is read with a bounded read.

Reading (``read_package``) checks everything and writes nothing: unsafe member
names (absolute, ``..``, backslashes, drive letters, NUL), symlinks, too many
members, oversized or suspiciously compressed members (zip bombs), duplicates,
bad UTF-8, JSON or YAML, and every content rule. It reports *all* the problems
it finds in ``PackageInvalid.problems``. ``import_new`` and ``replace_draft``
then write in the caller's transaction (flush only; the caller commits).
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Course, CourseRevision, Lesson, Module, Question, Quiz, User
from webapp.services import authoring
from webapp.services import courses as course_service
from webapp.services.audit import delta_of, record_audit
from webapp.services.course_format import (
    MAX_MINUTES,
    MAX_SLUG,
    MAX_TITLE,
    Fields,
    LessonSpec,
    Problems,
    QuizSpec,
    read_course_meta,
    read_lesson,
    read_quiz,
)
from webapp.services.exceptions import PermissionDenied, ValidationFailed
from webapp.services.quizzes import create_quiz

FORMAT = "tangent-course"
FORMAT_VERSION = 1
MANIFEST = "course.json"
LESSON_DIR = "lessons/"
QUIZ_DIR = "quizzes/"
MAX_MEMBERS = 500
MAX_MODULES = 200
MAX_JSON_BYTES = 1_000_000
MAX_TOTAL_BYTES = 20_000_000
MAX_PACKAGE_BYTES = 20_000_000
# The front matter a lesson file may add to a lesson of the largest allowed source.
MAX_FRONT_MATTER = 4_000
MAX_LESSON_BYTES = authoring.MAX_SOURCE_BYTES + MAX_FRONT_MATTER
MAX_RATIO = 100
RATIO_MIN_BYTES = 1024
# Fixed timestamps make an export of the same content the same bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_MEMBER_RE = re.compile(r"^(lessons/[A-Za-z0-9][A-Za-z0-9_.-]*\.md"
                        r"|quizzes/[A-Za-z0-9][A-Za-z0-9_.-]*\.json|course\.json)$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


class PackageInvalid(ValidationFailed):
    """The package cannot be imported; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Sequence[str]) -> None:
        count = len(problems)
        super().__init__(f"The package is not valid ({count} problem{'s' if count != 1 else ''}"
                         "); nothing was imported.")
        self.problems = list(problems)


@dataclass(frozen=True)
class PackageModule:
    title: str
    lessons: tuple[LessonSpec, ...]
    quizzes: tuple[QuizSpec, ...]


@dataclass(frozen=True)
class PackageCourse:
    title: str
    slug: str
    summary: str
    level: str
    tags: tuple[str, ...]
    modules: tuple[PackageModule, ...]

    @property
    def lessons(self) -> list[LessonSpec]:
        return [lesson for module in self.modules for lesson in module.lessons]

    @property
    def quizzes(self) -> list[QuizSpec]:
        return [quiz for module in self.modules for quiz in module.quizzes]


# --- export ------------------------------------------------------------------------------


def _number(value: Decimal | None) -> str:
    """A Decimal as plain text without exponent or trailing zeros: "2.5", "100", "0"."""
    if value is None:
        return "0"
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _question_data(question: Question) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": question.kind, "prompt": question.prompt,
                            "explanation": question.explanation or "", "points": question.points}
    choices = sorted(question.choices, key=lambda c: c.position)
    if question.kind in ("single", "multiple"):
        data["choices"] = [{"text": c.text, "correct": c.is_correct} for c in choices]
    elif question.kind == "true_false":
        true = next((c for c in choices if c.text == "True"), choices[0] if choices else None)
        data["answer"] = bool(true and true.is_correct)
    elif question.kind == "ordering":
        data["order"] = [c.text for c in choices]
    elif question.kind == "short_text":
        data["accepted"] = sorted(a.text for a in question.accepted_answers)
    else:
        data["answer"] = _number(question.numeric_answer)
        data["tolerance"] = _number(question.tolerance)
    return data


def _quiz_data(quiz: Quiz) -> dict[str, Any]:
    return {
        "key": quiz.key,
        "title": quiz.title,
        "description": quiz.description or "",
        "pass_percent": quiz.pass_percent,
        "max_attempts": quiz.max_attempts,
        "questions": [_question_data(q) for q in quiz.questions],
    }


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def lesson_file_text(lesson: Lesson) -> str:
    """A lesson as its package file: YAML front matter, then the source as stored."""
    # Minutes are an estimate; keep them within what an import accepts.
    minutes = min(max(lesson.estimated_minutes or 1, 1), MAX_MINUTES)
    meta = {"title": lesson.title, "slug": lesson.slug, "minutes": minutes}
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=10**6)
    return f"---\n{front}---\n{lesson.source or ''}"


def export_course(course: Course) -> bytes:
    """The course as a package (zip bytes). Reads only; the caller checks permission."""
    modules = db.session.scalars(
        select(Module).where(Module.course_id == course.id)
        .options(selectinload(Module.lessons)).order_by(Module.position, Module.id)
    ).all()
    quizzes = db.session.scalars(
        select(Quiz).where(Quiz.course_id == course.id).order_by(Quiz.id)
        .options(selectinload(Quiz.questions).selectinload(Question.choices),
                 selectinload(Quiz.questions).selectinload(Question.accepted_answers))
    ).all()
    lesson_count = sum(len(m.lessons) for m in modules)
    width = max(2, len(str(lesson_count)))
    files: list[tuple[str, bytes]] = []
    manifest_modules = []
    number = 0
    for module in modules:
        lesson_paths = []
        for lesson in sorted(module.lessons, key=lambda x: (x.position, x.id)):
            number += 1
            path = f"{LESSON_DIR}{number:0{width}d}-{lesson.slug}.md"
            files.append((path, lesson_file_text(lesson).encode("utf-8")))
            lesson_paths.append(path)
        quiz_paths = []
        for quiz in (q for q in quizzes if q.module_id == module.id):
            path = f"{QUIZ_DIR}{quiz.key}.json"
            files.append((path, _json_bytes(_quiz_data(quiz))))
            quiz_paths.append(path)
        entry: dict[str, Any] = {"title": module.title, "lessons": lesson_paths}
        if len(quiz_paths) > 1:
            entry["quizzes"] = quiz_paths
        else:
            entry["quiz"] = quiz_paths[0] if quiz_paths else None
        manifest_modules.append(entry)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "title": course.title,
        "slug": course.slug,
        "summary": course.summary or "",
        "level": course.level,
        "tags": [tag.name for tag in course.tags],
        "modules": manifest_modules,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, content in [(MANIFEST, _json_bytes(manifest)), *files]:
            info = zipfile.ZipInfo(path, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zf.writestr(info, content)
    return buffer.getvalue()


# --- reading: the zip container ----------------------------------------------------------


def _name_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be in a package at all (None when its name is safe)."""
    raw = info.orig_filename
    shown = repr(raw)[1:-1][:120]  # control characters visible, never raw
    if "\x00" in raw:
        return f"{shown}: file names must not contain NUL characters."
    if "\\" in raw:
        return f"{shown}: file names must use '/' (backslashes are not allowed)."
    if raw.startswith("/") or _DRIVE_RE.match(raw):
        return f"{shown}: absolute paths are not allowed."
    if ".." in raw.split("/"):
        return f"{shown}: '..' is not allowed in a path."
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"{shown}: symbolic links are not allowed."
    if raw in (LESSON_DIR, QUIZ_DIR):
        return None
    if not _MEMBER_RE.match(raw):
        return (f"{shown}: not part of a course package (expected course.json, "
                "lessons/*.md and quizzes/*.json).")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return f"{shown}: only regular files are allowed."
    return None


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n:,} bytes"


def _limit(name: str) -> int:
    if name.startswith(LESSON_DIR):
        return MAX_LESSON_BYTES
    return MAX_JSON_BYTES


def _read_members(data: bytes, problems: Problems) -> dict[str, str]:
    """The safe members' text by name; everything wrong goes into ``problems``."""
    if len(data) > MAX_PACKAGE_BYTES:
        problems.add(f"The package is {_size(len(data))}; the limit is "
                     f"{_size(MAX_PACKAGE_BYTES)}.")
        return {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        problems.add("This is not a zip file, or it is damaged.")
        return {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            problems.add(f"The package has {len(infos)} files; the limit is {MAX_MEMBERS}.")
            return {}
        seen: set[str] = set()
        safe: list[zipfile.ZipInfo] = []
        for info in infos:
            if info.orig_filename in seen:
                problems.add(f"{info.orig_filename[:120]}: the package holds this name twice.")
                continue
            seen.add(info.orig_filename)
            problem = _name_problem(info)
            if problem:
                problems.add(problem)
            elif not info.is_dir():
                safe.append(info)
        texts: dict[str, str] = {}
        total = 0
        for info in safe:
            name, limit = info.filename, _limit(info.filename)
            if info.file_size > limit:
                problems.add(f"{name}: {_size(info.file_size)}; the limit is {_size(limit)}.")
                continue
            if info.file_size > RATIO_MIN_BYTES and \
                    info.file_size > MAX_RATIO * max(info.compress_size, 1):
                problems.add(f"{name}: compressed more than {MAX_RATIO}:1 (a zip bomb?).")
                continue
            try:
                # Never trust the header: read at most one byte past the limit.
                with zf.open(info) as member:
                    content = member.read(limit + 1)
            except RuntimeError:
                problems.add(f"{name}: encrypted files are not supported.")
                continue
            except NotImplementedError:
                problems.add(f"{name}: unsupported compression method.")
                continue
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError):
                problems.add(f"{name}: damaged (it could not be decompressed).")
                continue
            if len(content) > limit:
                problems.add(f"{name}: larger than the limit of {_size(limit)}.")
                continue
            if len(content) > RATIO_MIN_BYTES and \
                    len(content) > MAX_RATIO * max(info.compress_size, 1):
                problems.add(f"{name}: compressed more than {MAX_RATIO}:1 (a zip bomb?).")
                continue
            total += len(content)
            if total > MAX_TOTAL_BYTES:
                problems.add(f"The package unpacks to more than {_size(MAX_TOTAL_BYTES)}; "
                             "that is the limit.")
                return {}
            try:
                texts[name] = content.decode("utf-8")
            except UnicodeDecodeError:
                problems.add(f"{name}: not valid UTF-8 text.")
        return texts


# --- reading: the files ------------------------------------------------------------------


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
    return read_lesson(fields, source)


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
            lambda: read_quiz(_load_json(path, text), f"{path}: quiz")
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
        title = self.problems.attempt(fields.text, "title", max_length=MAX_TITLE)
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
    texts = _read_members(data, problems)
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
    meta = problems.attempt(read_course_meta, fields, allow_empty=True)
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


# --- writing -------------------------------------------------------------------------------


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
                    pass_percent=quiz.pass_percent, max_attempts=quiz.max_attempts)


def _course_fields(package: PackageCourse) -> dict[str, Any]:
    return {"title": package.title, "summary": package.summary, "level": package.level,
            "tags": list(package.tags)}


def import_new(actor: User, package: PackageCourse) -> Course:
    """A new draft course owned by ``actor`` from a package read by ``read_package``.

    The manifest's slug is used when it is free, else a numbered variant
    (compare ``course.slug`` with ``package.slug``). Flushes; the caller commits.
    """
    if actor is None or not actor.is_active or actor.role not in authoring.EDITOR_ROLES:
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
