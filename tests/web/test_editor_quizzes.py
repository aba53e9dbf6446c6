"""The quiz editor over HTTP: quizzes per module, a question of every kind through the
forms (then taken and graded by a learner), validation, reordering as a full page and
as an htmx partial, deletion with confirmation, permissions and the audit trail."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests.factories import enroll, make_course, make_quiz, make_user
from tests.web.quiz_helpers import start, submit
from webapp.extensions import db
from webapp.models import (
    Answer,
    AnswerChoice,
    Attempt,
    AuditEvent,
    Choice,
    Course,
    Lesson,
    Question,
    Quiz,
)
from webapp.services import courses
from webapp.services.quizzes import QuestionSpec


def _page(response) -> str:
    return response.get_data(as_text=True)


@dataclass
class Setup:
    editor_email: str
    editor_id: int
    course_id: int
    module_ids: list[int]


@pytest.fixture
def setup(app) -> Setup:
    """An editor's draft course with two modules of one lesson each."""
    with app.app_context():
        editor = make_user(role="editor")
        course = make_course(owner=editor, publish=False, modules=2, lessons=1)
        return Setup(editor.email, editor.id, course.id, [m.id for m in course.modules])


@pytest.fixture
def token(client, setup, sign_in) -> str:
    """The editor is signed in; their CSRF token."""
    return sign_in(client, setup.editor_email)


def _new_quiz(client, setup, token, **fields) -> int:
    data = {"csrf_token": token, "module_id": setup.module_ids[0], "title": "Basics check",
            "key": "", "description": "Six questions.", "pass_percent": "70",
            "max_attempts": "", **fields}
    response = client.post(f"/edit/courses/{setup.course_id}/quizzes/new", data=data)
    assert response.status_code == 303, _page(response)
    match = re.search(r"/edit/quizzes/(\d+)", response.headers["Location"])
    assert match
    return int(match.group(1))


def _choice_rows(choices: list[str], correct: list[int]) -> list[tuple[str, str]]:
    rows = [(f"choice-{n}", text) for n, text in enumerate(choices, start=1)]
    rows += [(f"choice-{n}", "") for n in range(len(choices) + 1, 9)]
    return rows + [("correct", str(n)) for n in correct]


# Form data for one valid question of each kind.
VALID = {
    "single": [("prompt", "Which planet is closest to the Sun?"),
               *_choice_rows(["Venus", "Mercury", "Mars"], [2]),
               ("explanation", "Mercury orbits closest."), ("points", "2")],
    "multiple": [("prompt", "Which of these are prime?"),
                 *_choice_rows(["2", "3", "4", "9"], [1, 2]), ("points", "1")],
    "true_false": [("prompt", "Water boils at 100 °C at sea level."), ("truth", "true"),
                   ("points", "1")],
    "short_text": [("prompt", "What is the capital of France?"),
                   ("accepted", "Paris\n\n  paris \nParis, France"), ("points", "1")],
    "numeric": [("prompt", "What is pi to two decimal places?"), ("numeric_answer", "3.14"),
                ("tolerance", "0.01"), ("points", "1")],
    "ordering": [("prompt", "Order these animals from smallest to largest."),
                 ("items", "Ant\nCat\n\nHorse\nWhale\n"), ("points", "1")],
}


def _add_question(client, quiz_id, token, kind, data=None, **kwargs):
    fields = MultiDict([("csrf_token", token), *(VALID[kind] if data is None else data)])
    return client.post(f"/edit/quizzes/{quiz_id}/questions/new?kind={kind}", data=fields,
                       **kwargs)


def _question_ids(app, quiz_id) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(
            select(Question.id).where(Question.quiz_id == quiz_id).order_by(Question.position)
        ))


def _audit_actions(app, actor_id) -> list[str]:
    """The actor's audit trail of quiz and question writes."""
    with app.app_context():
        return list(db.session.scalars(
            select(AuditEvent.action).where(
                AuditEvent.actor_id == actor_id,
                AuditEvent.action.like("qu%"),
            ).order_by(AuditEvent.id)
        ))


# --- the quizzes page -------------------------------------------------------------------------


def test_quizzes_page_lists_modules_with_a_new_quiz_link_each(app, client, setup, token):
    page = _page(client.get(f"/edit/courses/{setup.course_id}/quizzes"))
    assert page.count("No quiz in this module.") == 2
    for module_id in setup.module_ids:
        assert f"/edit/courses/{setup.course_id}/quizzes/new?module_id={module_id}" in page
    assert 'aria-current="page">Quizzes</a>' in page


def test_quizzes_page_shows_question_and_attempt_counts(app, client, setup, token):
    with app.app_context():
        course = db.session.get(Course, setup.course_id)
        make_quiz(course.modules[1], key="second-check", title="Second check")
    page = _page(client.get(f"/edit/courses/{setup.course_id}/quizzes"))
    assert "Second check" in page
    assert "1 question" in page
    assert '&lt;Quiz id="second-check"/&gt;' in page
    assert page.count("No quiz in this module.") == 1


def test_course_without_modules_has_an_empty_state(app, client, sign_in):
    with app.app_context():
        editor = make_user(role="editor")
        email, course_id = editor.email, make_course(owner=editor, publish=False, modules=0).id
    sign_in(client, email)
    page = _page(client.get(f"/edit/courses/{course_id}/quizzes"))
    assert "has no modules yet" in page
    new = client.get(f"/edit/courses/{course_id}/quizzes/new")
    assert new.status_code == 200
    assert "Add a module" in _page(new)


def test_new_quiz_form_preselects_the_module(app, client, setup, token):
    page = _page(client.get(
        f"/edit/courses/{setup.course_id}/quizzes/new?module_id={setup.module_ids[1]}"))
    assert re.search(rf'<option selected value="{setup.module_ids[1]}">|'
                     rf'<option value="{setup.module_ids[1]}" selected>', page)


# --- a quiz with every kind of question, then a learner takes it ------------------------------


def test_every_kind_through_the_forms_is_stored_and_graded(app, client, setup, token, sign_in):
    quiz_id = _new_quiz(client, setup, token)
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert "No questions yet" in page
    assert '<Quiz id="basics-check"/>' in page

    for kind in VALID:
        response = _add_question(client, quiz_id, token, kind)
        assert response.status_code == 303, _page(response)
        assert re.search(r"/edit/quizzes/\d+#question-\d+$", response.headers["Location"])

    with app.app_context():
        quiz = db.session.get(Quiz, quiz_id)
        assert (quiz.key, quiz.title, quiz.pass_percent, quiz.max_attempts) == (
            "basics-check", "Basics check", 70, None)
        by_kind = {q.kind: q for q in quiz.questions}
        assert [q.kind for q in quiz.questions] == list(VALID)
        assert [q.position for q in quiz.questions] == [1, 2, 3, 4, 5, 6]
        single = by_kind["single"]
        assert [(c.text, c.is_correct) for c in single.choices] == [
            ("Venus", False), ("Mercury", True), ("Mars", False)]
        assert (single.points, single.explanation) == (2, "Mercury orbits closest.")
        assert [c.text for c in by_kind["multiple"].choices if c.is_correct] == ["2", "3"]
        assert [(c.text, c.is_correct) for c in by_kind["true_false"].choices] == [
            ("True", True), ("False", False)]
        assert sorted(a.text for a in by_kind["short_text"].accepted_answers) == [
            "Paris", "Paris, France"]
        numeric = by_kind["numeric"]
        assert (numeric.numeric_answer, numeric.tolerance) == (Decimal("3.14"), Decimal("0.01"))
        assert [(c.position, c.text) for c in by_kind["ordering"].choices] == [
            (1, "Ant"), (2, "Cat"), (3, "Horse"), (4, "Whale")]
        ids = {kind: q.id for kind, q in by_kind.items()}
        choice_ids = {kind: {c.text: c.id for c in q.choices} for kind, q in by_kind.items()}
        course = db.session.get(Course, setup.course_id)
        courses.publish_course(None, course)
        learner = make_user()
        enroll(learner, course)
        learner_email = learner.email

    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert "Correct: Mercury (of 3 choices)" in page
    assert "Order: Ant → Cat → Horse → Whale" in page
    assert "Answer: 3.14 ± 0.01" in page

    learner_client = app.test_client()
    learner_token = sign_in(learner_client, learner_email)
    right = [
        (f"q{ids['single']}", str(choice_ids["single"]["Mercury"])),
        (f"q{ids['multiple']}", str(choice_ids["multiple"]["2"])),
        (f"q{ids['multiple']}", str(choice_ids["multiple"]["3"])),
        (f"q{ids['true_false']}", str(choice_ids["true_false"]["True"])),
        (f"q{ids['short_text']}", "  PARIS "),
        (f"q{ids['numeric']}", "3.145"),
        *[(f"q{ids['ordering']}-{choice_ids['ordering'][name]}", str(position))
          for position, name in enumerate(["Ant", "Cat", "Horse", "Whale"], start=1)],
    ]
    attempt_id = start(learner_client, _World(quiz_id), learner_token)
    assert submit(learner_client, attempt_id, learner_token, right).status_code == 303
    wrong = [
        (f"q{ids['single']}", str(choice_ids["single"]["Venus"])),
        (f"q{ids['multiple']}", str(choice_ids["multiple"]["2"])),
        (f"q{ids['true_false']}", str(choice_ids["true_false"]["False"])),
        (f"q{ids['short_text']}", "Lyon"),
        (f"q{ids['numeric']}", "3.2"),
        *[(f"q{ids['ordering']}-{choice_ids['ordering'][name]}", str(position))
          for position, name in enumerate(["Cat", "Ant", "Horse", "Whale"], start=1)],
    ]
    second = start(learner_client, _World(quiz_id), learner_token)
    assert submit(learner_client, second, learner_token, wrong).status_code == 303
    with app.app_context():
        first_attempt = db.session.get(Attempt, attempt_id)
        assert (first_attempt.score, first_attempt.max_score, first_attempt.passed) == (
            7, 7, True)
        second_attempt = db.session.get(Attempt, second)
        assert (second_attempt.score, second_attempt.passed) == (0, False)

    # The editor now sees that learners took it.
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert "2 submitted attempts" in page and "by 1 learner" in page


@dataclass
class _World:
    """What ``quiz_helpers.start`` needs."""

    quiz_id: int


def test_add_and_write_another_returns_to_an_empty_form(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    data = [*VALID["single"], ("then", "another")]
    response = _add_question(client, quiz_id, token, "single", data)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/edit/quizzes/{quiz_id}/questions/new"
                                                  "?kind=single")
    page = _page(client.get(response.headers["Location"]))
    assert "Question 1 added." in page
    assert "Mercury" not in page


def test_kind_chooser_and_unknown_kind(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    page = _page(client.get(f"/edit/quizzes/{quiz_id}/questions/new"))
    for label in ("Single choice", "Multiple choice", "True or false", "Short text answer",
                  "Number", "Put in order"):
        assert label in page
    response = client.get(f"/edit/quizzes/{quiz_id}/questions/new?kind=essay")
    assert response.status_code == 400
    assert "is not a kind of question" in _page(response)
    form = _page(client.get(f"/edit/quizzes/{quiz_id}/questions/new?kind=single"))
    assert form.count('type="radio" name="correct"') == 8
    assert 'name="choice-8"' in form


# --- validation -------------------------------------------------------------------------------


def _replace(kind: str, **fields) -> list[tuple[str, str]]:
    data = [(k, v) for k, v in VALID[kind] if k not in fields and k != "correct"
            and not k.startswith("choice-")]
    if kind in ("single", "multiple") and "rows" not in fields:
        data += [(k, v) for k, v in VALID[kind] if k == "correct" or k.startswith("choice-")]
    for key, value in fields.items():
        if key == "rows":
            data += value
        elif value is not None:
            data.append((key, value))
    return data


INVALID = [
    ("single", {"rows": _choice_rows(["Venus", "Mercury"], [1, 2])}, "exactly one correct"),
    ("single", {"rows": _choice_rows(["Venus", "Mercury"], [])}, "exactly one correct"),
    ("single", {"rows": _choice_rows(["Mercury"], [1])}, "at least two choices"),
    ("single", {"rows": _choice_rows(["Venus", "", "Mars"], [2])}, "marked correct has no text"),
    ("single", {"rows": _choice_rows(["Venus", "venus "], [1])}, "each choice must differ"),
    ("single", {"rows": _choice_rows(["x" * 501, "Mars"], [2])}, "the limit is 500"),
    ("multiple", {"rows": _choice_rows(["2", "3"], [])}, "at least one correct choice"),
    ("multiple", {"rows": _choice_rows(["2"], [1])}, "at least two choices"),
    ("true_false", {"truth": None}, "Choose whether the statement is true or false."),
    ("true_false", {"truth": "maybe"}, "Choose whether the statement is true or false."),
    ("ordering", {"items": "Ant\n\n"}, "needs two items"),
    ("ordering", {"items": "\n".join(f"Item {n}" for n in range(13))}, "at most 12 items"),
    ("ordering", {"items": "Ant\nant"}, "each item must differ"),
    ("short_text", {"accepted": " \n \n"}, "at least one accepted answer"),
    ("short_text", {"accepted": "y" * 201}, "the limit is 200"),
    ("numeric", {"numeric_answer": "3,5"}, "write decimals with a point"),
    ("numeric", {"numeric_answer": "three"}, "is not a number"),
    ("numeric", {"numeric_answer": ""}, "Give the correct answer as a number."),
    ("numeric", {"numeric_answer": "NaN"}, "must be a finite number"),
    ("numeric", {"numeric_answer": "1e15"}, "smaller than a trillion"),
    ("numeric", {"numeric_answer": "0.1234567"}, "at most 6 decimal places"),
    ("numeric", {"tolerance": "-0.5"}, "cannot be negative"),
    ("numeric", {"tolerance": "0,5"}, "write decimals with a point"),
    ("single", {"prompt": "   "}, "Write the question."),
    ("single", {"prompt": "p" * 2001}, "the limit is 2000"),
    ("single", {"explanation": "e" * 2001}, "the limit is 2000"),
    ("single", {"points": "0"}, "from 1 to 100"),
    ("single", {"points": "lots"}, "Not a valid integer value"),
]


@pytest.mark.parametrize(("kind", "fields", "message"), INVALID,
                         ids=[f"{kind}-{message[:24]}" for kind, _f, message in INVALID])
def test_invalid_question_is_400_with_the_message_and_keeps_the_input(
    app, client, setup, token, kind, fields, message
):
    quiz_id = _new_quiz(client, setup, token)
    response = _add_question(client, quiz_id, token, kind, _replace(kind, **fields))
    assert response.status_code == 400
    page = html.unescape(_page(response))
    assert message in page
    assert 'class="field-error"' in _page(response)
    assert 'aria-invalid="true"' in _page(response)
    typed = fields.get("numeric_answer") or fields.get("tolerance") or "Basics check"
    assert typed in page
    if "prompt" not in fields:
        assert dict(VALID[kind])["prompt"] in page
    assert _question_ids(app, quiz_id) == []


def test_choice_rows_keep_what_was_typed(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    rows = _choice_rows(["Venus", "Mercury", "Mars"], [])
    response = _add_question(client, quiz_id, token, "single", _replace("single", rows=rows))
    page = _page(response)
    assert response.status_code == 400
    for name in ("Venus", "Mercury", "Mars"):
        assert f'value="{name}"' in page
    assert 'aria-describedby="choices-help choices-error"' in page
    assert 'id="choice-1"' in page and "autofocus" in page


def test_missing_csrf_token_is_400(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    data = MultiDict(VALID["single"])
    response = client.post(f"/edit/quizzes/{quiz_id}/questions/new?kind=single", data=data)
    assert response.status_code == 400
    assert _question_ids(app, quiz_id) == []


QUIZ_INVALID = [
    ({"title": ""}, "Give the quiz a title."),
    ({"title": "t" * 161}, "the limit is 160"),
    ({"key": "Week 1 Check"}, "such as “week-1-check”"),
    ({"key": "k" * 81}, "the limit is 80"),
    ({"description": "d" * 501}, "the limit is 500"),
    ({"pass_percent": "101"}, "from 0 to 100"),
    ({"pass_percent": ""}, "Give the pass mark, from 0 to 100."),
    ({"max_attempts": "0"}, "Allow from 1 to 100 attempts"),
    ({"max_attempts": "two"}, "Not a valid integer value"),
]


@pytest.mark.parametrize(("fields", "message"), QUIZ_INVALID,
                         ids=[message[:24] for _f, message in QUIZ_INVALID])
def test_invalid_new_quiz_is_400_with_the_message(app, client, setup, token, fields, message):
    data = {"csrf_token": token, "module_id": setup.module_ids[0], "title": "Basics check",
            "key": "", "description": "", "pass_percent": "70", "max_attempts": "", **fields}
    response = client.post(f"/edit/courses/{setup.course_id}/quizzes/new", data=data)
    assert response.status_code == 400
    assert message in html.unescape(_page(response))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Quiz)) == 0


def test_new_quiz_in_a_module_of_another_course_is_400(app, client, setup, token):
    with app.app_context():
        other = make_course(owner=None, publish=False, modules=1)
        other_module = other.modules[0].id
    response = client.post(f"/edit/courses/{setup.course_id}/quizzes/new", data={
        "csrf_token": token, "module_id": other_module, "title": "Sneaky", "pass_percent": "70",
    })
    assert response.status_code == 400
    assert "Not a valid choice" in _page(response)


def test_quiz_key_is_unique_per_course(app, client, setup, token):
    _new_quiz(client, setup, token, key="check")
    data = {"csrf_token": token, "module_id": setup.module_ids[1], "title": "Other",
            "key": "check", "pass_percent": "50"}
    response = client.post(f"/edit/courses/{setup.course_id}/quizzes/new", data=data)
    assert response.status_code == 400
    assert "already has the id “check”" in html.unescape(_page(response))


# --- quiz settings ----------------------------------------------------------------------------


def _settings(quiz_id, client, **fields) -> dict:
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([0-9a-f]+)"', page)
    assert fingerprint
    return {"title": "Basics check", "key": "basics-check", "description": "Six questions.",
            "pass_percent": "70", "max_attempts": "", "fingerprint": fingerprint.group(1),
            **fields}


def test_settings_save_and_stale_save_is_a_conflict(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    stale = _settings(quiz_id, client, csrf_token=token, title="Renamed", max_attempts="3")
    response = client.post(f"/edit/quizzes/{quiz_id}", data=stale)
    assert response.status_code == 303
    with app.app_context():
        quiz = db.session.get(Quiz, quiz_id)
        assert (quiz.title, quiz.max_attempts) == ("Renamed", 3)

    response = client.post(f"/edit/quizzes/{quiz_id}", data={**stale, "pass_percent": "90"})
    assert response.status_code == 409
    page = _page(response)
    assert "Someone else changed this quiz" in page
    assert 'value="90"' in page
    again = re.search(r'name="fingerprint" type="hidden" value="([0-9a-f]+)"', page)
    assert again and again.group(1) != stale["fingerprint"]
    response = client.post(f"/edit/quizzes/{quiz_id}",
                           data={**stale, "pass_percent": "90", "fingerprint": again.group(1)})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(Quiz, quiz_id).pass_percent == 90


def test_invalid_settings_are_400_and_keep_the_input(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    data = _settings(quiz_id, client, csrf_token=token, title="New title", pass_percent="150")
    response = client.post(f"/edit/quizzes/{quiz_id}", data=data)
    assert response.status_code == 400
    page = _page(response)
    assert "from 0 to 100" in page
    assert 'value="New title"' in page
    with app.app_context():
        assert db.session.get(Quiz, quiz_id).title == "Basics check"


def test_renaming_the_id_of_an_embedded_quiz_is_refused(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    with app.app_context():
        lesson = db.session.scalars(select(Lesson).where(Lesson.course_id == setup.course_id)
                                    .order_by(Lesson.id)).first()
        courses.set_lesson_source(None, lesson, 'Intro.\n\n<Quiz id="basics-check"/>\n')
        db.session.commit()
        lesson_title = lesson.title
    data = _settings(quiz_id, client, csrf_token=token, key="renamed")
    response = client.post(f"/edit/quizzes/{quiz_id}", data=data)
    assert response.status_code == 400
    page = html.unescape(_page(response))
    assert "Lessons embed this quiz" in page and lesson_title in page
    with app.app_context():
        assert db.session.get(Quiz, quiz_id).key == "basics-check"


# --- editing a question -----------------------------------------------------------------------


def test_edit_form_is_prefilled_and_saving_keeps_choice_rows(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    _add_question(client, quiz_id, token, "single")
    (question_id,) = _question_ids(app, quiz_id)
    with app.app_context():
        before = [c.id for c in db.session.get(Question, question_id).choices]
    page = _page(client.get(f"/edit/questions/{question_id}"))
    assert 'value="Mercury"' in page
    assert re.search(r'name="correct" value="2" checked', page)
    assert page.count('name="choice-') == 8
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([0-9a-f]+)"', page)
    data = MultiDict([("csrf_token", token), ("fingerprint", fingerprint.group(1)),
                      ("prompt", "Which planet is hottest?"),
                      *_choice_rows(["Venus", "Mercury"], [1]), ("points", "1")])
    response = client.post(f"/edit/questions/{question_id}", data=data)
    assert response.status_code == 303
    with app.app_context():
        question = db.session.get(Question, question_id)
        assert question.prompt == "Which planet is hottest?"
        assert [(c.id, c.text, c.is_correct) for c in question.choices] == [
            (before[0], "Venus", True), (before[1], "Mercury", False)]

    # The same form again is now stale.
    response = client.post(f"/edit/questions/{question_id}", data=data)
    assert response.status_code == 409
    assert "Someone else changed this question" in _page(response)


def test_edit_numeric_and_short_text_prefill(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    _add_question(client, quiz_id, token, "numeric")
    _add_question(client, quiz_id, token, "short_text")
    numeric_id, short_id = _question_ids(app, quiz_id)
    page = _page(client.get(f"/edit/questions/{numeric_id}"))
    assert 'value="3.14"' in page and 'value="0.01"' in page
    page = _page(client.get(f"/edit/questions/{short_id}"))
    assert "Paris\nParis, France" in page
    data = MultiDict([("csrf_token", token), ("prompt", "Capital of France?"),
                      ("accepted", "paris\nLutetia"), ("points", "1")])
    assert client.post(f"/edit/questions/{short_id}", data=data).status_code == 303
    with app.app_context():
        texts = sorted(a.text for a in db.session.get(Question, short_id).accepted_answers)
        assert texts == ["Lutetia", "paris"]


def test_invalid_edit_is_400_and_changes_nothing(app, client, setup, token):
    quiz_id = _new_quiz(client, setup, token)
    _add_question(client, quiz_id, token, "ordering")
    (question_id,) = _question_ids(app, quiz_id)
    data = MultiDict([("csrf_token", token), ("prompt", "Order them"), ("items", "Only one"),
                      ("points", "1")])
    response = client.post(f"/edit/questions/{question_id}", data=data)
    assert response.status_code == 400
    assert "needs two items" in _page(response)
    assert "Only one" in _page(response)
    with app.app_context():
        assert len(db.session.get(Question, question_id).choices) == 4


# --- reordering -------------------------------------------------------------------------------


@pytest.fixture
def three(app, client, setup, token) -> tuple[int, list[int]]:
    quiz_id = _new_quiz(client, setup, token)
    for kind in ("single", "true_false", "numeric"):
        assert _add_question(client, quiz_id, token, kind).status_code == 303
    return quiz_id, _question_ids(app, quiz_id)


def test_move_without_javascript_redirects_to_the_full_page(app, client, token, three):
    quiz_id, (first, second, third) = three
    response = client.post(f"/edit/questions/{first}/move",
                           data={"csrf_token": token, "direction": "down"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/edit/quizzes/{quiz_id}#question-{first}")
    assert _question_ids(app, quiz_id) == [second, first, third]
    page = _page(client.get(response.headers["Location"]))
    assert page.startswith("<!doctype html>")
    assert "Question moved down, to position 2." in page
    assert page.index(f'id="question-{second}"') < page.index(f'id="question-{first}"')


def test_move_with_htmx_answers_with_the_list_partial(app, client, token, three):
    quiz_id, (first, second, third) = three
    response = client.post(f"/edit/questions/{third}/move", headers={"HX-Request": "true"},
                           data={"csrf_token": token, "direction": "up"})
    assert response.status_code == 200
    assert "HX-Request" in response.headers.get("Vary", "")
    page = _page(response)
    assert page.lstrip().startswith('<div id="quiz-questions"')
    assert "<html" not in page and "<nav" not in page
    assert "Question moved up, to position 2." in page
    assert page.index(f'id="question-{third}"') < page.index(f'id="question-{second}"')
    assert _question_ids(app, quiz_id) == [first, third, second]
    # Keyboard focus stays on the moved question's "up" button.
    focused = re.findall(r'autofocus\s+aria-label="([^"]+)"', page)
    assert focused == ["Move question 2 up"]
    # The full page includes the same partial, and its forms work without JavaScript.
    full = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert '<div id="quiz-questions"' in full
    assert f'action="/edit/questions/{third}/move"' in full
    assert 'hx-target="#quiz-questions"' in full


def test_move_past_either_end_changes_nothing(app, client, token, three):
    quiz_id, ids = three
    response = client.post(f"/edit/questions/{ids[0]}/move",
                           data={"csrf_token": token, "direction": "up"}, follow_redirects=True)
    assert "already first" in _page(response)
    client.post(f"/edit/questions/{ids[2]}/move", data={"csrf_token": token, "direction": "down"})
    assert _question_ids(app, quiz_id) == ids
    bad = client.post(f"/edit/questions/{ids[1]}/move",
                      data={"csrf_token": token, "direction": "sideways"})
    assert bad.status_code == 400
    assert client.post(f"/edit/questions/{ids[1]}/move",
                       data={"direction": "up"}).status_code == 400


# --- deleting ---------------------------------------------------------------------------------


@pytest.fixture
def _learner_answers(make_user, sign_in):
    def _learner_answers_(app, setup, quiz_id) -> str:
        """Publish the course; a learner submits one attempt answering the choice questions.
        Their email."""
        with app.app_context():
            course = db.session.get(Course, setup.course_id)
            courses.publish_course(None, course)
            learner = make_user()
            enroll(learner, course)
            email = learner.email
        learner_client = app.test_client()
        learner_token = sign_in(learner_client, email)
        attempt_id = start(learner_client, _World(quiz_id), learner_token)
        with app.app_context():
            quiz = db.session.get(Quiz, quiz_id)
            answers = [(f"q{q.id}", str(q.choices[0].id)) for q in quiz.questions if q.choices]
        # Questions without choices stay blank, knowingly.
        answers.append(("unanswered", "submit"))
        assert submit(learner_client, attempt_id, learner_token, answers).status_code == 303
        return email

    return _learner_answers_


def test_delete_question_asks_first_and_states_what_is_lost(
    app, client, token, setup, three, _learner_answers
):
    quiz_id, (first, second, third) = three
    _learner_answers(app, setup, quiz_id)
    page = html.unescape(_page(client.get(f"/edit/questions/{second}/delete")))
    assert "Delete question 2?" in page
    assert "1 learner answer to it, from 1 learner" in page
    assert _question_ids(app, quiz_id) == [first, second, third]

    response = client.post(f"/edit/questions/{second}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert _question_ids(app, quiz_id) == [first, third]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Answer)
                                 .where(Answer.question_id == second)) == 0
        positions = db.session.scalars(select(Question.position).where(Question.quiz_id == quiz_id)
                                       .order_by(Question.position)).all()
        assert positions == [1, 2]
        # The learner's score is kept.
        assert db.session.scalar(select(Attempt.score)) is not None


def test_last_question_of_a_published_quiz_stays(app, client, token, setup):
    quiz_id = _new_quiz(client, setup, token)
    _add_question(client, quiz_id, token, "true_false")
    (question_id,) = _question_ids(app, quiz_id)
    with app.app_context():
        courses.publish_course(None, db.session.get(Course, setup.course_id))
        db.session.commit()
    page = _page(client.get(f"/edit/questions/{question_id}/delete"))
    assert "could not pass a quiz without questions" in page
    assert "Delete the question</button>" not in page
    response = client.post(f"/edit/questions/{question_id}/delete", data={"csrf_token": token})
    assert response.status_code == 409
    assert _question_ids(app, quiz_id) == [question_id]


def test_delete_quiz_asks_first_and_deletes_attempts(
    app, client, token, setup, three, _learner_answers
):
    quiz_id, _ids = three
    with app.app_context():
        lesson = db.session.scalars(select(Lesson).where(Lesson.course_id == setup.course_id)
                                    .order_by(Lesson.id)).first()
        courses.set_lesson_source(None, lesson, 'Intro.\n\n<Quiz id="basics-check"/>\n')
        db.session.commit()
        lesson_id = lesson.id
    _learner_answers(app, setup, quiz_id)
    page = html.unescape(_page(client.get(f"/edit/quizzes/{quiz_id}/delete")))
    assert "Delete the quiz “Basics check”?" in page
    assert "3 questions" in page
    assert "1 submitted attempt by 1 learner, with their 3 answers" in page
    assert f"/edit/lessons/{lesson_id}" in page
    with app.app_context():
        assert db.session.get(Quiz, quiz_id) is not None

    response = client.post(f"/edit/quizzes/{quiz_id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/edit/courses/{setup.course_id}/quizzes")
    with app.app_context():
        assert db.session.get(Quiz, quiz_id) is None
        for model in (Question, Choice, Attempt, Answer, AnswerChoice):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0


# --- who may edit -----------------------------------------------------------------------------


def _pages(quiz_id, question_id, course_id) -> list[str]:
    return [f"/edit/courses/{course_id}/quizzes", f"/edit/courses/{course_id}/quizzes/new",
            f"/edit/quizzes/{quiz_id}", f"/edit/quizzes/{quiz_id}/questions/new?kind=single",
            f"/edit/questions/{question_id}", f"/edit/questions/{question_id}/delete",
            f"/edit/quizzes/{quiz_id}/delete"]


@pytest.mark.parametrize("role", ["learner", "editor"])
def test_learners_and_other_editors_get_403(app, client, setup, token, role, sign_in):
    quiz_id = _new_quiz(client, setup, token)
    _add_question(client, quiz_id, token, "single")
    (question_id,) = _question_ids(app, quiz_id)
    with app.app_context():
        outsider = make_user(role=role).email
    other = app.test_client()
    other_token = sign_in(other, outsider)
    for path in _pages(quiz_id, question_id, setup.course_id):
        assert other.get(path).status_code == 403, path
    posts = {
        f"/edit/questions/{question_id}/move": {"direction": "down"},
        f"/edit/questions/{question_id}/delete": {},
        f"/edit/quizzes/{quiz_id}/delete": {},
        f"/edit/quizzes/{quiz_id}": {"title": "Mine now", "pass_percent": "1"},
        f"/edit/quizzes/{quiz_id}/questions/new?kind=true_false": dict(VALID["true_false"]),
    }
    for path, data in posts.items():
        assert other.post(path, data={"csrf_token": other_token, **data}).status_code == 403
    assert _question_ids(app, quiz_id) == [question_id]
    with app.app_context():
        assert db.session.get(Quiz, quiz_id).title == "Basics check"


def test_signed_out_visitors_are_sent_to_sign_in(app, client, setup):
    response = app.test_client().get(f"/edit/courses/{setup.course_id}/quizzes")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]


def test_admin_and_co_editor_may_edit(app, client, setup, token, sign_in):
    quiz_id = _new_quiz(client, setup, token)
    with app.app_context():
        admin = make_user(role="admin").email
    admin_client = app.test_client()
    sign_in(admin_client, admin)
    assert admin_client.get(f"/edit/quizzes/{quiz_id}").status_code == 200


def test_unknown_quiz_and_question_are_404(app, client, token):
    assert client.get("/edit/quizzes/999999").status_code == 404
    assert client.get("/edit/questions/999999").status_code == 404
    assert client.get("/edit/courses/999999/quizzes").status_code == 404


# --- the audit trail --------------------------------------------------------------------------


def test_every_write_is_audited(app, client, setup, token, three):
    quiz_id, (first, second, third) = three
    client.post(f"/edit/questions/{first}/move", data={"csrf_token": token, "direction": "down"})
    data = MultiDict([("csrf_token", token), ("prompt", "Is it true?"), ("truth", "false"),
                      ("points", "1")])
    client.post(f"/edit/questions/{second}", data=data)
    client.post(f"/edit/quizzes/{quiz_id}",
                data=_settings(quiz_id, client, csrf_token=token, title="Renamed"))
    client.post(f"/edit/questions/{third}/delete", data={"csrf_token": token})
    client.post(f"/edit/quizzes/{quiz_id}/delete", data={"csrf_token": token})
    assert _audit_actions(app, setup.editor_id) == [
        "quiz.create", "question.create", "question.create", "question.create",
        "question.move", "question.update", "quiz.update", "question.delete", "quiz.delete",
    ]
    with app.app_context():
        update = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "quiz.update"))
        assert update.target_id == quiz_id
        assert update.delta == {"title": ["Basics check", "Renamed"]}
        changed = db.session.scalar(select(AuditEvent)
                                    .where(AuditEvent.action == "question.update"))
        assert changed.delta["choices"] == [[["True", True], ["False", False]],
                                            [["True", False], ["False", True]]]
        assert changed.request_id


def test_quiz_made_elsewhere_can_be_edited(app, client, setup, token):
    """Quizzes from the demo loader or a package import are edited the same way."""
    with app.app_context():
        course = db.session.get(Course, setup.course_id)
        quiz = make_quiz(course.modules[0], key="imported", questions=[
            QuestionSpec("numeric", "Two plus two?", numeric_answer=Decimal("4")),
        ])
        quiz_id = quiz.id
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert "Answer: 4" in page and "±" not in page
