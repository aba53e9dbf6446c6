"""A quiz's policy in the service, without HTTP: practice or graded checking, when feedback
is released, all-or-nothing or proportional multiple choice (exact Decimal points),
the confirmation a blank question needs, and when a retake is offered."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Answer, Attempt
from webapp.services import quiz_authoring as qa
from webapp.services import quizzes
from webapp.services.exceptions import PermissionDenied, ValidationFailed
from webapp.services.quizzes import QuestionSpec

pytestmark = pytest.mark.usefixtures("app_ctx")

# Three correct choices of five, worth 2 points.
MULTIPLE = QuestionSpec("multiple", "Which of these are mutable?", points=2,
                        explanation="Lists, dicts and sets change in place.",
                        choices=[("list", True), ("dict", True), ("set", True),
                                 ("tuple", False), ("str", False)])
SINGLE = QuestionSpec("single", "What does `7 // 2` give?", explanation="Floor division: 3.",
                      choices=[("3.5", False), ("3", True)])
SHORT = QuestionSpec("short_text", "Which function tells a value's type?", accepted=["type"])


@pytest.fixture
def take(make_user, make_course, enroll):
    """``take(**policy)``: a published quiz of three questions (single, multiple, short
    text) with that policy, and an enrolled learner. Returns (learner, quiz, answer) where
    ``answer(single=…, multiple=[…], short=…)`` builds the submitted form."""

    def _take(questions=(SINGLE, MULTIPLE, SHORT), **policy):
        learner = make_user()
        course = make_course(modules=1, lessons=1)
        quiz = quizzes.create_quiz(None, course.modules[0], key="check", title="Check",
                                   questions=list(questions), **policy)
        enroll(learner, course)
        db.session.commit()
        by_kind = {q.kind: q for q in quiz.questions}

        def answer(single=None, multiple=(), short=None) -> dict[str, list[str]]:
            form: dict[str, list[str]] = {}
            for kind, texts in (("single", [single] if single else []),
                                ("multiple", list(multiple))):
                if kind in by_kind:
                    ids = {c.text: str(c.id) for c in by_kind[kind].choices}
                    form[f"q{by_kind[kind].id}"] = [ids[t] for t in texts]
            if "short_text" in by_kind:
                form[f"q{by_kind['short_text'].id}"] = [short] if short else []
            return form

        return learner, quiz, answer

    return _take


def _submit(learner, quiz, form, **kwargs):
    attempt = quizzes.start_attempt(learner, quiz)
    result = quizzes.submit_attempt(learner, attempt.id, form, **kwargs)
    db.session.commit()
    return result.attempt


# --- checking before submit ----------------------------------------------------------------


def test_a_graded_quiz_refuses_to_check_an_answer(take):
    learner, quiz, answer = take()  # graded is the default
    assert quiz.mode == "graded"
    attempt = quizzes.start_attempt(learner, quiz)
    single = quiz.questions[0]
    with pytest.raises(PermissionDenied, match="graded: your answers are checked when you "
                                               "submit"):
        quizzes.check_answer(learner, attempt.id, single.id, answer(single="3")[f"q{single.id}"])


def test_a_practice_quiz_checks_an_answer_and_writes_nothing(take):
    learner, quiz, answer = take(mode="practice")
    attempt = quizzes.start_attempt(learner, quiz)
    single = quiz.questions[0]
    graded = quizzes.check_answer(learner, attempt.id, single.id,
                                  answer(single="3")[f"q{single.id}"])
    assert graded.correct and graded.points == Decimal(1)
    assert db.session.scalar(select(func.count(Answer.id))) == 0
    assert db.session.get(Attempt, attempt.id).status == "in_progress"


def test_a_practice_quiz_checks_with_its_own_scoring(take):
    learner, quiz, answer = take(mode="practice", scoring="proportional")
    attempt = quizzes.start_attempt(learner, quiz)
    multiple = quiz.questions[1]
    graded = quizzes.check_answer(learner, attempt.id, multiple.id,
                                  answer(multiple=["list", "dict"])[f"q{multiple.id}"])
    assert (graded.correct, graded.partial, graded.points) == (False, True, Decimal("1.33"))


# --- feedback --------------------------------------------------------------------------------


def test_feedback_after_submit_shows_on_the_first_result(take):
    learner, quiz, answer = take(max_attempts=2)
    attempt = _submit(learner, quiz, answer(single="3.5", multiple=["list"], short="len"))
    result = quizzes.get_attempt_result(learner, attempt.id)
    assert result.feedback_shown
    assert result.attempts_left == 1


def test_feedback_after_the_last_attempt_is_held_back_until_then(take):
    learner, quiz, answer = take(max_attempts=2, feedback="after_last_attempt")
    first = _submit(learner, quiz, answer(single="3.5", multiple=["list"], short="len"))
    result = quizzes.get_attempt_result(learner, first.id)
    assert not result.feedback_shown
    # The score and the verdict are not feedback: they always show.
    assert (result.attempt.passed, result.percent) == (False, 0)
    assert result.attempts_left == 1 and result.retake_offered

    # An attempt in progress is not the last one submitted: still held back.
    quizzes.start_attempt(learner, quiz)
    db.session.commit()
    assert not quizzes.get_attempt_result(learner, first.id).feedback_shown
    second = db.session.scalars(select(Attempt).where(Attempt.status == "in_progress")).one()
    quizzes.submit_attempt(learner, second.id, answer(single="3", multiple=["list"],
                                                      short="type"))
    db.session.commit()
    last = quizzes.get_attempt_result(learner, second.id)
    assert last.feedback_shown and last.attempts_left == 0 and not last.retake_offered
    # ... and for the earlier attempt too, now that no attempt is left.
    assert quizzes.get_attempt_result(learner, first.id).feedback_shown


@pytest.mark.parametrize(("policy", "field", "message"), [
    ({"feedback": "after_last_attempt"}, "feedback", "needs a limit on attempts"),
    ({"feedback": "after_last_attempt", "mode": "practice", "max_attempts": 3}, "feedback",
     "for graded quizzes"),
    ({"mode": "exam"}, "mode", "practice or graded"),
    ({"scoring": "half"}, "scoring", "proportionally"),
])
def test_a_policy_that_cannot_work_is_refused_naming_the_field(make_user, make_course, policy,
                                                               field, message):
    editor = make_user(role="editor")
    course = make_course(owner=editor, publish=False, modules=1, lessons=1)
    with pytest.raises(ValidationFailed, match=message) as caught:
        qa.create_quiz_in_module(editor, course.modules[0], key="", title="Week 1",
                                 **policy)
    assert caught.value.field == field


def test_the_editor_service_stores_and_audits_the_policy(make_user, make_course):
    editor = make_user(role="editor")
    course = make_course(owner=editor, publish=False, modules=1, lessons=1)
    quiz = qa.create_quiz_in_module(editor, course.modules[0], key="", title="Week 1")
    assert (quiz.mode, quiz.feedback, quiz.scoring) == ("graded", "after_submit",
                                                        "all_or_nothing")
    changed = qa.update_quiz_settings(editor, quiz, key=quiz.key, title=quiz.title,
                                      max_attempts=2, feedback="after_last_attempt",
                                      scoring="proportional")
    db.session.commit()
    assert changed
    assert (quiz.mode, quiz.feedback, quiz.scoring) == ("graded", "after_last_attempt",
                                                        "proportional")


# --- scoring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("points", "total", "right", "wrong", "expected"), [
    (2, 3, 3, 0, "2"),      # all of it
    (2, 3, 2, 0, "1.33"),   # 4/3, rounded down
    (2, 3, 2, 1, "0.66"),   # 2/3 = 0.666…, rounded down, never up
    (1, 3, 1, 0, "0.33"),
    (3, 3, 1, 0, "1"),      # exactly 1: no rounding error
    (2, 3, 1, 2, "0"),      # more wrong than right: floored at 0
    (2, 3, 3, 2, "0.66"),   # ticking everything is not a way round
    (100, 12, 11, 0, "91.66"),
])
def test_proportional_points_are_exact(points, total, right, wrong, expected):
    assert quizzes.proportional_points(points, total, right, wrong) == Decimal(expected)


@pytest.mark.parametrize(("scoring", "ticked", "points", "score", "percent"), [
    ("all_or_nothing", ["list", "dict", "set"], "2", "4", 100),
    ("all_or_nothing", ["list", "dict", "tuple"], "0", "2", 50),
    ("proportional", ["list", "dict", "set"], "2", "4", 100),
    ("proportional", ["list", "dict", "tuple"], "0.66", "2.66", 66),
    ("proportional", ["list", "tuple", "str"], "0", "2", 50),
])
def test_multiple_choice_scores_by_the_quizs_rule_exactly(take, scoring, ticked, points, score,
                                                          percent):
    learner, quiz, answer = take(scoring=scoring, pass_percent=60)
    attempt = _submit(learner, quiz, answer(single="3", multiple=ticked, short="type"))
    db.session.expire_all()
    stored = db.session.get(Attempt, attempt.id)
    multiple = quiz.questions[1]
    answer_row = db.session.scalars(select(Answer).where(Answer.attempt_id == attempt.id,
                                                         Answer.question_id == multiple.id)).one()
    # NUMERIC in the database, Decimal in Python: what is stored is exactly what was earned.
    assert answer_row.points == Decimal(points) and isinstance(answer_row.points, Decimal)
    assert stored.score == Decimal(score) and stored.max_score == 4
    assert quizzes.percent_of(stored.score, stored.max_score) == percent
    assert stored.passed is (percent >= 60)


# --- blank questions ---------------------------------------------------------------------------


def test_blank_questions_need_confirmation_and_nothing_is_written_before(take):
    learner, quiz, answer = take()
    attempt = quizzes.start_attempt(learner, quiz)
    db.session.commit()
    with pytest.raises(quizzes.UnansweredQuestions) as caught:
        quizzes.submit_attempt(learner, attempt.id, answer(multiple=["list"]))
    db.session.rollback()
    assert caught.value.numbers == (1, 3)
    assert caught.value.message == "You left questions 1 and 3 unanswered."
    assert db.session.get(Attempt, attempt.id).status == "in_progress"
    assert db.session.scalar(select(func.count(Answer.id))) == 0

    result = quizzes.submit_attempt(learner, attempt.id, answer(multiple=["list"]),
                                    allow_unanswered=True)
    db.session.commit()
    assert result.attempt.status == "submitted" and result.attempt.score == Decimal(0)
    assert db.session.scalar(select(func.count(Answer.id))) == 3


def test_one_blank_question_is_named_alone(take):
    learner, quiz, answer = take()
    attempt = quizzes.start_attempt(learner, quiz)
    with pytest.raises(quizzes.UnansweredQuestions, match=r"^You left question 2 unanswered\.$"):
        quizzes.submit_attempt(learner, attempt.id, answer(single="3", short="type"))


def test_an_invalid_answer_is_reported_before_blank_ones(take):
    learner, quiz, _answer = take()
    attempt = quizzes.start_attempt(learner, quiz)
    single = quiz.questions[0]
    with pytest.raises(ValidationFailed) as caught:
        quizzes.submit_attempt(learner, attempt.id, {f"q{single.id}": ["999999"]})
    assert not isinstance(caught.value, quizzes.UnansweredQuestions)


# --- retakes -----------------------------------------------------------------------------------


def test_a_retake_is_offered_while_attempts_remain_and_the_score_can_improve(take):
    learner, quiz, answer = take(max_attempts=3, pass_percent=50)
    failed = _submit(learner, quiz, answer(single="3.5", multiple=["list"], short="type"))
    result = quizzes.get_attempt_result(learner, failed.id)
    assert (result.attempt.passed, result.percent) == (False, 25)
    assert (result.retake_offered, result.attempts_left) == (True, 2)

    # Passed, but not with full marks: still worth another try.
    passed = _submit(learner, quiz, answer(single="3", multiple=["list"], short="type"))
    result = quizzes.get_attempt_result(learner, passed.id)
    assert (result.attempt.passed, result.percent) == (True, 50)
    assert (result.retake_offered, result.attempts_left) == (True, 1)

    full = _submit(learner, quiz, answer(single="3", multiple=["list", "dict", "set"],
                                         short="type"))
    result = quizzes.get_attempt_result(learner, full.id)
    assert result.record.full_marks
    assert (result.retake_offered, result.attempts_left) == (False, 0)


def test_no_retake_once_the_kept_score_is_full_marks(take):
    learner, quiz, answer = take()  # unlimited attempts
    full = _submit(learner, quiz, answer(single="3", multiple=["list", "dict", "set"],
                                         short="type"))
    worse = _submit(learner, quiz, answer(single="3.5", multiple=["list"], short="len"))
    for attempt in (full, worse):
        result = quizzes.get_attempt_result(learner, attempt.id)
        assert result.attempts_left is None
        assert not result.retake_offered


def test_no_retake_when_no_attempt_is_left(take):
    learner, quiz, answer = take(max_attempts=1)
    attempt = _submit(learner, quiz, answer(single="3.5", multiple=["list"], short="len"))
    result = quizzes.get_attempt_result(learner, attempt.id)
    assert (result.retake_offered, result.attempts_left) == (False, 0)


def test_no_retake_offer_while_an_attempt_is_open(take):
    learner, quiz, answer = take()
    attempt = _submit(learner, quiz, answer(single="3.5", multiple=["list"], short="len"))
    quizzes.start_attempt(learner, quiz)
    db.session.commit()
    assert not quizzes.get_attempt_result(learner, attempt.id).retake_offered
