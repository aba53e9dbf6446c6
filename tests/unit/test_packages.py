"""Course packages: export, strict reading (zip guards, every problem reported), import
as a new draft, replacing a draft, and the round trip that must render identically."""

from __future__ import annotations

import io
import json
import stat
import struct
import warnings
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from tests.factories import make_user
from webapp.extensions import db
from webapp.models import (
    AcceptedAnswer,
    AuditEvent,
    Choice,
    Course,
    CourseRevision,
    Lesson,
    LessonRevision,
    Module,
    Question,
    Quiz,
    Section,
    SectionProgress,
)
from webapp.services import authoring, packages, progress
from webapp.services import courses as course_service
from webapp.services.exceptions import PermissionDenied, ValidationFailed
from webapp.services.packages import PackageInvalid, archive, export_course, read_package
from webapp.services.quiz_authoring import check_question
from webapp.services.quizzes import QuestionSpec, create_quiz

COUNTED = (Course, Module, Lesson, Section, Quiz, Question, Choice, AcceptedAnswer,
           LessonRevision, CourseRevision, AuditEvent)

INTRO = """Welcome to the course. Read each step, then try it yourself.

<Callout kind="tip">
Keep a notebook open and **write down** what surprises you.
</Callout>

## Setting up

Install the tools first:

```python
def greet(name: str) -> str:
    return f"Hello, {name}!"
```

## Tools at a glance

| Tool | What it is for |
| --- | --- |
| pip | installing packages |
| venv | keeping projects apart |
"""

FOOTNOTES = """Averages hide as much as they show.[^mean]

<Callout kind="warning">
A mean of skewed data misleads.
</Callout>

## Medians

The median is robust,[^robust] as the table shows:

| Data | Mean | Median |
| ---: | ---: | ---: |
| 1, 2, 100 | 34.3 | 2 |

[^mean]: See any statistics text, or [this page](https://example.org/mean).
[^robust]: Outliers barely move it.
"""

CHECK = """Time to check what you learned.

<Quiz id="check-basics"/>

## What comes next

```sql
SELECT title FROM lesson ORDER BY position;
```

- one
- two
"""

TRICKY_TITLE = 'Setting up: "venv", pip & yes'


def all_kinds_questions() -> list[QuestionSpec]:
    """One question of every kind, normalized as the quiz editor stores them."""
    return [check_question(spec) for spec in [
        QuestionSpec("single", "Which tool isolates projects?", "venv keeps them apart.",
                     points=2, choices=[("pip", False), ("venv", True), ("git", False)]),
        QuestionSpec("multiple", "Which are Python tools?", "Both ship with Python.",
                     choices=[("pip", True), ("venv", True), ("make", False)]),
        QuestionSpec("true_false", "The median ignores outliers.", "Mostly, yes.",
                     choices=[("True", False), ("False", True)]),
        QuestionSpec("short_text", "Name the robust average.", "The median.",
                     accepted=["median", "the median", "Median value"]),
        QuestionSpec("numeric", "What is 10 / 4?", "Two and a half.", points=3,
                     numeric_answer=Decimal("2.5"), tolerance=Decimal("0.05")),
        QuestionSpec("numeric", "How many lessons?", "Integer answers work too.",
                     numeric_answer=Decimal("100"), tolerance=Decimal(0)),
        QuestionSpec("ordering", "Order the steps.", "Install, then import, then run.",
                     choices=[("install", True), ("import", True), ("run", True)]),
    ]]


def make_rich_course(owner, *, title: str = "Packages in practice", publish: bool = False):
    """Three modules (one empty), lessons with code, tables, callouts and footnotes, and
    quizzes covering every question kind. Committed."""
    course = course_service.create_course_unchecked(
        owner, title=title, summary="Everything a package must carry.", level="intermediate",
        tags=("Python", "Data science"))
    first = course_service.add_module_unchecked(owner, course, "Getting started")
    course_service.add_lesson_unchecked(owner, first, TRICKY_TITLE, INTRO, slug="setting-up",
                              estimated_minutes=12)
    course_service.add_lesson_unchecked(owner, first, "Averages", FOOTNOTES, slug="averages")
    create_quiz(owner, first, key="check-basics", title="Check the basics",
                description="Every kind of question.", questions=all_kinds_questions(),
                pass_percent=60, max_attempts=3, feedback="after_last_attempt",
                scoring="proportional", gradebook_score="last")
    second = course_service.add_module_unchecked(owner, course, "Going further")
    course_service.add_lesson_unchecked(owner, second, "Checking in", CHECK, slug="checking-in",
                              estimated_minutes=7)
    create_quiz(owner, second, key="final", title="Final check",
                questions=[all_kinds_questions()[0]], pass_percent=100, mode="practice")
    course_service.add_module_unchecked(owner, course, "Coming soon")
    if publish:
        course_service.publish_course(owner, course)
    db.session.commit()
    return course


def snapshot(course_id: int) -> dict:
    """Everything a learner sees of a course (ids and slug aside)."""
    db.session.expire_all()
    course = db.session.scalar(
        select(Course).where(Course.id == course_id).options(
            selectinload(Course.modules).selectinload(Module.lessons)
            .selectinload(Lesson.sections), selectinload(Course.tags)))
    quizzes = db.session.scalars(
        select(Quiz).where(Quiz.course_id == course_id).order_by(Quiz.id).options(
            selectinload(Quiz.questions).selectinload(Question.choices),
            selectinload(Quiz.questions).selectinload(Question.accepted_answers))).all()

    def quiz_view(quiz: Quiz) -> tuple:
        return (quiz.key, quiz.title, quiz.description, quiz.pass_percent, quiz.max_attempts,
                quiz.mode, quiz.feedback, quiz.scoring,
                [(q.position, q.kind, q.prompt, q.explanation, q.points, q.numeric_answer,
                  q.tolerance, [(c.position, c.text, c.is_correct) for c in q.choices],
                  sorted(a.text for a in q.accepted_answers)) for q in quiz.questions],
                quiz.gradebook_score)

    return {
        "meta": (course.title, course.summary, course.level, [t.name for t in course.tags]),
        "modules": [
            (m.position, m.title,
             [(lesson.position, lesson.slug, lesson.title, lesson.estimated_minutes,
               lesson.source, [(s.key, s.title, s.position, s.html) for s in lesson.sections])
              for lesson in m.lessons],
             [quiz_view(q) for q in quizzes if q.module_id == m.id])
            for m in course.modules
        ],
    }


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def build_zip(files: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED,
              infos: tuple[zipfile.ZipInfo, ...] = ()) -> bytes:
    """A zip of ``files`` (and raw ``infos`` given as (ZipInfo, content) pairs)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are what some tests want
        with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
            for name, content in files.items():
                zf.writestr(name, content)
            for info, content in infos:
                zf.writestr(info, content)
    return buffer.getvalue()


def package_files(**overrides) -> dict[str, bytes | str]:
    """A small valid package as a dict of files; ``None`` values remove a file."""
    manifest = {
        "format": "tangent-course", "format_version": 1, "title": "Tiny", "slug": "tiny",
        "summary": "", "level": "beginner", "tags": [],
        "modules": [{"title": "Only", "lessons": ["lessons/01-one.md"],
                     "quiz": "quizzes/q.json"}],
    }
    quiz = {"key": "q", "title": "Q", "questions": [
        {"kind": "true_false", "prompt": "Yes?", "explanation": "Yes.", "answer": True}]}
    files: dict[str, bytes | str] = {
        "course.json": json.dumps(manifest),
        "lessons/01-one.md": "---\ntitle: One\nslug: one\nminutes: 3\n---\nHello.\n\n## Two\n",
        "quizzes/q.json": json.dumps(quiz),
    }
    for name, value in overrides.items():
        name = name.replace("__", "/").replace("_dot_", ".")
        if value is None:
            files.pop(name, None)
        else:
            files[name] = value
    return files


def problems_of(data: bytes) -> list[str]:
    with pytest.raises(PackageInvalid) as caught:
        read_package(data)
    assert caught.value.problems
    return caught.value.problems


def counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) or 0
            for m in COUNTED}


@pytest.fixture
def editor(app_ctx):
    return make_user("author@example.org", role="editor")


def _random_text(size: int) -> str:
    """Text that does not compress much (so only the size limit applies)."""
    import random

    rng = random.Random(size)
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz \n") for _ in range(size))


# --- export ------------------------------------------------------------------------------


def test_export_layout_manifest_and_files(editor):
    course = make_rich_course(editor)
    data = export_course(course)
    files = members(data)
    assert list(files) == ["course.json", "lessons/01-setting-up.md", "lessons/02-averages.md",
                           "quizzes/check-basics.json", "lessons/03-checking-in.md",
                           "quizzes/final.json"]
    manifest = json.loads(files["course.json"])
    assert manifest == {
        "format": "tangent-course", "format_version": 1, "title": "Packages in practice",
        "slug": course.slug, "summary": "Everything a package must carry.",
        "level": "intermediate", "tags": ["Data science", "Python"],
        "modules": [
            {"title": "Getting started",
             "lessons": ["lessons/01-setting-up.md", "lessons/02-averages.md"],
             "quiz": "quizzes/check-basics.json"},
            {"title": "Going further", "lessons": ["lessons/03-checking-in.md"],
             "quiz": "quizzes/final.json"},
            {"title": "Coming soon", "lessons": [], "quiz": None},
        ],
    }
    lesson = files["lessons/01-setting-up.md"].decode()
    assert lesson.startswith("---\ntitle: 'Setting up: \"venv\", pip & yes'\nslug: setting-up\n"
                             "minutes: 12\n---\n")
    assert lesson.endswith("---\n" + INTRO)
    quiz = json.loads(files["quizzes/check-basics.json"])
    assert (quiz["key"], quiz["pass_percent"], quiz["max_attempts"]) == ("check-basics", 60, 3)
    assert (quiz["mode"], quiz["feedback"], quiz["scoring"]) == (
        "graded", "after_last_attempt", "proportional")
    numeric = [q for q in quiz["questions"] if q["kind"] == "numeric"]
    assert [(q["answer"], q["tolerance"]) for q in numeric] == [("2.5", "0.05"), ("100", "0")]
    true_false = next(q for q in quiz["questions"] if q["kind"] == "true_false")
    assert true_false["answer"] is False
    short = next(q for q in quiz["questions"] if q["kind"] == "short_text")
    assert short["accepted"] == ["Median value", "median", "the median"]
    ordering = next(q for q in quiz["questions"] if q["kind"] == "ordering")
    assert ordering["order"] == ["install", "import", "run"]
    final = json.loads(files["quizzes/final.json"])
    assert (final["max_attempts"], final["mode"], final["feedback"], final["scoring"]) == (
        None, "practice", "after_submit", "all_or_nothing")
    # The same content is the same bytes.
    assert export_course(course) == data


def test_a_module_with_several_quizzes_lists_them_all(editor):
    course = make_rich_course(editor)
    module = course.modules[2]
    create_quiz(editor, module, key="extra-one", title="One", questions=all_kinds_questions())
    create_quiz(editor, module, key="extra-two", title="Two", questions=all_kinds_questions())
    db.session.commit()
    data = export_course(course)
    manifest = json.loads(members(data)["course.json"])
    assert manifest["modules"][2]["quizzes"] == ["quizzes/extra-one.json",
                                                 "quizzes/extra-two.json"]
    assert [q.key for q in read_package(data).modules[2].quizzes] == ["extra-one", "extra-two"]


@pytest.mark.parametrize("title", [
    TRICKY_TITLE, "yes", "123", "- a list?", "# not a comment", "Ünïcödé ✓ «quotes»",
    "---", "a: b\n---\nslug: evil", "null", "[1, 2]",
])
def test_front_matter_round_trips_any_title(title):
    lesson = SimpleNamespace(title=title, slug="the-slug", estimated_minutes=4,
                             source="---\nA source that starts like front matter.\n---\n")
    parsed = packages.parse_lesson_file("lessons/01-the-slug.md",
                                        packages.lesson_file_text(lesson))
    assert (parsed.title, parsed.slug, parsed.minutes, parsed.source) == (
        title.strip(), "the-slug", 4, lesson.source)


# --- round trip ------------------------------------------------------------------------------


def test_round_trip_renders_identically(editor):
    course = make_rich_course(editor)
    first = export_course(course)
    package = read_package(first)
    imported = packages.import_new(editor, package)
    db.session.commit()
    assert imported.id != course.id and imported.status == "draft"
    assert imported.owner_id == editor.id
    assert imported.slug == f"{course.slug}-2"

    original, copy = snapshot(course.id), snapshot(imported.id)
    assert copy == original
    # Spot checks that the comparison covers what matters.
    sections = [s for m in copy["modules"] for lesson in m[2] for s in lesson[5]]
    html = "".join(s[3] for s in sections)
    assert 'class="highlight"' in html and '<table tabindex="0">' in html
    assert 'class="callout' in html
    assert "footnote" in html
    quiz = copy["modules"][0][3][0]
    assert quiz[5:8] == ("graded", "after_last_attempt", "proportional")
    assert copy["modules"][1][3][0][5] == "practice"
    assert {q[1] for q in quiz[8]} == {"single", "multiple", "true_false", "short_text",
                                        "numeric", "ordering"}
    assert [(q[5], q[6]) for q in quiz[8] if q[1] == "numeric"] == [
        (Decimal("2.5"), Decimal("0.05")), (Decimal("100"), Decimal(0))]

    db.session.expire_all()
    second = members(export_course(db.session.get(Course, imported.id)))
    first_files = members(first)
    assert list(second) == list(first_files)
    for name, content in first_files.items():
        if name == "course.json":
            a, b = json.loads(content), json.loads(second[name])
            assert b.pop("slug") == imported.slug and a.pop("slug") == course.slug
            assert a == b
        else:
            assert second[name] == content, name


def test_import_new_records_revisions_and_an_audit_row(editor):
    course = make_rich_course(editor)
    imported = packages.import_new(editor, read_package(export_course(course)))
    db.session.commit()
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "course.import"))
    assert audit.actor_id == editor.id and audit.target_id == imported.id
    assert audit.delta["lessons"] == [None, 3] and audit.delta["quizzes"] == [None, 2]
    revision = db.session.scalar(select(CourseRevision)
                                 .where(CourseRevision.course_id == imported.id))
    assert (revision.kind, revision.version) == ("import", 1)
    lesson_revisions = db.session.scalar(
        select(func.count()).select_from(LessonRevision).join(Lesson)
        .where(Lesson.course_id == imported.id))
    assert lesson_revisions == 3


def test_import_uses_the_manifest_slug_when_it_is_free(editor):
    imported = packages.import_new(editor, read_package(build_zip(package_files())))
    db.session.commit()
    assert imported.slug == "tiny"
    again = packages.import_new(editor, read_package(build_zip(package_files())))
    third = packages.import_new(editor, read_package(build_zip(package_files())))
    assert (again.slug, third.slug) == ("tiny-2", "tiny-3")


def test_only_editors_import(app_ctx):
    learner = make_user(role="learner")
    package = read_package(build_zip(package_files()))
    with pytest.raises(PermissionDenied):
        packages.import_new(learner, package)


# --- reading: the zip container ---------------------------------------------------------


def _symlink(name: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, b"/etc/passwd"


def _raw_name(name: str) -> tuple[zipfile.ZipInfo, bytes]:
    return zipfile.ZipInfo(name), b"x"


@pytest.mark.parametrize(("entry", "says"), [
    (_raw_name("/etc/cron.d/evil"), "absolute paths are not allowed"),
    (_raw_name("../evil.md"), "'..' is not allowed"),
    (_raw_name("lessons/../../evil.md"), "'..' is not allowed"),
    (_raw_name("lessons\\..\\evil.md"), "backslashes are not allowed"),
    (_raw_name("C:/Windows/evil.md"), "absolute paths are not allowed"),
    (_symlink("lessons/link.md"), "symbolic links are not allowed"),
    (_raw_name("notes.txt"), "not part of a course package"),
    (_raw_name("lessons/deeper/two.md"), "not part of a course package"),
    (_raw_name("quizzes/q.yaml"), "not part of a course package"),
    (_raw_name("images/"), "not part of a course package"),
])
def test_unsafe_or_unexpected_member_names_are_rejected(app_ctx, entry, says):
    problems = problems_of(build_zip(package_files(), infos=(entry,)))
    assert any(says in p for p in problems), problems
    assert db.session.scalar(select(func.count(Course.id))) == 0


def test_nul_in_a_member_name(app_ctx):
    # zipfile cuts names at NUL when writing, so put the NUL into the bytes afterwards.
    data = build_zip(package_files(), infos=(_raw_name("lessons/evil.md#.txt"),))
    data = data.replace(b"lessons/evil.md#.txt", b"lessons/evil.md\x00.txt")
    assert problems_of(data) == [
        "lessons/evil.md\\x00.txt: file names must not contain NUL characters."]


def test_directory_entries_for_the_package_folders_are_fine(app_ctx):
    infos = (_raw_name("lessons/"), _raw_name("quizzes/"))
    assert read_package(build_zip(package_files(), infos=infos)).title == "Tiny"


def test_too_many_members(app_ctx):
    files = package_files()
    files.update({f"lessons/{n:03d}-x.md": "---\ntitle: X\nslug: x\n---\n"
                  for n in range(archive.MAX_MEMBERS)})
    assert problems_of(build_zip(files)) == [
        f"The package has {len(files)} files; the limit is {archive.MAX_MEMBERS}."]


def test_oversized_lesson_and_json_members(app_ctx):
    big_lesson = "---\ntitle: Big\nslug: big\n---\n" + _random_text(archive.MAX_LESSON_BYTES)
    files = package_files(**{"lessons__01-one_dot_md": big_lesson})
    files["quizzes/q.json"] = json.dumps({"pad": _random_text(archive.MAX_JSON_BYTES)})
    problems = problems_of(build_zip(files))
    assert any(p.startswith("lessons/01-one.md:") and "the limit is" in p for p in problems)
    assert any(p.startswith("quizzes/q.json:") and "the limit is" in p for p in problems)


def test_a_lesson_over_the_source_limit_is_a_problem(app_ctx):
    lesson = "---\ntitle: Big\nslug: one\n---\n" + _random_text(
        authoring.MAX_SOURCE_BYTES + 100)
    problems = problems_of(build_zip(package_files(**{"lessons__01-one_dot_md": lesson})))
    assert any(p.startswith("lessons/01-one.md: The lesson text is") for p in problems)


def test_total_uncompressed_size_is_limited(app_ctx, monkeypatch):
    monkeypatch.setattr(archive, "MAX_TOTAL_BYTES", 300)
    problems = problems_of(build_zip(package_files()))
    assert problems == ["The package unpacks to more than 300 bytes; that is the limit."]


def _patch_sizes(data: bytes, name: str, *, size: int | None = None,
                 flags: int | None = None) -> bytes:
    """Rewrite the local and central headers of ``name``: what a hostile zip can claim."""
    raw = bytearray(data)
    encoded = name.encode()
    pos = 0
    while (pos := raw.find(b"PK\x03\x04", pos)) != -1:
        length = struct.unpack_from("<H", raw, pos + 26)[0]
        if bytes(raw[pos + 30:pos + 30 + length]) == encoded:
            if size is not None:
                struct.pack_into("<I", raw, pos + 22, size)
            if flags is not None:
                struct.pack_into("<H", raw, pos + 6, flags)
        pos += 4
    pos = 0
    while (pos := raw.find(b"PK\x01\x02", pos)) != -1:
        length = struct.unpack_from("<H", raw, pos + 28)[0]
        if bytes(raw[pos + 46:pos + 46 + length]) == encoded:
            if size is not None:
                struct.pack_into("<I", raw, pos + 24, size)
            if flags is not None:
                struct.pack_into("<H", raw, pos + 8, flags)
        pos += 4
    return bytes(raw)


def test_header_sizes_are_not_trusted(app_ctx):
    lesson = "---\ntitle: Big\nslug: one\n---\n" + _random_text(archive.MAX_LESSON_BYTES * 2)
    data = build_zip(package_files(**{"lessons__01-one_dot_md": lesson}))
    # The header claims 100 bytes; the member really holds far more than the limit.
    lying = _patch_sizes(data, "lessons/01-one.md", size=100)
    problems = problems_of(lying)
    assert any(p.startswith("lessons/01-one.md:") for p in problems), problems


def test_members_are_read_with_a_bounded_read(app_ctx, monkeypatch):
    """Whatever the header says, at most limit + 1 bytes are asked for."""
    monkeypatch.setattr(archive, "MAX_LESSON_BYTES", 1000)
    reads: list[int] = []
    original = zipfile.ZipExtFile.read

    def spy(self, n=-1):
        reads.append(n)
        return original(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy)
    read_package(build_zip(package_files()))
    assert sorted(reads) == [1001, archive.MAX_JSON_BYTES + 1, archive.MAX_JSON_BYTES + 1]


def test_zip_bombs_are_rejected_by_compression_ratio(app_ctx):
    bomb = "---\ntitle: Bomb\nslug: one\n---\n" + "a" * 150_000
    problems = problems_of(build_zip(package_files(**{"lessons__01-one_dot_md": bomb})))
    assert any(p == "lessons/01-one.md: compressed more than 100:1 (a zip bomb?)."
               for p in problems), problems


def test_small_members_may_compress_well(app_ctx):
    lesson = "---\ntitle: One\nslug: one\n---\n" + "a" * 900
    assert read_package(build_zip(package_files(**{"lessons__01-one_dot_md": lesson})))


@pytest.mark.parametrize(("data", "says"), [
    (b"", "This is not a zip file, or it is damaged."),
    (b"PK\x03\x04 definitely not a zip", "This is not a zip file, or it is damaged."),
    (b"plain text", "This is not a zip file, or it is damaged."),
])
def test_not_a_zip(app_ctx, data, says):
    assert problems_of(data) == [says]


def test_a_truncated_zip(app_ctx):
    data = build_zip(package_files())
    assert problems_of(data[: len(data) // 2]) == ["This is not a zip file, or it is damaged."]


def test_a_corrupt_member(app_ctx):
    data = bytearray(build_zip(package_files(), compression=zipfile.ZIP_STORED))
    at = data.find(b"Hello.")
    data[at:at + 6] = b"Jello!"
    problems = problems_of(bytes(data))
    assert "lessons/01-one.md: damaged (it could not be decompressed)." in problems


def test_an_encrypted_member(app_ctx):
    data = _patch_sizes(build_zip(package_files()), "quizzes/q.json", flags=0x1)
    assert "quizzes/q.json: encrypted files are not supported." in problems_of(data)


def test_duplicate_names(app_ctx):
    data = build_zip(package_files(), infos=((zipfile.ZipInfo("quizzes/q.json"), b"{}"),))
    assert "quizzes/q.json: the package holds this name twice." in problems_of(data)


def test_non_utf8_members(app_ctx):
    files = package_files(**{"lessons__01-one_dot_md": b"---\ntitle: \xff\n---\n"})
    assert "lessons/01-one.md: not valid UTF-8 text." in problems_of(build_zip(files))


# --- reading: the content ---------------------------------------------------------------


def test_every_problem_is_reported_at_once(app_ctx):
    manifest = {
        "format": "tangent-course", "format_version": 1, "title": "", "slug": "Not A Slug",
        "summary": "", "level": "expert", "tags": ["x"] * 2,
        "modules": [
            {"title": "One", "lessons": ["lessons/01-one.md", "lessons/02-missing.md"],
             "quiz": "quizzes/q.json"},
            {"title": "Two", "lessons": ["lessons/01-one.md", "lessons/03-bad.md"],
             "quiz": "quizzes/broken.json", "colour": "blue"},
            {"title": "Three", "lessons": ["lessons/04-dup.md"], "quiz": None},
        ],
    }
    quiz = {"key": "q", "title": "Q", "questions": [
        {"kind": "essay", "prompt": "?", "explanation": "."},
        {"kind": "numeric", "prompt": "N?", "explanation": ".", "answer": "fifty"},
        {"kind": "single", "prompt": "S?", "explanation": ".",
         "choices": [{"text": "a"}, {"text": "b"}]},
    ]}
    files = package_files(**{
        "course_dot_json": json.dumps(manifest),
        "quizzes__q_dot_json": json.dumps(quiz),
        "quizzes__broken_dot_json": "{not json",
        "lessons__03-bad_dot_md": "no front matter here",
        "lessons__04-dup_dot_md": "---\ntitle: Dup\nslug: one\n---\nSame slug as one.\n",
        "lessons__05-stray_dot_md": "---\ntitle: Stray\nslug: stray\n---\n",
    })
    problems = problems_of(build_zip(files))
    assert problems == [
        "course.json: level must be one of beginner, intermediate, advanced.",
        "course.json: title must be a non-empty string.",
        "course.json: slug: 'Not A Slug' is not a slug (lower-case words joined by hyphens, "
        "at most 80 characters).",
        "course.json: tag 'x' is listed twice.",
        "course.json: modules[1]: lessons/02-missing.md is listed but not in the package.",
        "quizzes/q.json: quiz.questions[1]: kind must be one of single, multiple, true_false, "
        "short_text, numeric, ordering.",
        "quizzes/q.json: quiz.questions[2]: answer must be a number.",
        "quizzes/q.json: quiz.questions[3]: A single-choice question needs at least two "
        "choices and exactly one correct choice.",
        "course.json: modules[2]: unknown key(s) colour.",
        "course.json: modules[2]: lessons/01-one.md is listed more than once.",
        "lessons/03-bad.md: must start with front matter (a line '---', then title, slug and "
        "minutes, then '---').",
        "quizzes/broken.json: not valid JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)).",
        "lessons/05-stray.md: in the package but not listed in course.json.",
        "Lesson slug 'one' is used by two lessons.",
    ]


def test_module_errors_do_not_hide_the_others(app_ctx):
    manifest = json.loads(package_files()["course.json"])
    manifest["modules"][0]["colour"] = "blue"
    manifest["modules"].append({"title": "", "lessons": ["lessons/02-missing.md"]})
    problems = problems_of(build_zip(package_files(**{"course_dot_json": json.dumps(manifest)})))
    assert problems == [
        "course.json: modules[1]: unknown key(s) colour.",
        "course.json: modules[2]: title must be a non-empty string.",
        "course.json: modules[2]: lessons/02-missing.md is listed but not in the package.",
    ]


@pytest.mark.parametrize(("overrides", "says"), [
    ({"course_dot_json": None}, "course.json: missing"),
    ({"course_dot_json": "[1, 2"}, "course.json: not valid JSON"),
    ({"course_dot_json": "[]"}, "course.json: expected a table."),
    ({"quizzes__q_dot_json": '{"key": "q", "title": "Q", "questions": [{"kind": "numeric", '
      '"prompt": "N", "explanation": "E", "answer": NaN}]}'}, "quizzes/q.json: not valid JSON"),
    ({"quizzes__q_dot_json": '{"key": "q", "title": "Q", "questions": [{"kind": "numeric", '
      '"prompt": "N", "explanation": "E", "answer": "1.0000001"}]}'},
     "at most 6 decimal places"),
    ({"quizzes__q_dot_json": '{"key": "q", "title": "Q", "questions": [{"kind": "single", '
      '"prompt": "S", "explanation": "E", "choices": [{"text": "a", "correct": true}, '
      '{"text": " A "}]}]}'}, "Choices 1 and 2 are the same"),
    ({"quizzes__q_dot_json": '{"key": "q", "title": "Q", "max_attempts": 101, "questions": []}'},
     "max_attempts must be a whole number from 1 to 100"),
    ({"lessons__01-one_dot_md": "---\ntitle: [unclosed\n---\nx"}, "front matter is not valid YAML"),
    ({"lessons__01-one_dot_md": "---\ntitle: One\nslug: one\n"}, "no closing '---' line"),
    ({"lessons__01-one_dot_md": "---\ntitle: One\n---\nx"}, "missing key(s) slug"),
    ({"lessons__01-one_dot_md": "---\ntitle: 12\nslug: one\n---\nx"},
     "title must be a non-empty string"),
    ({"lessons__01-one_dot_md": "---\ntitle: One\nslug: one\nminutes: 0\n---\nx"},
     "minutes must be a whole number from 1 to 600"),
    ({"lessons__01-one_dot_md": "---\ntitle: One\nslug: one\n---\nNUL \x00 here"},
     "contains a NUL character"),
    ({"lessons__01-one_dot_md": "---\n- a\n- b\n---\nx"}, "expected a table"),
    ({"lessons__01-one_dot_md": "---\n" + _random_text(5000) + "\n---\n"},
     "no closing '---' line within"),
])
def test_content_problems(app_ctx, overrides, says):
    problems = problems_of(build_zip(package_files(**overrides)))
    assert any(says in p for p in problems), problems


def test_deeply_nested_json(app_ctx):
    files = package_files(**{"course_dot_json": "[" * 100_000 + "]" * 100_000})
    problems = problems_of(build_zip(files, compression=zipfile.ZIP_STORED))
    assert problems == ["course.json: not valid JSON (maximum recursion depth exceeded while "
                        "decoding a JSON array from a unicode string)."]


@pytest.mark.parametrize(("change", "says"), [
    ({"format": "something-else"}, "format must be 'tangent-course'"),
    ({"format_version": 2}, "format_version 2 is not one this Tangent reads"),
    ({"format_version": True}, "format_version True is not one"),
    ({"modules": "all of them"}, "modules must be a list"),
    ({"extra": 1}, "unknown key(s) extra"),
    ({"tags": [f"t{n}" for n in range(9)]}, "use at most 8 tags"),
    ({"title": "T" * 161}, "title is 161 characters; the limit is 160"),
    ({"modules": [{"title": "M", "lessons": []}] * 201}, "201 modules; the limit is 200"),
])
def test_manifest_problems(app_ctx, change, says):
    manifest = json.loads(package_files()["course.json"])
    manifest.update(change)
    problems = problems_of(build_zip(package_files(**{"course_dot_json": json.dumps(manifest)})))
    assert any(says in p for p in problems), problems


def test_a_module_names_either_quiz_or_quizzes(app_ctx):
    manifest = json.loads(package_files()["course.json"])
    manifest["modules"][0]["quizzes"] = ["quizzes/q.json"]
    problems = problems_of(build_zip(package_files(**{"course_dot_json": json.dumps(manifest)})))
    assert "course.json: modules[1]: give quiz or quizzes, not both." in problems


def test_windows_line_endings_are_accepted(app_ctx):
    files = package_files(**{"lessons__01-one_dot_md":
                             "---\r\ntitle: One\r\nslug: one\r\n---\r\nHello.\r\n"})
    package = read_package(build_zip(files))
    assert package.lessons[0].source == "Hello.\n"


def test_an_empty_course_round_trips(editor):
    course = authoring.create_course(editor, title="Nothing yet")
    db.session.commit()
    package = read_package(export_course(course))
    assert (package.title, package.modules) == ("Nothing yet", ())


def test_invalid_packages_write_nothing(editor):
    make_rich_course(editor)
    before = counts()
    data = build_zip(package_files(**{"lessons__01-one_dot_md": "nope"}))
    with pytest.raises(PackageInvalid):
        read_package(data)
    assert counts() == before


# --- replacing a draft ---------------------------------------------------------------------


def _edited_package(course: Course) -> bytes:
    """The course's package with: lesson 1 unchanged, lesson 2 edited and moved into a new
    first module, lesson 3 dropped, a new lesson added, quizzes changed."""
    files = members(export_course(course))
    manifest = json.loads(files["course.json"])
    manifest["title"] = "Packages, revised"
    manifest["tags"] = ["Python"]
    manifest["modules"] = [
        {"title": "Start here", "lessons": ["lessons/02-averages.md"], "quiz": None},
        {"title": "Getting started, again",
         "lessons": ["lessons/01-setting-up.md", "lessons/09-new.md"],
         "quiz": "quizzes/fresh.json"},
    ]
    files["course.json"] = json.dumps(manifest).encode()
    files["lessons/02-averages.md"] = files["lessons/02-averages.md"].replace(
        b"## Medians", b"## Medians and modes")
    files["lessons/09-new.md"] = b"---\ntitle: Brand new\nslug: brand-new\n---\nNew text.\n"
    files["quizzes/fresh.json"] = json.dumps({"key": "fresh", "title": "Fresh", "questions": [
        {"kind": "true_false", "prompt": "New?", "explanation": "Yes.", "answer": True}]}
    ).encode()
    for name in ("lessons/03-checking-in.md", "quizzes/check-basics.json", "quizzes/final.json"):
        del files[name]
    return build_zip(files)


def test_replace_draft_keeps_rows_and_progress_where_it_can(editor):
    course = make_rich_course(editor, publish=True)
    learner = make_user(role="learner")
    progress.enroll(learner, course)
    lessons = {lesson.slug: lesson for m in course.modules for lesson in m.lessons}
    kept_section = lessons["setting-up"].sections[1]
    edited_intro = lessons["averages"].sections[0]
    for section in (kept_section, edited_intro, lessons["averages"].sections[1]):
        progress.complete_section(learner, section.id)
    db.session.commit()
    authoring.unpublish(editor, course)
    db.session.commit()
    ids = {slug: lesson.id for slug, lesson in lessons.items()}
    course_version = course.version

    package = read_package(_edited_package(course))
    packages.replace_draft(editor, course, package)
    db.session.commit()

    db.session.expire_all()
    course = db.session.get(Course, course.id)
    assert course.title == "Packages, revised" and [t.name for t in course.tags] == ["Python"]
    assert course.version == course_version + 1
    outline = [(m.position, m.title, [(x.position, x.slug) for x in m.lessons])
               for m in course.modules]
    assert outline == [
        (1, "Start here", [(1, "averages")]),
        (2, "Getting started, again", [(2, "setting-up"), (3, "brand-new")]),
    ]
    now = {x.slug: x for m in course.modules for x in m.lessons}
    assert now["setting-up"].id == ids["setting-up"] and now["averages"].id == ids["averages"]
    # (SQLite may give the new lesson the deleted one's id: compare slugs.)
    assert set(now) == {"averages", "setting-up", "brand-new"}
    assert db.session.scalar(select(func.count(Lesson.id))) == 3
    # Unchanged sections keep their rows, so the learner's progress stays.
    done = set(db.session.scalars(select(SectionProgress.section_id)
                                  .where(SectionProgress.user_id == learner.id)))
    assert kept_section.id in done and edited_intro.id in done
    assert [s.key for s in now["averages"].sections] == ["averages", "medians-and-modes"]
    # The edited lesson has an import revision; the unchanged one was not touched.
    kinds = db.session.scalars(select(LessonRevision.kind)
                               .where(LessonRevision.lesson_id == ids["averages"])
                               .order_by(LessonRevision.version)).all()
    assert kinds == ["create", "import"]
    assert now["setting-up"].version == 1
    assert db.session.scalars(select(Quiz.key).where(Quiz.course_id == course.id)).all() == [
        "fresh"]
    revision = db.session.scalar(select(CourseRevision).where(
        CourseRevision.course_id == course.id).order_by(CourseRevision.version.desc()))
    assert revision.kind == "import"
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"course.import", "course.replace", "lesson.delete", "quiz.delete",
            "lesson.import", "module.rename", "module.delete"} <= actions
    # And the result renders like a fresh import of the same package.
    fresh = packages.import_new(editor, package)
    db.session.commit()
    assert snapshot(fresh.id) == snapshot(course.id)


def test_replace_draft_can_grow_the_outline(editor):
    course = authoring.create_course(editor, title="Small")
    db.session.commit()
    source = make_rich_course(editor, title="Big")
    packages.replace_draft(editor, course, read_package(export_course(source)))
    db.session.commit()
    copy, original = snapshot(course.id), snapshot(source.id)
    assert copy["modules"] == original["modules"]
    assert db.session.get(Course, course.id).slug == "small"


def test_a_published_course_cannot_be_replaced(editor):
    course = make_rich_course(editor, publish=True)
    before = counts()
    with pytest.raises(ValidationFailed, match="unpublish it first"):
        packages.replace_draft(editor, course, read_package(build_zip(package_files())))
    db.session.rollback()
    assert counts() == before


def test_only_the_course_editors_can_replace_it(editor):
    course = make_rich_course(editor)
    other = make_user(role="editor")
    with pytest.raises(PermissionDenied):
        packages.replace_draft(other, course, read_package(build_zip(package_files())))


def test_a_course_with_every_optional_field_empty_exports_and_imports_back(editor):
    """Everything the editor's forms call optional may be empty in a package too."""
    from webapp.services import quiz_authoring

    course = authoring.create_course(editor, title="Bare bones", summary="", tags=())
    module = authoring.add_module(editor, course, "Only module")
    authoring.add_lesson(editor, module, "Only lesson")
    quiz = quiz_authoring.create_quiz_in_module(editor, module, key="", title="Bare quiz",
                                                description="", max_attempts=None)
    quiz_authoring.add_question(editor, quiz, QuestionSpec(
        "true_false", "Is this question bare?", explanation="",
        choices=[("True", True), ("False", False)]))
    db.session.commit()

    imported = packages.import_new(editor, read_package(export_course(course)))
    db.session.commit()
    assert snapshot(imported.id) == snapshot(course.id)


def test_the_demo_courses_export_and_import_back(editor):
    from webapp.services.demo import load_demo_content

    demo = load_demo_content(None)
    db.session.commit()
    assert len(demo) == 3
    for course in demo:
        imported = packages.import_new(editor, read_package(export_course(course)))
        db.session.commit()
        assert snapshot(imported.id) == snapshot(course.id), course.slug


def test_a_package_from_before_quiz_policies_imports_as_graded(editor):
    """Packages exported before quizzes had a policy have no mode, feedback or scoring:
    their quizzes import graded, with feedback after submit and all-or-nothing scoring."""
    quiz_file = json.loads(package_files()["quizzes/q.json"])
    assert not {"mode", "feedback", "scoring", "gradebook_score"} & set(quiz_file)
    imported = packages.import_new(editor, read_package(build_zip(package_files())))
    db.session.commit()
    quiz = db.session.scalars(select(Quiz).where(Quiz.course_id == imported.id)).one()
    assert (quiz.mode, quiz.feedback, quiz.scoring, quiz.gradebook_score) == (
        "graded", "after_submit", "all_or_nothing", "best")


@pytest.mark.parametrize(("policy", "says"), [
    ({"mode": "exam"}, "quizzes/q.json: quiz: mode must be one of practice, graded."),
    ({"scoring": 1},
     "quizzes/q.json: quiz: scoring must be one of all_or_nothing, proportional."),
    ({"feedback": "after_last_attempt"},
     "quizzes/q.json: quiz: Feedback after the last attempt needs a limit on attempts"),
    ({"feedback": "after_last_attempt", "max_attempts": 2, "mode": "practice"},
     "quizzes/q.json: quiz: A practice quiz shows feedback whenever"),
])
def test_a_quiz_policy_that_cannot_work_is_a_problem(app_ctx, policy, says):
    quiz = {**json.loads(package_files()["quizzes/q.json"]), **policy}
    found = problems_of(build_zip(package_files(quizzes__q_dot_json=json.dumps(quiz))))
    assert any(problem.startswith(says) for problem in found), found
