"""Quiz pages over HTTP: intro, starting, the attempt form in both modes, immediate
feedback (htmx partial and full page), submitting, results, retake rules."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests.web.quiz_helpers import ORDER, build_world, start, submit
from webapp.extensions import db
from webapp.models import Answer, Attempt


def _page(response) -> str:
    return response.get_data(as_text=True)


def _visible_questions(html: str) -> list[str]:
    return re.findall(r'<fieldset id="question-(\d+)"', html)


# --- intro and start -----------------------------------------------------------------------


def test_intro_for_visitors_shows_the_facts_and_asks_to_sign_in(app, client):
    with app.app_context():
        world = build_world(max_attempts=3, pass_percent=80)
    page = _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert "Basics check" in page
    assert "Six questions on the basics." in page
    assert "<dt>Questions</dt><dd>6</dd>" in page
    assert "80 %" in page
    assert "Sign in" in page and "to take this quiz" in page
    assert "Start the quiz" not in page


def test_intro_for_an_enrolled_learner_offers_start(app, client, sign_in):
    with app.app_context():
        world = build_world(max_attempts=2)
    sign_in(client, world.email)
    page = _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert "0 used of 2" in page
    assert "Start the quiz" in page
    assert f'action="/quizzes/{world.quiz_id}/start"' in page


def test_unknown_quiz_and_quiz_of_an_unpublished_course_are_404(app, client):
    with app.app_context():
        world = build_world(publish=False)
    assert client.get("/quizzes/999999").status_code == 404
    assert client.get(f"/quizzes/{world.quiz_id}").status_code == 404


def test_start_requires_sign_in(app, client):
    with app.app_context():
        world = build_world()
    token = client.get("/login")  # any page gives the session a CSRF token
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', _page(token))
    response = client.post(f"/quizzes/{world.quiz_id}/start",
                           data={"csrf_token": match.group(1)})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_not_enrolled_learner_gets_403_with_a_clear_message(app, client, sign_in):
    with app.app_context():
        world = build_world(enroll=False)
    token = sign_in(client, world.email)
    page = _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert "Enroll in" in page and "to take this quiz" in page
    assert "Start the quiz" not in page
    response = client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    assert response.status_code == 403
    assert "Enroll in this course to take its quizzes." in _page(response)
    with app.app_context():
        assert db.session.scalar(select(func.count(Attempt.id))) == 0


def test_start_then_continue_reuses_the_open_attempt(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    first = start(client, world, token)
    assert "Continue your attempt" in _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert start(client, world, token) == first


def test_start_as_htmx_answers_with_hx_redirect(app, htmx_client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(htmx_client, world.email)
    response = htmx_client.post(f"/quizzes/{world.quiz_id}/start",
                                data={"csrf_token": token, "one": "1"})
    assert response.status_code == 204
    assert re.fullmatch(r"/attempts/\d+\?one=1", response.headers["HX-Redirect"])


# --- the attempt form ------------------------------------------------------------------------


def test_attempt_page_shows_every_question_with_the_right_inputs(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    response = client.get(f"/attempts/{attempt_id}")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = _page(response)
    assert len(_visible_questions(page)) == 6
    c = world.choices
    assert f'type="radio" name="{world.q("single")}" value="{c["single"]["Mercury"]}"' in page
    assert f'type="checkbox" name="{world.q("multiple")}" value="{c["multiple"]["3"]}"' in page
    assert f'type="radio" name="{world.q("true_false")}" value="{c["true_false"]["True"]}"' in page
    assert re.search(rf'<input type="text" id="{world.q("short_text")}-input" '
                     rf'name="{world.q("short_text")}"', page)
    assert re.search(rf'inputmode="decimal" id="{world.q("numeric")}-input" '
                     rf'name="{world.q("numeric")}"', page)
    # One select of positions 1..4 per ordering item, not shown in the correct order.
    selects = re.findall(rf'<select id="{world.q("ordering")}-(\d+)"', page)
    assert sorted(map(int, selects)) == sorted(c["ordering"].values())
    assert [int(s) for s in selects] != [c["ordering"][name] for name in ORDER]
    assert page.count('<option value="4">4</option>') == 4
    # No inline script or handlers (strict CSP).
    assert "<script>" not in page and "onclick" not in page


def test_attempt_page_as_partial_is_only_the_form(app, htmx_client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(htmx_client, world.email)
    response = htmx_client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    attempt_id = int(response.headers["HX-Redirect"].rsplit("/", 1)[1])
    response = htmx_client.get(f"/attempts/{attempt_id}")
    assert response.status_code == 200
    page = _page(response)
    assert page.lstrip().startswith('<form id="attempt-form"')
    assert "<html" not in page
    assert "HX-Request" in response.headers["Vary"]


def test_someone_elses_attempt_is_not_found(app, client, sign_in):
    with app.app_context():
        world = build_world()
        other = build_world(title="Another course")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    client.post("/logout", data={"csrf_token": token})
    other_token = sign_in(client, other.email)
    assert client.get(f"/attempts/{attempt_id}").status_code == 404
    assert client.get(f"/attempts/{attempt_id}/result").status_code == 404
    response = submit(client, attempt_id, other_token, world.right())
    assert response.status_code == 404


def test_one_question_at_a_time_keeps_answers_in_the_form(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token, one="1")
    page = _page(client.get(f"/attempts/{attempt_id}?one=1"))
    assert _visible_questions(page) == [str(world.questions["single"])]
    assert "Question 1 of 6" in page
    assert "Next" in page and "Previous" not in page

    mercury = str(world.choices["single"]["Mercury"])
    step2 = client.post(f"/attempts/{attempt_id}?one=1", data=MultiDict([
        ("csrf_token", token), ("attempt_id", attempt_id), ("n", "1"), ("goto", "2"),
        (world.q("single"), mercury),
    ]))
    assert step2.status_code == 200
    page = _page(step2)
    assert _visible_questions(page) == [str(world.questions["multiple"])]
    assert "Question 2 of 6" in page
    # The first answer rides along as a hidden field.
    assert f'<input type="hidden" name="{world.q("single")}" value="{mercury}">' in page

    back = client.post(f"/attempts/{attempt_id}?one=1", data=MultiDict([
        ("csrf_token", token), ("attempt_id", attempt_id), ("n", "2"), ("goto", "1"),
        (world.q("single"), mercury),
    ]))
    page = _page(back)
    assert _visible_questions(page) == [str(world.questions["single"])]
    assert f'value="{mercury}" checked' in page


def test_one_question_navigation_as_htmx_swaps_only_the_form(app, htmx_client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(htmx_client, world.email)
    response = htmx_client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    attempt_id = int(response.headers["HX-Redirect"].rsplit("/", 1)[1])
    response = htmx_client.post(f"/attempts/{attempt_id}?one=1", data=MultiDict([
        ("csrf_token", token), ("attempt_id", attempt_id), ("n", "5"), ("goto", "6"),
        (world.q("short_text"), "Paris"),
    ]))
    page = _page(response)
    assert page.lstrip().startswith('<form id="attempt-form"')
    assert _visible_questions(page) == [str(world.questions["ordering"])]
    assert "Question 6 of 6" in page and "Next" not in page
    assert f'name="{world.q("short_text")}" value="Paris"' in page
    assert "autofocus" in page  # focus moves to the question shown


def test_switching_to_all_questions_keeps_answers(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    response = client.post(f"/attempts/{attempt_id}", data=MultiDict([
        ("csrf_token", token), ("attempt_id", attempt_id), ("n", "4"),
        (world.q("short_text"), "Paris"),
    ]))
    page = _page(response)
    assert len(_visible_questions(page)) == 6
    assert f'name="{world.q("short_text")}" maxlength="200" autocomplete="off"\n' \
           f'         value="Paris"' in page


# --- immediate feedback -------------------------------------------------------------------------


def _check(client, world, attempt_id, token, kind, values):
    data = MultiDict([("csrf_token", token), ("attempt_id", str(attempt_id)), *values])
    return client.post(f"/questions/{world.questions[kind]}/check", data=data)


def test_check_answer_as_partial(app, htmx_client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(htmx_client, world.email)
    response = htmx_client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    attempt_id = int(response.headers["HX-Redirect"].rsplit("/", 1)[1])
    right = _check(htmx_client, world, attempt_id, token, "single",
                   [(world.q("single"), str(world.choices["single"]["Mercury"]))])
    assert right.status_code == 200
    page = _page(right)
    assert page.startswith(f'<div id="feedback-{world.questions["single"]}"')
    assert "feedback-correct" in page and "Correct." in page
    assert "Mercury orbits closest to the Sun." in page
    assert "<html" not in page

    wrong = _check(htmx_client, world, attempt_id, token, "single",
                   [(world.q("single"), str(world.choices["single"]["Mars"]))])
    assert "feedback-incorrect" in _page(wrong) and "Not quite." in _page(wrong)
    # Checking writes nothing.
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == 0


def test_check_answer_without_javascript_shows_the_attempt_page_with_feedback(app, client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    response = _check(client, world, attempt_id, token, "short_text",
                      [(world.q("short_text"), "PARIS"), (world.q("numeric"), "3.1")])
    assert response.status_code == 200
    page = _page(response)
    assert "<html" in page and len(_visible_questions(page)) == 6
    assert f'id="feedback-{world.questions["short_text"]}" class="feedback feedback-correct"' \
        in page
    assert "Paris has been the capital for centuries." in page
    # Nothing the learner typed is lost.
    assert 'value="PARIS"' in page and 'value="3.1"' in page
    # Other questions got no feedback.
    assert f'id="feedback-{world.questions["numeric"]}" class="feedback"></div>' in page


def test_check_invalid_number_is_400_with_the_message(app, client, htmx_client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    response = _check(client, world, attempt_id, token, "numeric",
                      [(world.q("numeric"), "three")])
    assert response.status_code == 400
    assert "is not a number" in _page(response)
    assert 'value="three"' in _page(response)
    assert 'aria-invalid="true"' in _page(response)

    htmx_token = sign_in(htmx_client, world.email)
    response = _check(htmx_client, world, attempt_id, htmx_token, "numeric",
                      [(world.q("numeric"), "three")])
    assert response.status_code == 400
    assert _page(response).startswith(f'<div id="feedback-{world.questions["numeric"]}"')
    assert "feedback-error" in _page(response)


def test_check_of_a_submitted_attempt_leads_to_the_result(app, client, htmx_client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    submit(client, attempt_id, token, world.right())
    response = _check(client, world, attempt_id, token, "single", [])
    assert response.status_code == 303
    assert response.headers["Location"] == f"/attempts/{attempt_id}/result"

    htmx_token = sign_in(htmx_client, world.email)
    response = _check(htmx_client, world, attempt_id, htmx_token, "single", [])
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/attempts/{attempt_id}/result"


def test_check_needs_an_attempt_of_ones_own(app, client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
        other = build_world(title="Another course")
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    # A question of another quiz is not part of this attempt.
    response = client.post(f"/questions/{other.questions['single']}/check",
                           data={"csrf_token": token, "attempt_id": attempt_id})
    assert response.status_code == 404
    response = client.post(f"/questions/{world.questions['single']}/check",
                           data={"csrf_token": token})
    assert response.status_code == 400


# --- submitting and results ---------------------------------------------------------------------


def test_submit_all_right_passes_and_shows_the_result(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    response = submit(client, attempt_id, token, world.right())
    assert response.status_code == 303
    assert response.headers["Location"] == f"/attempts/{attempt_id}/result"
    page = _page(client.get(response.headers["Location"]))
    assert "You passed" in page
    assert "<strong>100 %</strong>\n      (6 of 6 points)" in page
    assert "The pass mark is 70 %." in page
    assert page.count("<strong>Correct</strong>") == 6
    assert "Mercury orbits closest to the Sun." in page
    assert "Ant → Cat → Horse → Whale" in page
    assert "2, 3" in page
    assert "3.145" in page and "paris" in page
    # Full marks: another attempt could not improve anything, so none is offered.
    assert "You have full marks" in page
    assert "Try again" not in page


def test_submit_all_wrong_fails(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    submit(client, attempt_id, token, world.wrong())
    page = _page(client.get(f"/attempts/{attempt_id}/result"))
    assert "Not passed" in page and "You passed" not in page
    assert "<strong>0 %</strong>\n      (0 of 6 points)" in page
    assert page.count("<strong>Incorrect</strong>") == 6
    assert "Cat → Ant → Horse → Whale" in page and "Lyon" in page


def test_unanswered_questions_count_as_wrong(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    submit(client, attempt_id, token, [(world.q("short_text"), "Paris"),
                                       ("unanswered", "submit")])
    page = _page(client.get(f"/attempts/{attempt_id}/result"))
    assert "<strong>16 %</strong>\n      (1 of 6 points)" in page
    assert page.count("<em>no answer</em>") == 5


def test_submit_as_htmx_answers_with_hx_redirect(app, htmx_client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(htmx_client, world.email)
    response = htmx_client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    attempt_id = int(response.headers["HX-Redirect"].rsplit("/", 1)[1])
    response = submit(htmx_client, attempt_id, token, world.right())
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/attempts/{attempt_id}/result"


def test_invalid_answer_reshows_the_form_with_400_and_nothing_lost(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    data = [pair for pair in world.right() if pair[0] != world.q("numeric")]
    data.append((world.q("numeric"), "a lot"))
    response = submit(client, attempt_id, token, data)
    assert response.status_code == 400
    page = _page(response)
    assert "Nothing was submitted yet" in page
    assert "“a lot” is not a number." in page
    assert 'value="a lot"' in page and 'value="  paris "' in page
    assert f'value="{world.choices["single"]["Mercury"]}" checked' in page
    assert '<option value="4" selected>4</option>' in page
    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        assert attempt.status == "in_progress"
        assert db.session.scalar(select(func.count(Answer.id))) == 0


def test_invalid_answer_in_one_question_mode_shows_that_question(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    response = client.post(f"/attempts/{attempt_id}/submit?one=1", data=MultiDict([
        ("csrf_token", token), ("attempt_id", attempt_id), ("n", "1"),
        (world.q("numeric"), "1e999"),
    ]))
    assert response.status_code == 400
    page = _page(response)
    assert _visible_questions(page) == [str(world.questions["numeric"])]
    assert "out of range" in page


def test_ordering_with_a_position_used_twice_is_400(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    ordering = world.choices["ordering"]
    data = [(f"{world.q('ordering')}-{cid}", "1") for cid in ordering.values()]
    response = submit(client, attempt_id, token, data)
    assert response.status_code == 400
    assert "Use each position only once." in _page(response)
    data = [(f"{world.q('ordering')}-{ordering['Ant']}", "1")] + [
        (f"{world.q('ordering')}-{cid}", "") for name, cid in ordering.items() if name != "Ant"
    ]
    response = submit(client, attempt_id, token, data)
    assert response.status_code == 400
    assert "Give every item a position." in _page(response)


def test_double_submit_shows_the_result_with_a_notice(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    assert submit(client, attempt_id, token, world.right()).status_code == 303
    again = submit(client, attempt_id, token, world.wrong())
    assert again.status_code == 303
    assert again.headers["Location"] == f"/attempts/{attempt_id}/result"
    page = _page(client.get(again.headers["Location"]))
    assert "already submitted" in page
    assert "You passed" in page  # the first submission stands
    with app.app_context():
        assert db.session.scalar(select(func.count(Answer.id))) == 6


def test_attempt_page_of_a_submitted_attempt_redirects_to_the_result(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    assert client.get(f"/attempts/{attempt_id}/result").headers["Location"] == \
        f"/attempts/{attempt_id}"
    submit(client, attempt_id, token, world.right())
    assert client.get(f"/attempts/{attempt_id}").headers["Location"] == \
        f"/attempts/{attempt_id}/result"


# --- retake rules ------------------------------------------------------------------------------


def test_max_attempts_reached_gives_a_clear_message(app, client, sign_in):
    with app.app_context():
        world = build_world(max_attempts=1)
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    submit(client, attempt_id, token, world.wrong())
    result = _page(client.get(f"/attempts/{attempt_id}/result"))
    assert "Try again" not in result
    assert "You have used your only attempt at this quiz." in result
    intro = _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert "1 used of 1" in intro
    assert "You have used all 1 attempts at this quiz. Your best score is kept." in intro
    assert "Start the quiz" not in intro
    response = client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    assert response.status_code == 403
    assert "You have used all 1 attempts at this quiz." in _page(response)


def test_best_score_is_kept_across_retakes(app, client, sign_in):
    with app.app_context():
        world = build_world(max_attempts=3)
    token = sign_in(client, world.email)
    first = start(client, world, token)
    submit(client, first, token, world.right())
    second = start(client, world, token)
    assert second != first
    submit(client, second, token, world.wrong())
    intro = _page(client.get(f"/quizzes/{world.quiz_id}"))
    assert "2 used of 3" in intro
    assert "100 % · passed" in intro
    # The kept score is full marks: the intro does not call another attempt a retake
    # that could raise it, but still lets the learner practise.
    assert "Retake the quiz" not in intro
    assert "You have full marks" in intro
    assert "Take it again for practice" in intro
    result = _page(client.get(f"/attempts/{second}/result"))
    assert "<strong>0 %</strong>\n      (0 of 6 points)" in result
    assert "Your best score, which is the one kept, is 100 %: you passed" in result
    assert "Try again" not in result  # the kept score is full marks already
    assert f'href="/attempts/{second}/result">See your latest result' in intro
