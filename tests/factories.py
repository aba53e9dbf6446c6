"""Test data through the real services (so audit rows and constraints apply)."""

from __future__ import annotations

import itertools

from webapp.extensions import db
from webapp.models import User
from webapp.services import accounts

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_user(
    email: str | None = None,
    *,
    password: str = DEFAULT_PASSWORD,
    role: str = "learner",
    status: str = "active",
    display_name: str | None = None,
) -> User:
    """Create and commit a user; call inside an app context."""
    email = email or f"user{next(_counter)}@example.org"
    user = accounts.create_user(email, password, display_name=display_name, role=role)
    if status != "active":
        accounts.set_status(user, status, actor=None)
    db.session.commit()
    return user


def lesson_source(title: str, sections: int) -> str:
    """Markdown for a lesson: an introduction and ``sections - 1`` headed steps."""
    parts = [f"An introduction to {title.lower()}."]
    for n in range(2, sections + 1):
        parts.append(f"## Step {n}\n\nWhat step {n} of {title.lower()} is about.")
    if sections >= 2:
        parts.append("```python\nprint('hello')\n```")
    return "\n\n".join(parts)


def make_course(
    title: str | None = None,
    *,
    modules: int = 2,
    lessons: int = 2,
    sections: int = 3,
    summary: str = "A course made for tests.",
    level: str = "beginner",
    tags: tuple[str, ...] = (),
    owner: User | None = None,
    publish: bool = True,
    quiz: bool = False,
):
    """Create and commit a course with ``modules`` x ``lessons`` lessons of ``sections``
    sections each, through the real services; published unless told otherwise.

    With ``quiz=True`` every module gets a one-question quiz (see ``make_quiz``).
    """
    from webapp.services import courses

    title = title or f"Course {next(_counter)}"
    course = courses.create_course_unchecked(owner, title=title, summary=summary, level=level,
                                             tags=tags)
    for m in range(1, modules + 1):
        module = courses.add_module_unchecked(owner, course, f"Module {m}")
        for n in range(1, lessons + 1):
            lesson_title = f"Lesson {m}.{n}"
            courses.add_lesson_unchecked(owner, module, lesson_title,
                                         lesson_source(lesson_title, sections))
        if quiz:
            make_quiz(module, commit=False)
    if publish:
        courses.publish_course(owner, course)
    db.session.commit()
    return course


def make_quiz(module, *, key: str | None = None, commit: bool = True, **kwargs):
    """A one-question true/false quiz on ``module`` (answer: True)."""
    from webapp.services.quizzes import QuestionSpec, create_quiz

    key = key or f"quiz-{module.id}"
    quiz = create_quiz(
        None, module, key=key, title=kwargs.pop("title", f"Check: {module.title}"),
        questions=kwargs.pop("questions", [QuestionSpec(
            "true_false", "Tests are useful.", choices=[("True", True), ("False", False)],
        )]),
        **kwargs,
    )
    if commit:
        db.session.commit()
    return quiz


def enroll(user: User, course) -> None:
    """Enroll and commit."""
    from webapp.services import progress

    progress.enroll(user, course)
    db.session.commit()


def make_learner(email: str | None = None, *, enrolled_in=(), **user_kwargs) -> User:
    """A committed user enrolled in each course of ``enrolled_in`` (a course or several)."""
    user = make_user(email, **user_kwargs)
    for course in (enrolled_in,) if not isinstance(enrolled_in, list | tuple) else enrolled_in:
        enroll(user, course)
    return user


BRANCH_TOPIC = "Wild yeast"


def make_branch_course(
    title: str = "Bread",
    *,
    topic: str = BRANCH_TOPIC,
    sections: int = 3,
    owner: User | None = None,
):
    """A committed, published course of one module and one lesson whose text suggests the
    branch ``topic`` (``<Branch topic="…"/>``); the lesson is ``course.modules[0].lessons[0]``."""
    from webapp.services import courses

    course = make_course(title, modules=1, lessons=1, sections=sections, owner=owner)
    lesson = course.modules[0].lessons[0]
    courses.set_lesson_source(None, lesson, lesson.source + f'\n\n<Branch topic="{topic}"/>\n')
    db.session.commit()
    return course


def section_refs(lesson) -> dict:
    """The ids and keys of a lesson's sections, in order: what pages and forms refer to."""
    return {"sections": [s.id for s in lesson.sections], "keys": [s.key for s in lesson.sections]}


class LessonWriter:
    """A text provider standing in for a real AI model (no placeholders): its lesson is
    ``markdown``. Install it with ``use_lesson_writer(monkeypatch)``."""

    def __init__(self, markdown: str) -> None:
        self.markdown = markdown

    def complete_json(self, task, variables, schema):
        from decimal import Decimal

        from webapp.providers.text import Completion, Usage

        return Completion({"markdown": self.markdown}, [
            Usage("openai", "gpt-test", "lesson.v1", 10, 20, Decimal("0.001"), "configured")])


def use_lesson_writer(monkeypatch, markdown: str) -> None:
    """Jobs get a ``LessonWriter`` of ``markdown`` instead of the configured provider."""
    monkeypatch.setattr("webapp.jobs.pipelines.make_text_provider",
                        lambda settings: LessonWriter(markdown))
