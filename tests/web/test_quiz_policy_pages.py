"""The quiz policy over HTTP: no "Check answer" on graded quizzes (and a 403 when asked
anyway), the confirmation before submitting blank questions (without JavaScript), result
pages that hold feedback back when the author says so and offer a retake only when it is
allowed and useful, code in questions shown as code, and the editor's policy settings
and question preview."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests.factories import make_course, make_user
from tests.web.quiz_helpers import build_world, start, submit
from webapp.extensions import db
from webapp.models import Answer, Attempt, Quiz
from webapp.services import quiz_authoring as qa
from webapp.services import quizzes
from webapp.services.quizzes import QuestionSpec


def _page(response) -> str:
    return response.get_data(as_text=True)


def _without(world, data, *kinds):
    """``data`` minus the answers to the questions of ``kinds``."""
    fields = {world.q(kind) for kind in kinds}
    return [(name, value) for name, value in data
            if name not in fields and name.split("-")[0] not in fields]


# --- checking --------------------------------------------------------------------------------


def test_a_graded_quiz_shows_no_check_answer_and_refuses_a_check(app, client, htmx_client,
                                                                  sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    page = _page(client.get(f"/attempts/{attempt_id}"))
    assert "Check answer" not in page and "/check" not in page
    assert "Graded quiz:" in page and "answers are checked when you submit" in page

    single = world.questions["single"]
    data = {"csrf_token": token, "attempt_id": attempt_id,
            world.q("single"): world.choices["single"]["Mercury"]}
    response = client.post(f"/questions/{single}/check", data=data)
    assert response.status_code == 403
    assert "This quiz is graded: your answers are checked when you submit" in _page(response)
    assert "Mercury orbits closest" not in _page(response)

    htmx_token = sign_in(htmx_client, world.email)
    response = htmx_client.post(f"/questions/{single}/check",
                                data={**data, "csrf_token": htmx_token})
    assert response.status_code == 403
    assert "<html" not in _page(response) and "This quiz is graded" in _page(response)
    assert "Mercury orbits closest" not in _page(response)


def test_a_practice_quiz_offers_check_answer(app, client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    page = _page(client.get(f"/attempts/{attempt_id}"))
    assert page.count(">Check answer</button>") == 6
    assert "Practice quiz:" in page


# --- blank questions ---------------------------------------------------------------------------


def test_blank_questions_ask_for_confirmation_keeping_every_answer(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    given = _without(world, world.right(), "multiple", "numeric")
    response = submit(client, attempt_id, token, given)
    assert response.status_code == 200
    page = html.unescape(_page(response))
    assert "You left questions 2 and 5 unanswered." in page
    assert "Which of these are prime numbers?" in page and "What is pi" in page
    assert "Nothing is submitted yet" in page
    # Every answer rides along, to submit anyway or to go back with.
    for name, value in given:
        assert f'name="{name}" value="{value}"' in page
    assert 'name="unanswered" value="submit"' in page
    with app.app_context():
        assert db.session.get(Attempt, attempt_id).status == "in_progress"
        assert db.session.scalar(select(func.count(Answer.id))) == 0

    back = re.search(r'formaction="([^"]+)"', page).group(1)
    assert back == f"/attempts/{attempt_id}#question-{world.questions['multiple']}"
    response = client.post(back.split("#")[0], data=MultiDict(
        [("csrf_token", token), ("attempt_id", attempt_id), ("goto", "2"), *given]))
    assert response.status_code == 200
    form = _page(response)
    assert f'value="{world.choices["single"]["Mercury"]}" checked' in form
    assert 'value="  paris "' in form

    response = submit(client, attempt_id, token, [*given, ("unanswered", "submit")])
    assert response.status_code == 303
    assert response.headers["Location"] == f"/attempts/{attempt_id}/result"
    result = _page(client.get(response.headers["Location"]))
    assert "<strong>66 %</strong>" in result and result.count("<em>no answer</em>") == 2


def test_one_question_mode_goes_back_to_the_first_blank_question(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    given = _without(world, world.right(), "true_false")
    response = client.post(f"/attempts/{attempt_id}/submit?one=1", data=MultiDict(
        [("csrf_token", token), ("attempt_id", attempt_id), ("n", "6"), *given]))
    page = html.unescape(_page(response))
    assert "You left question 3 unanswered." in page
    back = re.search(r'formaction="([^"]+)"', page).group(1)
    assert back == f"/attempts/{attempt_id}?one=1#question-{world.questions['true_false']}"
    response = client.post(back.split("#")[0], data=MultiDict(
        [("csrf_token", token), ("attempt_id", attempt_id), ("n", "3"), ("goto", "3"),
         *given]))
    assert re.findall(r'<fieldset id="question-(\d+)"', _page(response)) == [
        str(world.questions["true_false"])]


def test_a_complete_submission_needs_no_confirmation(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    assert submit(client, attempt_id, token, world.right()).status_code == 303


# --- result pages ------------------------------------------------------------------------------


def test_result_holds_feedback_back_until_the_last_attempt(app, client, sign_in):
    with app.app_context():
        world = build_world(max_attempts=2, feedback="after_last_attempt")
    token = sign_in(client, world.email)
    first = start(client, world, token)
    submit(client, first, token, world.wrong())
    page = _page(client.get(f"/attempts/{first}/result"))
    assert "Not passed" in page and "<strong>0 %</strong>" in page
    assert "The pass mark is 70 %." in page
    assert "Which answers were right, and why, shows after your last attempt (1 attempt left)" \
        in page
    assert "Mercury orbits closest to the Sun." not in page
    assert "<strong>Incorrect</strong>" not in page and "<strong>Correct</strong>" not in page
    assert "You have 1 attempt left" in page and ">Try again</button>" in page

    second = start(client, world, token)
    submit(client, second, token, world.right())
    page = _page(client.get(f"/attempts/{second}/result"))
    assert "You passed" in page
    assert "Mercury orbits closest to the Sun." in page
    assert page.count("<strong>Correct</strong>") == 6
    assert "Try again" not in page
    # The first attempt's page now explains too.
    assert "Mercury orbits closest to the Sun." in _page(client.get(f"/attempts/{first}/result"))


def test_a_passed_attempt_below_full_marks_offers_to_improve(app, client, sign_in):
    with app.app_context():
        world = build_world(max_attempts=3)
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    data = [pair for pair in world.right() if pair[0] != world.q("single")]
    data.append((world.q("single"), str(world.choices["single"]["Venus"])))
    submit(client, attempt_id, token, data)
    page = _page(client.get(f"/attempts/{attempt_id}/result"))
    assert "You passed" in page and "<strong>83 %</strong>" in page
    assert "You have 2 attempts left; your best score is kept." in page
    assert ">Try again to improve your score</button>" in page


def test_partial_credit_shows_on_the_result(app, client, sign_in):
    with app.app_context():
        world = build_world(scoring="proportional")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    data = [pair for pair in world.right() if pair[0] != world.q("multiple")]
    data += [(world.q("multiple"), str(world.choices["multiple"]["2"]))]
    submit(client, attempt_id, token, data)
    page = _page(client.get(f"/attempts/{attempt_id}/result"))
    # 1 of the 2 primes, nothing wrong: half the point.
    assert "(5.5 of 6 points)" in page and "<strong>91 %</strong>" in page
    assert "<strong>Partly right</strong>\n          · 0.5 of 1 point" in page
    intro = _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert "Multiple-choice questions give part of their points" in intro
    # Below full marks, another attempt could raise the kept score: a real retake.
    assert "Retake the quiz" in intro and "You have full marks" not in intro


# --- code in questions -------------------------------------------------------------------------

CODE_PROMPT = "What does `len(items)` return here?\n\n```python\nitems = [1, 2, 3]\n```"
CODE_SPEC = QuestionSpec(
    "single", CODE_PROMPT, explanation="`len` counts the items: <script>alert(1)</script>",
    choices=[("`3`", True), ("`[1, 2, 3]`", False)])


@pytest.fixture
def code_quiz(app):
    """A published course with a one-question quiz whose text holds code; a learner."""
    with app.app_context():
        editor = make_user(role="editor")
        learner = make_user()
        course = make_course(owner=editor, modules=1, lessons=1)
        quiz = quizzes.create_quiz(None, course.modules[0], key="code", title="Code",
                                   questions=[CODE_SPEC], mode="practice")
        from tests.factories import enroll
        enroll(learner, course)
        db.session.commit()
        return quiz.id, quiz.questions[0].id, learner.email, editor.email


def test_code_in_questions_renders_as_code_on_every_learner_page(app, client, htmx_client,
                                                                  sign_in, code_quiz):
    quiz_id, question_id, email, _editor = code_quiz
    token = sign_in(client, email)
    response = client.post(f"/quizzes/{quiz_id}/start", data={"csrf_token": token})
    attempt_id = int(response.headers["Location"].rsplit("/", 1)[1])
    page = _page(client.get(f"/attempts/{attempt_id}"))
    assert "What does <code>len(items)</code> return here?" in page
    assert '<div class="highlight"><pre tabindex="0">' in page and "`" not in page.split("<main")[1]
    assert "> <code>3</code></label>" in page

    with app.app_context():
        choice = db.session.get(Quiz, quiz_id).questions[0].choices[0].id
    htmx_token = sign_in(htmx_client, email)
    feedback = _page(htmx_client.post(f"/questions/{question_id}/check", data={
        "csrf_token": htmx_token, "attempt_id": attempt_id, f"q{question_id}": choice}))
    assert "<code>len</code> counts the items: &lt;script&gt;" in feedback
    assert "<script>" not in feedback

    submit(client, attempt_id, token, [(f"q{question_id}", str(choice))])
    result = _page(client.get(f"/attempts/{attempt_id}/result"))
    assert "What does <code>len(items)</code> return here?" in result
    assert '<span class="result-given"><code>3</code></span>' in result
    assert "<code>len</code> counts the items" in result and "<script>alert" not in result


def test_code_in_questions_renders_as_code_in_the_editor(app, client, htmx_client, sign_in,
                                                         code_quiz):
    quiz_id, question_id, _email, editor_email = code_quiz
    client_token = sign_in(client, editor_email)
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert "What does <code>len(items)</code> return here?" in page
    assert "Correct: <code>3</code> (of 2 choices)" in page
    page = _page(client.get(f"/edit/questions/{question_id}"))
    preview = page.split('id="question-preview"')[1]
    assert "What does <code>len(items)</code> return here?" in preview
    assert "<pre tabindex=\"0\">" in preview and "<code>3</code> <strong" in preview

    token = sign_in(htmx_client, editor_email)
    typed = {"csrf_token": token, "prompt": "Is `x == y` true?", "explanation": "", "points": "1",
             "choice-1": "`yes`", "choice-2": "no", "correct": "1", "preview": "1"}
    response = htmx_client.post(f"/edit/quizzes/{quiz_id}/questions/new?kind=single",
                                data=typed)
    assert response.status_code == 200
    partial = _page(response)
    assert partial.startswith('<section id="question-preview"')
    assert "Is <code>x == y</code> true?" in partial and "<code>yes</code>" in partial
    with app.app_context():
        assert len(db.session.get(Quiz, quiz_id).questions) == 1  # nothing saved

    # Without JavaScript: the whole page, the form as typed, the preview under it.
    typed["csrf_token"] = client_token
    response = client.post(f"/edit/quizzes/{quiz_id}/questions/new?kind=single", data=typed)
    page = _page(response)
    assert response.status_code == 200 and "<html" in page
    assert 'value="`yes`"' in page and "Is <code>x == y</code> true?" in page
    typed["prompt"] = ""
    response = client.post(f"/edit/quizzes/{quiz_id}/questions/new?kind=single", data=typed)
    assert "Cannot preview yet" in _page(response)


# --- the editor's settings -----------------------------------------------------------------------


@pytest.fixture
def editor_quiz(app):
    with app.app_context():
        editor = make_user(role="editor")
        course = make_course(owner=editor, publish=False, modules=1, lessons=1)
        quiz = qa.create_quiz_in_module(editor, course.modules[0], key="", title="Week 1")
        db.session.commit()
        return editor.email, quiz.id


def _settings(client, quiz_id, **fields):
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    fingerprint = re.search(r'name="fingerprint" type="hidden" value="([0-9a-f]+)"', page)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return {"csrf_token": token, "title": "Week 1", "key": "week-1", "description": "",
            "pass_percent": "70", "max_attempts": "", "policy": "graded",
            "scoring": "all_or_nothing", "fingerprint": fingerprint.group(1), **fields}


def test_the_editor_sets_the_policy_and_explains_the_scoring(app, client, sign_in, editor_quiz):
    email, quiz_id = editor_quiz
    sign_in(client, email)
    page = html.unescape(_page(client.get(f"/edit/quizzes/{quiz_id}")))
    assert '<input checked id="policy-0" name="policy" type="radio" value="graded">' in page
    formula = "points × (correct choices ticked − wrong choices ticked) ÷ correct choices"  # noqa: RUF001
    assert formula in page
    response = client.post(f"/edit/quizzes/{quiz_id}", data=_settings(
        client, quiz_id, max_attempts="2", policy="graded_last_attempt", scoring="proportional"))
    assert response.status_code == 303
    with app.app_context():
        quiz = db.session.get(Quiz, quiz_id)
        assert (quiz.mode, quiz.feedback, quiz.scoring, quiz.max_attempts) == (
            "graded", "after_last_attempt", "proportional", 2)
    page = _page(client.get(f"/edit/quizzes/{quiz_id}"))
    assert 'checked id="policy-1" name="policy" type="radio" value="graded_last_attempt"' in page
    assert "graded, feedback after the last attempt" in page and "partial credit" in page

    response = client.post(f"/edit/quizzes/{quiz_id}", data=_settings(client, quiz_id,
                                                                      policy="practice"))
    assert response.status_code == 303
    with app.app_context():
        quiz = db.session.get(Quiz, quiz_id)
        assert (quiz.mode, quiz.feedback) == ("practice", "after_submit")


@pytest.mark.parametrize(("fields", "says"), [
    ({"policy": "graded_last_attempt", "max_attempts": ""}, "needs a limit on attempts"),
    ({"policy": "exam"}, "Not a valid choice"),
    ({"scoring": "9223372036854775808"}, "Not a valid choice"),
])
def test_an_impossible_policy_is_400_next_to_its_field(app, client, sign_in, editor_quiz,
                                                       fields, says):
    email, quiz_id = editor_quiz
    sign_in(client, email)
    response = client.post(f"/edit/quizzes/{quiz_id}", data=_settings(client, quiz_id, **fields))
    assert response.status_code == 400
    page = _page(response)
    field = "scoring" if "scoring" in fields else "policy"
    assert re.search(rf'id="{field}-error" class="field-error">[^<]*{says}', page), page
    with app.app_context():
        assert db.session.get(Quiz, quiz_id).feedback == "after_submit"


def test_a_new_quiz_is_graded_with_feedback_after_submit(app, client, sign_in):
    with app.app_context():
        editor = make_user(role="editor")
        course = make_course(owner=editor, publish=False, modules=1, lessons=1)
        course_id, module_id, email = course.id, course.modules[0].id, editor.email
    token = sign_in(client, email)
    page = _page(client.get(f"/edit/courses/{course_id}/quizzes/new"))
    assert 'checked id="policy-0" name="policy" type="radio" value="graded"' in page
    assert 'checked id="scoring-0" name="scoring" type="radio" value="all_or_nothing"' in page
    response = client.post(f"/edit/courses/{course_id}/quizzes/new", data={
        "csrf_token": token, "module_id": module_id, "title": "Check", "pass_percent": "70",
        "policy": "graded", "scoring": "all_or_nothing"})
    assert response.status_code == 303
    with app.app_context():
        quiz = db.session.scalars(select(Quiz).where(Quiz.course_id == course_id)).one()
        assert (quiz.mode, quiz.feedback, quiz.scoring) == ("graded", "after_submit",
                                                            "all_or_nothing")
