"""Grading of every question kind, right and wrong, through the "Check answer" endpoint
(what a learner sees) and the form translation for ordering questions."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from tests.web.quiz_helpers import World, build_world
from webapp.services.exceptions import ValidationFailed
from webapp.web.quiz.forms import answer_for, answers_from_form


@pytest.fixture
def taking(app, htmx_client, sign_in):
    """A learner with an open attempt at a practice quiz: returns check(kind, values) →
    response."""
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(htmx_client, world.email)
    attempt_id = _start(htmx_client, world, token)

    def check(kind: str, values: list[str]):
        data = MultiDict([("csrf_token", token), ("attempt_id", str(attempt_id))])
        for value in values:
            data.add(world.q(kind), value)
        return htmx_client.post(f"/questions/{world.questions[kind]}/check", data=data)

    check.world = world  # type: ignore[attr-defined]
    return check


def _start(client, world: World, token: str) -> int:
    response = client.post(f"/quizzes/{world.quiz_id}/start", data={"csrf_token": token})
    return int(response.headers["HX-Redirect"].rsplit("/", 1)[1])


def _verdict(response) -> str:
    page = response.get_data(as_text=True)
    if "feedback-correct" in page:
        return "right"
    if "feedback-incorrect" in page:
        return "wrong"
    return "error" if "feedback-error" in page else "none"


def _ids(world: World, kind: str, *names: str) -> list[str]:
    return [str(world.choices[kind][name]) for name in names]


def test_single_choice(taking):
    w = taking.world
    assert _verdict(taking("single", _ids(w, "single", "Mercury"))) == "right"
    assert _verdict(taking("single", _ids(w, "single", "Venus"))) == "wrong"
    assert _verdict(taking("single", [])) == "wrong"


def test_multiple_choice_needs_exactly_the_correct_set(taking):
    w = taking.world
    assert _verdict(taking("multiple", _ids(w, "multiple", "3", "2"))) == "right"
    assert _verdict(taking("multiple", _ids(w, "multiple", "2"))) == "wrong"
    assert _verdict(taking("multiple", _ids(w, "multiple", "2", "3", "4"))) == "wrong"
    assert _verdict(taking("multiple", [])) == "wrong"


def test_true_false(taking):
    w = taking.world
    assert _verdict(taking("true_false", _ids(w, "true_false", "True"))) == "right"
    assert _verdict(taking("true_false", _ids(w, "true_false", "False"))) == "wrong"


def test_a_choice_of_another_question_is_rejected(taking):
    w = taking.world
    response = taking("single", _ids(w, "multiple", "2"))
    assert response.status_code == 400
    assert "not part of this question" in response.get_data(as_text=True)
    assert taking("single", ["not-a-number"]).status_code == 400


@pytest.mark.parametrize(("text", "verdict"), [
    ("Paris", "right"),
    ("  pArIs  ", "right"),
    ("PARIS", "right"),
    ("Pa ris", "wrong"),
    ("Lyon", "wrong"),
    ("", "wrong"),
])
def test_short_text_ignores_case_and_surrounding_space(taking, text, verdict):
    assert _verdict(taking("short_text", [text])) == verdict


@pytest.mark.parametrize(("text", "verdict"), [
    ("3.14", "right"),
    ("3.15", "right"),   # exactly at the tolerance
    ("3.13", "right"),
    (" 3,14 ", "right"),  # a decimal comma is accepted
    ("3.151", "wrong"),
    ("3.1", "wrong"),
    ("-3.14", "wrong"),
    ("", "wrong"),
])
def test_numeric_within_tolerance(taking, text, verdict):
    assert _verdict(taking("numeric", [text])) == verdict


@pytest.mark.parametrize("text", ["pi", "3.14.15", "NaN", "Infinity", "1e20"])
def test_numeric_rejects_what_is_not_a_usable_number(taking, text):
    response = taking("numeric", [text])
    assert response.status_code == 400
    assert _verdict(response) == "error"


def test_ordering_compares_the_learners_order(taking):
    w = taking.world
    ordering = w.choices["ordering"]

    def positions(order: list[str]):
        data = MultiDict([("attempt_id", "0")])
        for name, cid in ordering.items():
            data.add(f"{w.q('ordering')}-{cid}", str(order.index(name) + 1))
        return data

    def check_positions(order: list[str]):
        data = positions(order)
        values = answer_for(data, w.questions["ordering"])
        return taking("ordering", values)

    assert _verdict(check_positions(["Ant", "Cat", "Horse", "Whale"])) == "right"
    assert _verdict(check_positions(["Ant", "Cat", "Whale", "Horse"])) == "wrong"
    assert _verdict(check_positions(["Whale", "Horse", "Cat", "Ant"])) == "wrong"


def test_ordering_through_the_select_fields_of_the_form(app, htmx_client, sign_in):
    with app.app_context():
        world = build_world(mode="practice")
    token = sign_in(htmx_client, world.email)
    attempt_id = _start(htmx_client, world, token)
    ordering = world.choices["ordering"]
    data = MultiDict([("csrf_token", token), ("attempt_id", str(attempt_id))])
    for position, name in enumerate(["Ant", "Cat", "Horse", "Whale"], start=1):
        data.add(f"{world.q('ordering')}-{ordering[name]}", str(position))
    response = htmx_client.post(f"/questions/{world.questions['ordering']}/check", data=data)
    assert _verdict(response) == "right"
    assert "Ant, cat, horse, whale." in response.get_data(as_text=True)


# --- the form translation on its own ------------------------------------------------------


def test_answers_from_form_sorts_ordering_items_by_chosen_position():
    form = MultiDict([("q7-30", "3"), ("q7-31", "1"), ("q7-32", "2"), ("q1", "5"), ("q2", "8"),
                      ("q2", "9"), ("csrf_token", "x"), ("n", "1")])
    assert answers_from_form(form) == {"q1": ["5"], "q2": ["8", "9"], "q7": ["31", "32", "30"]}


def test_answers_from_form_leaves_an_untouched_ordering_unanswered():
    assert answers_from_form(MultiDict([("q7-30", ""), ("q7-31", "")])) == {"q7": []}


@pytest.mark.parametrize(("pairs", "message"), [
    ([("q7-30", "1"), ("q7-31", "")], "Give every item a position."),
    ([("q7-30", "1"), ("q7-31", "1")], "Use each position only once."),
    ([("q7-30", "1"), ("q7-31", "two")], "Positions are whole numbers."),
])
def test_answers_from_form_rejects_incomplete_orderings(pairs, message):
    with pytest.raises(ValidationFailed) as caught:
        answers_from_form(MultiDict(pairs))
    assert caught.value.message == message
    assert caught.value.field == "q7"


def test_answer_for_ignores_other_questions():
    form = MultiDict([("q7-30", "1"), ("q7-31", "1"), ("q70", "4"), ("q8", "2")])
    assert answer_for(form, 8) == ["2"]
    assert answer_for(form, 70) == ["4"]
