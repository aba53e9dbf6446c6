"""A published course with one lesson and a quiz of every question kind, built through
the real services, and the form data that answers it right or wrong. Signing in is
the ``sign_in`` fixture (tests/web/conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from tests.factories import make_user
from webapp.extensions import db
from webapp.services import courses, progress, quizzes
from webapp.services.quizzes import QuestionSpec

LESSON_SOURCE = """Why numbers matter.

## Counting

We count things.

## Measuring

We measure things.
"""

ORDER = ["Ant", "Cat", "Horse", "Whale"]


def question_specs() -> list[QuestionSpec]:
    return [
        QuestionSpec("single", "Which planet is closest to the Sun?",
                     explanation="Mercury orbits closest to the Sun.",
                     choices=[("Venus", False), ("Mercury", True), ("Mars", False)]),
        QuestionSpec("multiple", "Which of these are prime numbers?",
                     explanation="2 and 3 are prime; 4 and 9 are not.",
                     choices=[("2", True), ("3", True), ("4", False), ("9", False)]),
        QuestionSpec("true_false", "Water boils at 100 °C at sea level.",
                     explanation="At standard pressure, yes.",
                     choices=[("True", True), ("False", False)]),
        QuestionSpec("short_text", "What is the capital of France?",
                     explanation="Paris has been the capital for centuries.",
                     accepted=["Paris"]),
        QuestionSpec("numeric", "What is pi to two decimal places?",
                     explanation="Pi is about 3.14159.",
                     numeric_answer=Decimal("3.14"), tolerance=Decimal("0.01")),
        QuestionSpec("ordering", "Order these animals from smallest to largest.",
                     explanation="Ant, cat, horse, whale.",
                     choices=[(name, False) for name in ORDER]),
    ]


@dataclass
class World:
    email: str
    user_id: int
    course_id: int
    course_slug: str
    course_title: str
    quiz_id: int
    section_ids: list[int]
    # kind → question id; kind → {choice text → choice id}
    questions: dict[str, int] = field(default_factory=dict)
    choices: dict[str, dict[str, int]] = field(default_factory=dict)

    def q(self, kind: str) -> str:
        return f"q{self.questions[kind]}"

    def right(self) -> list[tuple[str, str]]:
        """Form fields answering every question right (ordering via position selects)."""
        c = self.choices
        data = [
            (self.q("single"), str(c["single"]["Mercury"])),
            (self.q("multiple"), str(c["multiple"]["2"])),
            (self.q("multiple"), str(c["multiple"]["3"])),
            (self.q("true_false"), str(c["true_false"]["True"])),
            (self.q("short_text"), "  paris "),
            (self.q("numeric"), "3,145"),
        ]
        data += [(f"{self.q('ordering')}-{c['ordering'][name]}", str(i))
                 for i, name in enumerate(ORDER, start=1)]
        return data

    def wrong(self) -> list[tuple[str, str]]:
        c = self.choices
        data = [
            (self.q("single"), str(c["single"]["Venus"])),
            (self.q("multiple"), str(c["multiple"]["2"])),
            (self.q("true_false"), str(c["true_false"]["False"])),
            (self.q("short_text"), "Lyon"),
            (self.q("numeric"), "3.2"),
        ]
        order = ["Cat", "Ant", "Horse", "Whale"]
        data += [(f"{self.q('ordering')}-{c['ordering'][name]}", str(order.index(name) + 1))
                 for name in ORDER]
        return data


def build_world(
    *,
    email: str | None = None,
    enroll: bool = True,
    max_attempts: int | None = None,
    pass_percent: int = 70,
    title: str = "Numbers and Words",
    publish: bool = True,
    display_name: str | None = None,
    mode: str = "graded",
    feedback: str = "after_submit",
    scoring: str = "all_or_nothing",
) -> World:
    """Create it all and commit; call inside an app context."""
    user = make_user(email, display_name=display_name)
    course = courses.create_course_unchecked(None, title=title,
                                             summary="Counting, measuring, naming.")
    module = courses.add_module_unchecked(None, course, "Basics")
    lesson = courses.add_lesson_unchecked(None, module, "First steps", LESSON_SOURCE)
    quiz = quizzes.create_quiz(None, module, key="basics", title="Basics check",
                               description="Six questions on the basics.",
                               questions=question_specs(), pass_percent=pass_percent,
                               max_attempts=max_attempts, mode=mode, feedback=feedback,
                               scoring=scoring)
    if publish:
        courses.publish_course(None, course)
    if enroll and publish:
        progress.enroll(user, course)
    db.session.commit()
    world = World(email=user.email, user_id=user.id, course_id=course.id,
                  course_slug=course.slug, course_title=course.title, quiz_id=quiz.id,
                  section_ids=[s.id for s in lesson.sections])
    for question in quiz.questions:
        world.questions[question.kind] = question.id
        world.choices[question.kind] = {c.text: c.id for c in question.choices}
    return world


def start(client: FlaskClient, world: World, token: str, **extra) -> int:
    """Start (or continue) the quiz; returns the attempt id."""
    response = client.post(f"/quizzes/{world.quiz_id}/start",
                           data={"csrf_token": token, **extra})
    assert response.status_code == 303, response.get_data(as_text=True)
    match = re.search(r"/attempts/(\d+)", response.headers["Location"])
    assert match
    return int(match.group(1))


def submit(client: FlaskClient, attempt_id: int, token: str, data: list[tuple[str, str]],
           **kwargs):
    return client.post(f"/attempts/{attempt_id}/submit",
                       data=MultiDict([("csrf_token", token), *data]), **kwargs)
