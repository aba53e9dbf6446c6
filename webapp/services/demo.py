"""Demo content: the courses in ``webapp/demo_content`` loaded through the content services.

Each course is a folder (loaded in name order) holding ``course.toml`` and one
Markdown file per lesson::

    title = "…"            slug = "…"            summary = "…"
    level = "beginner"     tags = ["…", "…"]     prerequisites = ["other-course-slug"]

    [[modules]]
    title = "…"
    [[modules.lessons]]     # slug, title, file, optional minutes
    [modules.quiz]          # key, title, optional description, pass_percent, max_attempts,
                            # mode, feedback, scoring
    [[modules.quiz.questions]]

A question has ``kind``, ``prompt``, ``explanation``, optional ``points`` and, by kind:
``choices = [{ text = "…", correct = true }, …]`` (single, multiple),
``answer = true|false`` (true_false), ``accepted = ["…"]`` (short_text),
``answer`` and ``tolerance`` (numeric; numbers or strings) or
``order = ["first", "second", …]`` (ordering, listed in the correct order).

The rules for valid courses, lessons, quizzes and questions live in
``webapp.services.course_format`` (course packages use the same ones). Every
file is read and checked before anything is written; a malformed file raises
``ValidationFailed`` naming it (and every other problem found in the course).
Loading is idempotent: a course whose slug already exists is skipped. The
services flush; the caller commits.

The demo users (``load_demo``) get a fixed password from the caller (the CLI
reads ``$TANGENT_DEMO_PASSWORD``) or generated ones, kept in the instance folder
(``demo-logins.txt``, mode 0600) so that the next run can print them again.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from werkzeug.security import check_password_hash

from webapp.extensions import db
from webapp.models import (
    Answer,
    AnswerChoice,
    Attempt,
    Certificate,
    Course,
    Enrollment,
    Lesson,
    LessonProgress,
    Quiz,
    SectionProgress,
    User,
)
from webapp.models.base import utcnow
from webapp.services import accounts
from webapp.services.course_format import (
    MAX_TITLE,
    Fields,
    LessonSpec,
    Problems,
    QuizSpec,
    read_course_meta,
    read_lesson,
    read_quiz,
)
from webapp.services.courses import (
    add_lesson_unchecked,
    add_module_unchecked,
    create_course_unchecked,
    publish_course,
)
from webapp.services.exceptions import ValidationFailed
from webapp.services.quizzes import create_quiz

DEMO_PACKAGE = "webapp.demo_content"
COURSE_FILE = "course.toml"
_LESSON_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.md$")


@dataclass(frozen=True)
class DemoModule:
    title: str
    lessons: tuple[LessonSpec, ...]
    quiz: QuizSpec | None


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


# --- reading and checking the files (the rules live in course_format) ---------------------


def _lesson(data: Any, where: str, folder: Traversable, label: str) -> LessonSpec:
    fields = Fields(data, where, {"slug", "title", "file"}, {"minutes"})
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
    return read_lesson(fields, source)


def _module(raw_module: Any, where: str, folder: Traversable) -> DemoModule:
    module = Fields(raw_module, where, {"title", "lessons"}, {"quiz"})
    problems = Problems()
    title = problems.attempt(module.text, "title", max_length=MAX_TITLE)
    lessons = [
        problems.attempt(_lesson, raw, f"{where}.lessons[{n}]", folder, folder.name)
        for n, raw in enumerate(problems.attempt(module.tables, "lessons") or [], start=1)
    ]
    quiz = problems.attempt(read_quiz, raw_module["quiz"], f"{where}.quiz") \
        if "quiz" in raw_module else None
    problems.raise_any()
    return DemoModule(title=title or "", lessons=tuple(x for x in lessons if x is not None),
                      quiz=quiz)


def read_course(folder: Traversable) -> DemoCourse:
    """One course folder, fully checked (nothing is written); every problem is reported."""
    label = f"{folder.name}/{COURSE_FILE}"
    path = folder.joinpath(COURSE_FILE)
    if not path.is_file():
        raise ValidationFailed(f"{label}: file not found.")
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationFailed(f"{label}: not valid TOML ({exc}).") from None
    fields = Fields(data, label, {"title", "slug", "summary", "level", "tags", "modules"},
                    {"prerequisites"})
    problems = Problems()
    meta = problems.attempt(read_course_meta, fields)
    modules = [
        problems.attempt(_module, raw, f"{label}: modules[{m}]", folder)
        for m, raw in enumerate(problems.attempt(fields.tables, "modules") or [], start=1)
    ]
    lesson_slugs: set[str] = set()
    quiz_keys: set[str] = set()
    for m, module in enumerate(modules, start=1):
        if module is None:
            continue
        for lesson in module.lessons:
            if lesson.slug in lesson_slugs:
                problems.add(f"{label}: modules[{m}]: lesson slug {lesson.slug!r} is used twice.")
            lesson_slugs.add(lesson.slug)
        if module.quiz is not None:
            if module.quiz.key in quiz_keys:
                problems.add(f"{label}: modules[{m}]: quiz key {module.quiz.key!r} is used "
                             "twice.")
            quiz_keys.add(module.quiz.key)
    prerequisites = problems.attempt(fields.strings, "prerequisites", allow_empty=True) or ()
    if meta is not None and meta.slug in prerequisites:
        problems.add(f"{label}: a course cannot be its own prerequisite.")
    problems.raise_any()
    assert meta is not None  # raise_any() returned, so every part was read
    return DemoCourse(
        folder=folder.name,
        slug=meta.slug,
        title=meta.title,
        summary=meta.summary,
        level=meta.level,
        tags=meta.tags,
        prerequisites=prerequisites,
        modules=tuple(m for m in modules if m is not None),
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
    course = create_course_unchecked(actor, title=data.title, summary=data.summary,
                                     level=data.level, tags=data.tags, slug=data.slug)
    for module_data in data.modules:
        module = add_module_unchecked(actor, course, module_data.title)
        for lesson in module_data.lessons:
            add_lesson_unchecked(actor, module, lesson.title, lesson.source, slug=lesson.slug,
                                 estimated_minutes=lesson.minutes)
        if module_data.quiz is not None:
            quiz = module_data.quiz
            create_quiz(actor, module, key=quiz.key, title=quiz.title,
                        description=quiz.description, questions=quiz.questions,
                        pass_percent=quiz.pass_percent, max_attempts=quiz.max_attempts,
                        mode=quiz.mode, feedback=quiz.feedback, scoring=quiz.scoring)
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


# --- demo users and their logins ----------------------------------------------------------

DEMO_USERS = (
    ("learner@example.com", "learner", "Demo Learner"),
    ("editor@example.com", "editor", "Demo Editor"),
    ("moderator@example.com", "moderator", "Demo Moderator"),
    ("admin@example.com", "admin", "Demo Admin"),
)
# The author of the demo's queue items: an account nobody signs in to (no login shown).
DEMO_NEWCOMER = ("newcomer@example.com", "Nina Newcomer")
DEMO_EDITOR = "editor@example.com"
DEMO_PASSWORD_ENV = "TANGENT_DEMO_PASSWORD"  # noqa: S105 - a variable name
DEMO_LOGINS_FILE = "demo-logins.txt"


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: str
    password: str | None  # None: an existing account that none of the known passwords opens


@dataclass(frozen=True)
class DemoSetup:
    logins: list[DemoLogin]
    # Every generated password the instance folder should keep (empty with a fixed one).
    keep: dict[str, str]


def load_demo(instance_path: Path, fixed_password: str | None = None) -> DemoSetup:
    """Create the demo users and courses that are missing; one login per demo user.

    New accounts get ``fixed_password`` when given, else the password kept in
    ``instance_path`` from an earlier run, else a new random one. For an existing
    account a password is reported only if it really opens it. Flushes only: the
    caller commits, then calls ``keep_demo_logins``.
    """
    saved = read_demo_logins(instance_path)
    logins = []
    for email, role, name in DEMO_USERS:
        user = accounts.find_user_by_email(email)
        if user is None:
            password = fixed_password or saved.get(email) or secrets.token_urlsafe(12)
            demo_user = accounts.create_user(email, password, display_name=name, role=role)
            # example.com receives no mail: demo accounts count as confirmed, so they can
            # enroll under TANGENT_EMAIL_VERIFICATION=required.
            demo_user.email_verified_at = utcnow()
            saved[email] = password
            logins.append(DemoLogin(email, role, password))
            continue
        # The account was made earlier (by another run, another password or by
        # hand): report a password only if it opens the account.
        candidates = [p for p in (fixed_password, saved.get(email)) if p]
        opens = next((p for p in candidates if check_password_hash(user.password_hash, p)), None)
        logins.append(DemoLogin(email, role, opens))
    # Courses are owned by the demo editor; one transaction with the users.
    created = load_demo_content(accounts.find_user_by_email(DEMO_EDITOR))
    first = next((c for c in created if c.slug == DEMO_COMMUNITY_COURSE), None)
    if first is not None:
        seed_community(first)
        seed_moderation(first)
        seed_activity(first)
    return DemoSetup(logins=logins, keep={} if fixed_password else saved)


DEMO_COMMUNITY_COURSE = "practical-python"


def seed_community(course: Course) -> None:
    """A little life in the demo's first course, when it is created: the demo learner is
    enrolled, asks a question that the editor answers and the learner accepts; the editor
    posts an announcement and schedules an office hour; both write in the course channel
    and the general one. Everything goes through the services (so notifications are made
    as for real use) without email."""
    from webapp.services import progress
    from webapp.services.community import announcements, channels, events, qa

    learner = accounts.find_user_by_email("learner@example.com")
    editor = accounts.find_user_by_email(DEMO_EDITOR)
    if learner is None or editor is None or learner.status != "active":
        return
    progress.enroll(learner, course)
    lesson = course.modules[0].lessons[1] if len(course.modules[0].lessons) > 1 \
        else course.modules[0].lessons[0]
    question = qa.ask_question(
        learner, course, lesson_id=lesson.id,
        title="When should I use a tuple instead of a list?",
        body="Both hold several values in order. The lesson says tuples cannot change, "
             "but when does that matter in practice?")
    answer = qa.answer_question(
        editor, question, mail_context=None,
        body="Use a tuple for a fixed group of values that belong together, such as a "
             "point or a row you read from a file:\n\n```python\npoint = (3, 4)\n"
             "x, y = point\n```\n\nUse a list for a collection that grows or changes. "
             "A tuple can also be a dictionary key; a list cannot.")
    qa.accept_answer(learner, answer, mail_context=None)
    announcements.post_announcement(
        editor, course, mail_context=None, title="Welcome to Practical Python",
        body="Ask in the **Questions** tab whenever a lesson leaves you stuck, and say hello "
             "in the course channel. I answer every day.")
    start = (datetime.now() + timedelta(days=7)).replace(hour=17, minute=0, second=0,
                                                         microsecond=0)
    events.create_event(editor, course, events.EventDraft(
        title="Office hour: loops and functions",
        body="Bring the exercise you are stuck on. We go through questions together.",
        starts_local=start, ends_local=start + timedelta(hours=1), time_zone="UTC",
        online_url="https://meet.example.com/practical-python", capacity=20))
    course_channel = channels.get_access(learner, channels.course_slug(course.id))
    channels.post_message(learner, course_channel,
                          "Hello everyone! I am starting the lesson on collections today.")
    channels.post_message(editor, course_channel,
                          "Welcome @Demo Learner: the exercises at the end are worth doing.")
    general = channels.get_access(editor, "general")
    channels.post_message(editor, general,
                          "Welcome to Tangent. This channel is open to everyone on the site.")


def seed_moderation(course: Course) -> None:
    """Something in the moderation queue on first look, made through the services as in
    real use: a newcomer's spam message in the general channel that the demo learner,
    editor and moderator flag (hidden at the default threshold of three flags), and the
    same newcomer's message with a link in the course channel, held for review."""
    from webapp.services import progress
    from webapp.services.community import channels, flags, rules

    email, name = DEMO_NEWCOMER
    newcomer = accounts.find_user_by_email(email)
    if newcomer is None:
        newcomer = accounts.create_user(email, secrets.token_urlsafe(16), display_name=name)
        newcomer.email_verified_at = utcnow()
    if newcomer.status != "active":
        return
    flaggers = [accounts.find_user_by_email(e) for e in
                ("learner@example.com", DEMO_EDITOR, "moderator@example.com")]
    general = channels.get_access(newcomer, "general")
    spam = channels.post_message(
        newcomer, general, "CHEAP ESSAYS!!! Top grades guaranteed, write to essays4u at "
                           "example dot com, only today!!!")
    for flagger in flaggers:
        if flagger is not None and flagger.is_active:
            flags.flag_item(flagger, "message", spam.id, "spam")
    if rules.value("hold_links_from_newcomers"):
        progress.enroll(newcomer, course)
        course_channel = channels.get_access(newcomer, channels.course_slug(course.id))
        channels.post_message(
            newcomer, course_channel,
            "This page helped me with loops: https://example.com/python-loops-explained")


DEMO_CLASS_SIZE = 24
# Not a hash any password matches: the demo class cannot sign in.
NO_PASSWORD = "!"  # noqa: S105
# Per seeded learner: how many of the course's sections they completed (in course order;
# -1 = all, they finished the course). Varied, so the funnel narrows and most stop early.
_DEMO_REACH = (-1, -1, 2, 2, 3, 3, 3, 5, 5, 6, 8, 8, 9, 12, 12, 14, 1, 1, 3, 4, 16, 20, 7, 0)


def seed_activity(course: Course) -> None:
    """A class of learners for the insight pages (a funnel, a hardest question, weekly
    activity) when the demo's first course is created: ``DEMO_CLASS_SIZE`` learners who
    cannot sign in (no usable password) enrolled over the past ten weeks, progress that
    stops at varied sections, and submitted attempts at the first quiz, where one
    question is clearly the hardest (most pick the same wrong choice). Bulk rows, so it
    takes well under a second; run once, with the course."""
    rng = random.Random(15)  # noqa: S311 - the same made-up class every time, not secrets
    now = utcnow()
    lessons = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)
                                 .order_by(Lesson.position)).all()
    sections = [(lesson, section) for lesson in lessons for section in lesson.sections]
    # The first graded quiz (the gradebook shows graded ones), else the first quiz.
    quizzes = db.session.scalars(select(Quiz).where(Quiz.course_id == course.id)
                                 .order_by(Quiz.id)).all()
    quiz = next((q for q in quizzes if q.mode == "graded"), quizzes[0] if quizzes else None)
    users = [User(email=f"class{n:02d}@example.com", display_name=name,
                  role="learner", password_hash=NO_PASSWORD, email_verified_at=now)
             for n, name in enumerate(_demo_names(DEMO_CLASS_SIZE), start=1)]
    db.session.add_all(users)
    db.session.flush()
    enrollments, section_rows, lesson_rows, certificates = [], [], [], []
    for user, reach in zip(users, _DEMO_REACH, strict=False):
        reach = len(sections) if reach < 0 else min(reach, len(sections))
        enrolled = now - timedelta(days=rng.randint(2, 70), hours=rng.randint(0, 23))
        at = enrolled
        done_by_lesson: dict[int, list] = {}
        for lesson, section in sections[:reach]:
            at = min(at + timedelta(hours=rng.randint(2, 60)), now - timedelta(minutes=5))
            section_rows.append({"user_id": user.id, "course_id": course.id,
                                 "section_id": section.id, "lesson_id": lesson.id,
                                 "status": "completed", "completed_at": at, "updated_at": at})
            done_by_lesson.setdefault(lesson.id, []).append(at)
        for lesson in lessons:
            times = done_by_lesson.get(lesson.id)
            if not times:
                continue
            whole = len(times) == len(lesson.sections)
            lesson_rows.append({"user_id": user.id, "course_id": course.id,
                                "lesson_id": lesson.id,
                                "status": "completed" if whole else "in_progress",
                                "completed_at": times[-1] if whole else None,
                                "updated_at": times[-1]})
        finished = reach == len(sections)
        stop = sections[min(reach, len(sections) - 1)]
        enrollments.append({"user_id": user.id, "course_id": course.id, "created_at": enrolled,
                            "last_activity_at": at, "last_lesson_id": stop[0].id,
                            "last_section_id": stop[1].id,
                            "completed_at": at if finished else None})
        if finished:
            certificates.append({"user_id": user.id, "course_id": course.id,
                                 "code": secrets.token_hex(16), "learner_name": user.display_name,
                                 "course_title": course.title, "issued_at": at})
    db.session.execute(insert(Enrollment), enrollments)
    if section_rows:
        db.session.execute(insert(SectionProgress), section_rows)
    if lesson_rows:
        db.session.execute(insert(LessonProgress), lesson_rows)
    if certificates:
        db.session.execute(insert(Certificate), certificates)
    if quiz is not None:
        _seed_attempts(quiz, users, rng, now)
    db.session.flush()


def _demo_names(count: int) -> list[str]:
    first = ("Amara", "Ben", "Chen", "Dalia", "Emil", "Fatima", "Gabe", "Hana", "Ivo", "Jana",
             "Kofi", "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sami",
             "Tara", "Uma", "Viktor", "Wen", "Yara")
    return [f"{first[n % len(first)]} (demo class)" for n in range(count)]


def _seed_attempts(quiz: Quiz, users: list[User], rng: random.Random, now: datetime) -> None:
    """Submitted attempts at ``quiz`` by most of the class: the questions with choices are
    answered right by most, except the one with the most choices, which most get wrong
    (and on the same wrong choice)."""
    questions = [q for q in quiz.questions if q.choices]
    if not questions:
        return
    hardest = max(questions, key=lambda q: (len(q.choices), -q.position))
    max_score = sum(q.points for q in quiz.questions)
    for user in users[: len(users) * 3 // 4]:
        for number in range(1, rng.choice((1, 1, 2)) + 1):
            started = now - timedelta(days=rng.randint(1, 40), minutes=rng.randint(0, 600))
            attempt = Attempt(user_id=user.id, quiz_id=quiz.id, number=number,
                              status="submitted", started_at=started,
                              submitted_at=started + timedelta(seconds=rng.randint(90, 900)),
                              max_score=max_score, score=Decimal(0), passed=False)
            db.session.add(attempt)
            db.session.flush()
            score = 0
            for question in questions:
                right = [c for c in question.choices if c.is_correct]
                wrong = [c for c in question.choices if not c.is_correct]
                chance = 0.2 if question is hardest else 0.8
                correct = rng.random() < chance or not wrong
                chosen = right if correct else [wrong[0] if rng.random() < 0.7 or
                                                question is not hardest else rng.choice(wrong)]
                if question.kind != "multiple":
                    chosen = chosen[:1]
                answer = Answer(attempt_id=attempt.id, question_id=question.id,
                                is_correct=correct,
                                points=Decimal(question.points if correct else 0))
                db.session.add(answer)
                db.session.flush()
                for position, choice in enumerate(chosen):
                    db.session.add(AnswerChoice(answer_id=answer.id, choice_id=choice.id,
                                                position=position))
                score += question.points if correct else 0
            attempt.score = Decimal(score)
            attempt.passed = 100 * score >= quiz.pass_percent * max_score


def read_demo_logins(instance_path: Path) -> dict[str, str]:
    """The demo passwords kept by earlier runs (email → password)."""
    path = instance_path / DEMO_LOGINS_FILE
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return {email: password for email, password in pairs}


def keep_demo_logins(instance_path: Path, setup: DemoSetup) -> None:
    """After the commit: keep generated passwords in the instance folder, readable by the
    owner only (nothing is written when the password was fixed)."""
    if not setup.keep:
        return
    path = instance_path / DEMO_LOGINS_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{email} {password}\n" for email, password in sorted(setup.keep.items()))
    tmp.replace(path)
