"""The quiz editor's service, without HTTP: validation with the field at fault, writes
that keep positions and choice rows consistent, permissions, usage counts, audit."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.factories import enroll, make_course, make_quiz, make_user
from webapp.extensions import db
from webapp.models import (
    AcceptedAnswer,
    Answer,
    AnswerChoice,
    Attempt,
    AuditEvent,
    Choice,
    Question,
    Quiz,
)
from webapp.services import courses, quizzes
from webapp.services import quiz_authoring as qa
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from webapp.services.quizzes import QuestionSpec

pytestmark = pytest.mark.usefixtures("app_ctx")


def _single(prompt="Which planet is closest to the Sun?", correct=(2,), texts=None):
    texts = texts or ["Venus", "Mercury", "Mars"]
    return QuestionSpec("single", prompt,
                        choices=[(t, n in correct) for n, t in enumerate(texts, 1)])


SPECS = {
    "single": _single(),
    "multiple": QuestionSpec("multiple", "Primes?", choices=[("2", True), ("3", True),
                                                             ("4", False)]),
    "true_false": QuestionSpec("true_false", "Water is wet.",
                               choices=[("True", True), ("False", False)]),
    "short_text": QuestionSpec("short_text", "Capital of France?", accepted=["Paris"]),
    "numeric": QuestionSpec("numeric", "Pi?", numeric_answer=Decimal("3.14"),
                            tolerance=Decimal("0.01")),
    "ordering": QuestionSpec("ordering", "Smallest first.",
                             choices=[("Ant", False), ("Cat", False), ("Whale", False)]),
}


@pytest.fixture
def world(make_user, make_course):
    """An editor's draft course (two modules, one lesson each) with an empty quiz."""
    editor = make_user(role="editor")
    course = make_course(owner=editor, publish=False, modules=2, lessons=1)
    quiz = qa.create_quiz_in_module(editor, course.modules[0], key="", title="Week 1 check")
    db.session.commit()
    return editor, course, quiz


def _audits(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


# --- checking questions -------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SPECS))
def test_every_kind_passes_and_is_normalized(kind):
    checked = qa.check_question(SPECS[kind])
    assert checked.kind == kind
    quizzes.validate_question(checked)


@pytest.mark.parametrize(("spec", "field", "message"), [
    (_single(correct=(1, 2)), "choices",
     "A single-choice question needs at least two choices and exactly one correct choice."),
    (_single(correct=()), "choices", "exactly one correct choice"),
    (_single(texts=["Only"], correct=(1,)), "choices", "at least two choices"),
    (_single(texts=["Venus", "  ", "Mars"], correct=(2,)), "choices",
     "A choice marked correct has no text."),
    (_single(texts=["Venus", "VENUS"], correct=(1,)), "choices", "Choices 1 and 2 are the same"),
    (_single(texts=[f"c{n}" for n in range(13)], correct=(1,)), "choices", "at most 12"),
    (QuestionSpec("multiple", "P?", choices=[("a", False), ("b", False)]), "choices",
     "at least one correct choice"),
    (QuestionSpec("true_false", "P?", choices=[("True", True)]), "choices", "two choices"),
    (QuestionSpec("ordering", "P?", choices=[("a", False)]), "choices", "needs two items"),
    (QuestionSpec("ordering", "P?", choices=[("a", False), ("A ", False)]), "choices",
     "Items 1 and 2 are the same"),
    (QuestionSpec("short_text", "P?", accepted=["", " "]), "accepted",
     "List at least one accepted answer."),
    (QuestionSpec("short_text", "P?", accepted=["x" * 201]), "accepted", "limit is 200"),
    (QuestionSpec("short_text", "P?", accepted=[f"a{n}" for n in range(21)]), "accepted",
     "at most 20"),
    (QuestionSpec("numeric", "P?"), "numeric_answer", "Give the answer"),
    (QuestionSpec("numeric", "P?", numeric_answer=Decimal("Infinity")), "numeric_answer",
     "finite"),
    (QuestionSpec("numeric", "P?", numeric_answer=Decimal("1e12")), "numeric_answer",
     "smaller than a trillion"),
    (QuestionSpec("numeric", "P?", numeric_answer=Decimal("1.0000001")), "numeric_answer",
     "at most 6 decimal places"),
    (QuestionSpec("numeric", "P?", numeric_answer=Decimal(1), tolerance=Decimal("-0.1")),
     "tolerance", "cannot be negative"),
    (QuestionSpec("single", " \n ", choices=[("a", True), ("b", False)]), "prompt",
     "Write the question."),
    (QuestionSpec("short_text", "p" * 2001, accepted=["a"]), "prompt", "limit is 2000"),
    (QuestionSpec("short_text", "P?", explanation="e" * 2001, accepted=["a"]), "explanation",
     "limit is 2000"),
    (QuestionSpec("short_text", "P?", points=0, accepted=["a"]), "points", "from 1 to 100"),
    (QuestionSpec("short_text", "P?", points=101, accepted=["a"]), "points", "from 1 to 100"),
    (QuestionSpec("essay", "P?"), "kind", "kind is one of"),
])
def test_broken_rules_name_the_field(spec, field, message):
    with pytest.raises(ValidationFailed) as caught:
        qa.check_question(spec)
    assert caught.value.field == field
    assert message in caught.value.message
    # The rules of validate_question speak without repeating the prompt.
    assert not caught.value.message.startswith("“")


def test_check_drops_blank_rows_and_merges_equivalent_answers():
    spec = QuestionSpec("short_text", "  Capital?  ",
                        accepted=["Paris", "  paris ", "", "Paris,   France"])
    checked = qa.check_question(spec)
    assert checked.prompt == "Capital?"
    assert list(checked.accepted) == ["Paris", "Paris, France"]
    choices = qa.check_question(_single(texts=["", "Venus", "", "Mercury"], correct=(4,)))
    assert list(choices.choices) == [("Venus", False), ("Mercury", True)]
    ordering = qa.check_question(QuestionSpec("ordering", "O", choices=[("a", True),
                                                                        ("b", True)]))
    assert [ok for _text, ok in ordering.choices] == [False, False]


# --- quiz settings --------------------------------------------------------------------------


def test_create_quiz_derives_the_key_and_is_audited(world):
    editor, course, quiz = world
    assert (quiz.key, quiz.title, quiz.pass_percent, quiz.max_attempts) == (
        "week-1-check", "Week 1 check", 70, None)
    assert quiz.module_id == course.modules[0].id
    (audit,) = _audits("quiz.create")
    assert (audit.actor_id, audit.target_id) == (editor.id, quiz.id)
    assert audit.delta["key"] == [None, "week-1-check"]


@pytest.mark.parametrize(("fields", "field"), [
    ({"key": "week-1-check"}, "key"),
    ({"key": "Week_1"}, "key"),
    ({"key": "", "title": "!!!"}, "key"),
    ({"title": "  "}, "title"),
    ({"description": "d" * 501}, "description"),
    ({"pass_percent": -1}, "pass_percent"),
    ({"pass_percent": None}, "pass_percent"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": 101}, "max_attempts"),
])
def test_invalid_quiz_settings_name_the_field(world, fields, field):
    editor, course, _quiz = world
    data = {"key": "other", "title": "Other", **fields}
    with pytest.raises(ValidationFailed) as caught:
        qa.create_quiz_in_module(editor, course.modules[1], **data)
    assert caught.value.field == field


def test_the_same_key_may_be_used_in_another_course(world):
    editor, _course, _quiz = world
    other = make_course(owner=editor, publish=False, modules=1)
    quiz = qa.create_quiz_in_module(editor, other.modules[0], key="week-1-check", title="W1")
    assert quiz.key == "week-1-check"


def test_update_settings_changes_only_what_changed(world):
    editor, _course, quiz = world
    fingerprint = qa.quiz_fingerprint(quiz)
    assert qa.update_quiz_settings(editor, quiz, key=quiz.key, title="Week one",
                                   pass_percent=80, max_attempts=2, expected=fingerprint)
    assert qa.quiz_fingerprint(quiz) != fingerprint
    (audit,) = _audits("quiz.update")
    assert audit.delta == {"title": ["Week 1 check", "Week one"], "pass_percent": [70, 80],
                           "max_attempts": [None, 2]}
    assert not qa.update_quiz_settings(editor, quiz, key=quiz.key, title="Week one",
                                       pass_percent=80, max_attempts=2)
    assert len(_audits("quiz.update")) == 1
    with pytest.raises(Conflict):
        qa.update_quiz_settings(editor, quiz, key=quiz.key, title="Lost update",
                                expected=fingerprint)


def test_renaming_an_embedded_key_is_refused_but_code_blocks_do_not_count(world):
    editor, course, quiz = world
    lesson = course.modules[0].lessons[0]
    courses.set_lesson_source(None, lesson, "Write it like this:\n\n```\n"
                              '<Quiz id="week-1-check"/>\n```\n')
    assert qa.lessons_embedding(quiz) == []
    assert qa.update_quiz_settings(editor, quiz, key="week-one", title=quiz.title)
    courses.set_lesson_source(None, lesson, 'Now a real one.\n\n<Quiz id="week-one"/>\n')
    assert qa.lessons_embedding(quiz) == [lesson]
    with pytest.raises(ValidationFailed) as caught:
        qa.update_quiz_settings(editor, quiz, key="week-two", title=quiz.title)
    assert caught.value.field == "key"
    assert lesson.title in caught.value.message


# --- questions ---------------------------------------------------------------------------------


def test_questions_are_appended_in_order_and_audited(world):
    editor, _course, quiz = world
    added = [qa.add_question(editor, quiz, spec) for spec in SPECS.values()]
    assert [q.position for q in added] == [1, 2, 3, 4, 5, 6]
    numeric = added[4]
    db.session.commit()
    db.session.expire_all()
    assert (numeric.numeric_answer, numeric.tolerance) == (Decimal("3.14"), Decimal("0.01"))
    audits = _audits("question.create")
    assert [a.target_id for a in audits] == [q.id for q in added]
    assert audits[0].delta["choices"] == [None, [["Venus", False], ["Mercury", True],
                                                 ["Mars", False]]]
    assert audits[4].delta["numeric_answer"] == [None, "3.14"]


def test_update_rewrites_choices_in_place_by_position(world):
    editor, _course, quiz = world
    question = qa.add_question(editor, quiz, _single())
    ids = [c.id for c in question.choices]
    assert qa.update_question(editor, question, _single(texts=["Earth", "Venus"], correct=(2,)))
    db.session.commit()
    db.session.expire_all()
    assert [(c.id, c.text, c.is_correct) for c in question.choices] == [
        (ids[0], "Earth", False), (ids[1], "Venus", True)]
    assert db.session.get(Choice, ids[2]) is None
    qa.update_question(editor, question, _single(texts=["a", "b", "c", "d"], correct=(4,)))
    assert [c.position for c in question.choices] == [1, 2, 3, 4]
    assert [c.id for c in question.choices][:2] == ids[:2]


def test_update_replaces_accepted_answers(world):
    editor, _course, quiz = world
    question = qa.add_question(editor, quiz, QuestionSpec("short_text", "Capital?",
                                                          accepted=["Paris", "Lutetia"]))
    kept = next(a.id for a in question.accepted_answers if a.text == "Paris")
    qa.update_question(editor, question, QuestionSpec("short_text", "Capital?",
                                                      accepted=["Paris", "Parigi"]))
    db.session.commit()
    rows = db.session.scalars(select(AcceptedAnswer).where(
        AcceptedAnswer.question_id == question.id).order_by(AcceptedAnswer.text)).all()
    assert [(a.text, a.id == kept) for a in rows] == [("Parigi", False), ("Paris", True)]


def test_update_keeps_the_kind_detects_stale_forms_and_skips_no_ops(world):
    editor, _course, quiz = world
    question = qa.add_question(editor, quiz, SPECS["numeric"])
    with pytest.raises(ValidationFailed) as caught:
        qa.update_question(editor, question, SPECS["short_text"])
    assert caught.value.field == "kind"
    stale = qa.question_fingerprint(question)
    changed = QuestionSpec("numeric", "Pi?", numeric_answer=Decimal("3.1416"),
                           tolerance=Decimal("0.0001"))
    assert qa.update_question(editor, question, changed, expected=stale)
    with pytest.raises(Conflict):
        qa.update_question(editor, question, SPECS["numeric"], expected=stale)
    assert not qa.update_question(editor, question, changed,
                                  expected=qa.question_fingerprint(question))
    (audit,) = _audits("question.update")
    assert audit.delta == {"numeric_answer": ["3.14", "3.1416"], "tolerance": ["0.01", "0.0001"]}


def test_move_swaps_neighbours_and_stops_at_the_ends(world):
    editor, _course, quiz = world
    first, second, third = (qa.add_question(editor, quiz, SPECS[k])
                            for k in ("single", "numeric", "ordering"))
    assert not qa.move_question(editor, first, "up")
    assert not qa.move_question(editor, third, "down")
    assert qa.move_question(editor, third, "up")
    db.session.commit()
    assert [q.id for q in quizzes.get_quiz(quiz.id).questions] == [first.id, third.id, second.id]
    with pytest.raises(ValidationFailed):
        qa.move_question(editor, first, "left")
    (audit,) = _audits("question.move")
    assert audit.delta == {"position": [3, 2]}


def test_move_heals_gaps_in_positions(world):
    editor, _course, quiz = world
    first, second = qa.add_question(editor, quiz, SPECS["single"]), qa.add_question(
        editor, quiz, SPECS["numeric"])
    first.position, second.position = 5, 9
    db.session.flush()
    assert qa.move_question(editor, second, "up")
    assert (second.position, first.position) == (1, 2)


def test_delete_question_renumbers_and_keeps_scores(world):
    editor, course, quiz = world
    kept = qa.add_question(editor, quiz, SPECS["true_false"])
    doomed = qa.add_question(editor, quiz, SPECS["single"])
    last = qa.add_question(editor, quiz, SPECS["short_text"])
    courses.publish_course(None, course)
    learner = make_user()
    enroll(learner, course)
    attempt = quizzes.start_attempt(learner, quizzes.get_quiz(quiz.id))
    quizzes.submit_attempt(learner, attempt.id, {
        f"q{kept.id}": [str(kept.choices[0].id)],
        f"q{doomed.id}": [str(doomed.choices[1].id)],
        f"q{last.id}": ["paris"],
    })
    db.session.commit()
    assert qa.question_usage(doomed) == qa.QuestionUsage(answers=1, learners=1)
    qa.delete_question(editor, doomed)
    db.session.commit()
    assert [(q.id, q.position) for q in quizzes.get_quiz(quiz.id).questions] == [
        (kept.id, 1), (last.id, 2)]
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 2
    assert db.session.scalar(select(func.count()).select_from(AnswerChoice)) == 1
    assert db.session.get(Attempt, attempt.id).score == 3
    (audit,) = _audits("question.delete")
    assert audit.delta["answers"] == [1, 0]
    assert audit.delta["prompt"] == [SPECS["single"].prompt, None]


def test_the_only_question_of_a_published_quiz_cannot_be_deleted(world):
    editor, course, quiz = world
    only = qa.add_question(editor, quiz, SPECS["single"])
    courses.publish_course(None, course)
    with pytest.raises(Conflict):
        qa.delete_question(editor, only)
    courses_draft = make_course(owner=editor, publish=False, modules=1)
    draft_quiz = qa.create_quiz_in_module(editor, courses_draft.modules[0], key="", title="D")
    draft_only = qa.add_question(editor, draft_quiz, SPECS["single"])
    qa.delete_question(editor, draft_only)
    assert quizzes.get_quiz(draft_quiz.id).questions == []


def test_delete_quiz_removes_questions_attempts_and_answers(world):
    editor, course, quiz = world
    question = qa.add_question(editor, quiz, SPECS["single"])
    courses.publish_course(None, course)
    learner = make_user()
    enroll(learner, course)
    attempt = quizzes.start_attempt(learner, quizzes.get_quiz(quiz.id))
    quizzes.submit_attempt(learner, attempt.id, {f"q{question.id}": [str(question.choices[1].id)]})
    quizzes.start_attempt(learner, quizzes.get_quiz(quiz.id))
    db.session.commit()
    assert qa.quiz_usage(quiz) == qa.QuizUsage(submitted=1, learners=1, in_progress=1, answers=1)
    quiz_id = quiz.id
    qa.delete_quiz(editor, quiz)
    db.session.commit()
    assert db.session.get(Quiz, quiz_id) is None
    for model in (Question, Choice, Attempt, Answer, AnswerChoice):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0
    (audit,) = _audits("quiz.delete")
    assert audit.delta["questions"] == [1, 0]
    assert audit.delta["attempts"] == [2, 0]


# --- who may edit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["learner", "editor"])
def test_only_editors_of_the_course_may_write(world, role):
    _editor, course, quiz = world
    outsider = make_user(role=role)
    question = qa.add_question(_editor, quiz, SPECS["single"])
    attempts = [
        lambda: qa.create_quiz_in_module(outsider, course.modules[0], key="x", title="X"),
        lambda: qa.update_quiz_settings(outsider, quiz, key=quiz.key, title="Mine"),
        lambda: qa.add_question(outsider, quiz, SPECS["numeric"]),
        lambda: qa.update_question(outsider, question, SPECS["single"]),
        lambda: qa.move_question(outsider, question, "down"),
        lambda: qa.delete_question(outsider, question),
        lambda: qa.delete_quiz(outsider, quiz),
        lambda: qa.get_quiz_for_edit(outsider, quiz.id),
        lambda: qa.get_question_for_edit(outsider, question.id),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            attempt()


def test_admins_may_edit_any_course(world):
    _editor, _course, quiz = world
    admin = make_user(role="admin")
    assert qa.get_quiz_for_edit(admin, quiz.id)[0].id == quiz.id
    assert qa.add_question(admin, quiz, SPECS["single"]).position == 1


def test_unknown_ids_are_not_found(world):
    editor, _course, _quiz = world
    with pytest.raises(NotFound):
        qa.get_quiz_for_edit(editor, 999_999)
    with pytest.raises(NotFound):
        qa.get_question_for_edit(editor, 999_999)


# --- the overview ------------------------------------------------------------------------------


def test_summaries_count_questions_and_attempts_in_constant_queries(world, query_counter):
    editor, course, quiz = world
    for _ in range(2):
        qa.add_question(editor, quiz, SPECS["single"])
    db.session.commit()
    with query_counter() as few:
        summaries = qa.course_quiz_summaries(course)
    assert [(s.quiz.id, s.questions, s.attempts) for s in summaries[course.modules[0].id]] == [
        (quiz.id, 2, 0)]
    for module in course.modules:
        for n in range(3):
            make_quiz(module, key=f"extra-{module.id}-{n}")
    with query_counter() as many:
        summaries = qa.course_quiz_summaries(course)
    assert sum(len(items) for items in summaries.values()) == 7
    assert many.n == few.n


def test_a_quiz_holds_a_bounded_number_of_questions(world, monkeypatch):
    editor, _course, quiz = world
    monkeypatch.setattr(qa.question_edits, "MAX_QUESTIONS", 2)
    for _ in range(2):
        qa.add_question(editor, quiz, SPECS["true_false"])
    with pytest.raises(ValidationFailed, match="at most 2 questions"):
        qa.add_question(editor, quiz, SPECS["true_false"])


@pytest.mark.parametrize(("number", "text"), [
    (Decimal("3.140000"), "3.14"), (Decimal("1E+2"), "100"), (Decimal("-0.000"), "0"),
    (Decimal("0.000001"), "0.000001"), (None, None),
])
def test_numbers_are_shown_as_typed(number, text):
    assert qa.plain_number(number) == text
