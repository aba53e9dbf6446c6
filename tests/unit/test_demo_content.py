"""The demo courses: structure, quizzes that can be passed, idempotent loading, strict files."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from importlib.resources import as_file, files
from pathlib import Path

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
    Lesson,
    Module,
    Question,
    Quiz,
    Section,
)
from webapp.models.quizzes import QUESTION_KINDS
from webapp.services.demo import DEMO_PACKAGE, load_demo_content, read_demo_courses
from webapp.services.exceptions import ValidationFailed
from webapp.services.quizzes import grade_question

COUNTED = (Course, Module, Lesson, Section, Quiz, Question, Choice, AcceptedAnswer)


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m)) or 0
            for m in COUNTED}


def _courses() -> list[Course]:
    return list(db.session.scalars(
        select(Course).order_by(Course.id).options(
            selectinload(Course.modules).selectinload(Module.lessons)
            .selectinload(Lesson.sections),
            selectinload(Course.prerequisites),
            selectinload(Course.tags),
        )
    ))


def _questions() -> list[Question]:
    return list(db.session.scalars(
        select(Question).options(selectinload(Question.choices),
                                 selectinload(Question.accepted_answers))
    ))


@pytest.fixture
def loaded(app_ctx):
    admin = make_user("content@example.org", role="admin")
    created = load_demo_content(admin)
    db.session.commit()
    return admin, created


def test_loads_at_least_three_published_courses_with_modules_lessons_and_quizzes(loaded):
    admin, created = loaded
    courses = _courses()
    assert len(courses) >= 3
    assert [c.id for c in created] == [c.id for c in courses]
    quiz_modules = set(db.session.scalars(select(Quiz.module_id)))
    for course in courses:
        assert course.status == "published" and course.published_at is not None
        assert course.owner_id == admin.id
        assert course.summary and 2 <= len(course.tags) <= 4
        assert course.estimated_minutes > 0
        assert len(course.modules) >= 2
        for module in course.modules:
            assert len(module.lessons) >= 2
            assert module.id in quiz_modules, f"{course.slug}: {module.title} has no quiz"
            for lesson in module.lessons:
                assert len(lesson.sections) >= 3, lesson.slug
                assert lesson.estimated_minutes >= 1
    # Course-wide lesson positions follow module order with no gaps.
    for course in courses:
        positions = [lesson.position for m in course.modules for lesson in m.lessons]
        assert positions == list(range(1, len(positions) + 1))


def test_catalog_lists_the_courses_in_folder_order(loaded):
    from webapp.services.courses import CatalogFilter, list_catalog

    page = list_catalog(CatalogFilter())
    assert [c.slug for c in page.courses] == [c.slug for c in read_demo_courses()]


def test_second_course_lists_the_first_as_prerequisite(loaded):
    by_slug = {c.slug: c for c in _courses()}
    assert [p.slug for p in by_slug["everyday-statistics"].prerequisites] == ["practical-python"]


def test_every_question_kind_appears_and_every_question_explains_itself(loaded):
    questions = _questions()
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) == set(QUESTION_KINDS)
    for quiz in db.session.scalars(select(Quiz).options(selectinload(Quiz.questions))):
        assert 3 <= len(quiz.questions) <= 5, quiz.key
    for question in questions:
        assert len(question.explanation) > 40, question.prompt
        if question.kind == "numeric":
            assert question.numeric_answer is not None and question.tolerance >= 0
        if question.kind == "short_text":
            assert question.accepted_answers


def _correct_answer(question: Question) -> list[str]:
    if question.kind in ("single", "true_false", "multiple"):
        return [str(c.id) for c in question.choices if c.is_correct]
    if question.kind == "ordering":
        return [str(c.id) for c in sorted(question.choices, key=lambda c: c.position)]
    if question.kind == "short_text":
        return [f"  {question.accepted_answers[0].text.upper()} "]
    return [str(question.numeric_answer)]


def _wrong_answer(question: Question) -> list[str]:
    if question.kind in ("single", "true_false"):
        return [str(next(c.id for c in question.choices if not c.is_correct))]
    if question.kind == "multiple":
        return [str(c.id) for c in question.choices]  # every box ticked is never right here
    if question.kind == "ordering":
        return [str(c.id) for c in reversed(question.choices)]
    if question.kind == "short_text":
        return ["certainly not this"]
    return [str(question.numeric_answer + question.tolerance + 1)]


def test_every_question_can_be_answered_correctly_and_incorrectly(loaded):
    for question in _questions():
        assert grade_question(question, _correct_answer(question)).correct, question.prompt
        assert not grade_question(question, _wrong_answer(question)).correct, question.prompt


def test_rendered_lessons_are_safe_and_use_code_and_callouts(loaded):
    lessons = db.session.scalars(select(Lesson).options(selectinload(Lesson.sections))).all()
    assert len(lessons) >= 12
    for lesson in lessons:
        html = "".join(section.html for section in lesson.sections)
        assert "<script" not in html.lower(), lesson.slug
        assert 'class="callout' in html, f"{lesson.slug} has no callout"
        assert "lorem" not in lesson.source.lower()
        assert 300 <= len(lesson.source.split()) <= 1000, lesson.slug
    highlighted = [lesson for lesson in lessons
                   if any('class="highlight"' in s.html for s in lesson.sections)]
    assert highlighted
    # Every course has highlighted code somewhere.
    assert {lesson.course_id for lesson in highlighted} == {c.id for c in _courses()}


def test_loading_twice_creates_nothing_new(loaded):
    admin, _created = loaded
    before = _counts()
    audits = db.session.scalar(select(func.count(AuditEvent.id)))
    again = load_demo_content(admin)
    db.session.commit()
    assert again == []
    assert _counts() == before
    assert db.session.scalar(select(func.count(AuditEvent.id))) == audits


def test_an_existing_course_is_skipped_and_the_rest_are_created(app_ctx):
    from webapp.services.courses import create_course_unchecked

    create_course_unchecked(None, title="My own Python course", slug="practical-python")
    db.session.flush()
    created = load_demo_content(None)
    db.session.commit()
    slugs = [c.slug for c in created]
    assert "practical-python" not in slugs and len(slugs) == len(read_demo_courses()) - 1
    mine = db.session.scalar(select(Course).where(Course.slug == "practical-python"))
    assert mine.title == "My own Python course" and mine.status == "draft"
    # The statistics course still links to the existing course of that slug.
    stats = db.session.scalar(select(Course).where(Course.slug == "everyday-statistics"))
    assert [p.id for p in stats.prerequisites] == [mine.id]


# --- strict validation ----------------------------------------------------------------------


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    with as_file(files(DEMO_PACKAGE)) as source:
        shutil.copytree(source, tmp_path / "demo", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "demo"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


STATS = "02-everyday-statistics"
WEB = "03-how-the-web-works"
SAMPLE_SIZE_CHOICES = """choices = [
    { text = "2,000" },
    { text = "3,000" },
    { text = "4,000", correct = true },
    { text = "1,000,000" },
]"""


@pytest.mark.parametrize(
    ("folder", "old", "new", "named", "says"),
    [
        (STATS, 'level = "intermediate"', 'level = "expert"', "course.toml", "level"),
        (STATS, 'title = "Statistics', 'title = "Statistics\n', "course.toml", "TOML"),
        (STATS, 'level = "intermediate"', 'level = "intermediate"\ncolour = "blue"',
         "course.toml", "unknown key(s) colour"),
        (STATS, 'file = "02-spread.md"', 'file = "missing.md"', "missing.md", "not found"),
        (STATS, 'file = "02-spread.md"', 'file = "../02-spread.md"', "course.toml",
         "file must be"),
        (STATS, 'slug = "spread"', 'slug = "averages"', "course.toml", "used twice"),
        (STATS, 'slug = "everyday-statistics"', 'slug = "Everyday Statistics"', "course.toml",
         "not a slug"),
        (STATS, 'kind = "numeric"', 'kind = "essay"', "course.toml", "kind must be one of"),
        (STATS, "answer = 56", 'answer = "fifty-six"', "course.toml", "answer must be a number"),
        (STATS, "answer = false", 'answer = "no"', "course.toml", "true or false"),
        (STATS, 'accepted = ["median", "the median"]', "accepted = []", "course.toml",
         "must not be empty"),
        (STATS, '{ text = "The median price", correct = true }', '{ text = "The median price" }',
         "course.toml", "exactly one correct choice"),
        (STATS, 'prerequisites = ["practical-python"]', 'prerequisites = ["how-the-web-works"]',
         "course.toml", "not a demo course loaded before"),
        (WEB, 'slug = "how-the-web-works"', 'slug = "practical-python"', "course.toml",
         "also used by"),
        (STATS, "max_attempts = 3", "max_attempts = 0", "course.toml",
         "max_attempts must be a whole number"),
        (WEB, "answer = 303", "answer = 303\nchoices = []", "course.toml",
         "unknown key(s) choices"),
        (STATS, 'level = "intermediate"\n', "", "course.toml", "missing key(s) level"),
        (STATS, 'title = "Describing data honestly"', 'title = " "', "course.toml",
         "title must be a non-empty string"),
        (STATS, 'tags = ["Statistics", "Data", "Python"]', 'tags = "Statistics"', "course.toml",
         "tags must be a list of non-empty strings"),
        (STATS, '{ text = "2,000" }', '"2,000"', "course.toml", "expected a table"),
        (STATS, SAMPLE_SIZE_CHOICES, "choices = []", "course.toml",
         "choices must be a non-empty list of tables"),
        (STATS, '{ text = "4,000", correct = true }', '{ text = "4,000", correct = "yes" }',
         "course.toml", "correct must be true or false"),
        (STATS, "answer = 56", "answer = [56]", "course.toml", "answer must be a number"),
        (STATS, "answer = 56", "answer = nan", "course.toml", "answer must be a finite number"),
        (STATS, 'prerequisites = ["practical-python"]', 'prerequisites = ["everyday-statistics"]',
         "course.toml", "its own prerequisite"),
        (WEB, 'key = "response-to-screen"', 'key = "address-bar-to-server"', "course.toml",
         "quiz key 'address-bar-to-server' is used twice"),
    ],
)
def test_malformed_files_raise_validation_failed_naming_the_file(
    app_ctx, demo_copy, folder, old, new, named, says
):
    _edit(demo_copy / folder / "course.toml", old, new)
    with pytest.raises(ValidationFailed) as caught:
        load_demo_content(None, demo_copy)
    assert f"{folder}/{named}" in caught.value.message
    assert says in caught.value.message
    assert db.session.scalar(select(func.count(Course.id))) == 0  # nothing written


def test_lesson_files_must_be_utf8_and_not_empty(app_ctx, demo_copy):
    lesson = demo_copy / WEB / "05-forms.md"
    lesson.write_bytes(b"\xff\xfe not text")
    with pytest.raises(ValidationFailed, match=re.escape(f"{WEB}/05-forms.md: not valid UTF-8")):
        read_demo_courses(demo_copy)
    lesson.write_text("   \n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match=re.escape(f"{WEB}/05-forms.md: the lesson is")):
        read_demo_courses(demo_copy)


def test_a_course_folder_needs_its_course_file(app_ctx, demo_copy):
    (demo_copy / "04-empty").mkdir()
    with pytest.raises(ValidationFailed, match=re.escape("04-empty/course.toml: file not found")):
        read_demo_courses(demo_copy)
