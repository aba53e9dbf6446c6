"""What is hard: quiz figures (pass rate, medians odd and even), per-question percent
correct, choices picked, discrimination on a constructed case, flags, the hardest
question, 404 for another course's quiz, and statements constant as learners grow."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tests.factories import DEFAULT_PASSWORD
from tests.insight._attempts import add_attempt
from webapp.extensions import db
from webapp.models import Course, Quiz
from webapp.services.insight import difficulty
from webapp.services.quizzes import QuestionSpec

TF = [("True", True), ("False", False)]


@pytest.fixture
def world(app, make_user, make_course, make_quiz, make_learner):
    """Quiz H: Q1 single choice (A right; B, C wrong), Q2-Q4 true/false; pass mark 75 %.

    Twelve learners' first attempts: 0-2 (top) get Q1, Q3, Q4 right (75 %); 3-8 pick C
    and get Q3, Q4 right (50 %); 9-11 (bottom) pick B and get Q2, Q4 right (50 %).
    Learner 9's second attempt: Q1, Q3, Q4 right (75 %). Times: learner i 10·(i+1) s,
    the second attempt 1000 s. Quiz E: two attempts, 50 % in 30 s and 100 % in 91 s.
    """
    with app.app_context():
        make_user("editor@example.org", role="editor")
        from webapp.models import User
        editor = db.session.scalar(db.select(User).where(User.email == "editor@example.org"))
        course = make_course("Hard", modules=2, lessons=1, sections=1, owner=editor)
        quiz = make_quiz(course.modules[0], key="h", title="Quiz H", pass_percent=75,
                         questions=[
                             QuestionSpec("single", "Pick A.",
                                          choices=[("A", True), ("B", False), ("C", False)]),
                             QuestionSpec("true_false", "Q2 is `tricky`.", choices=TF),
                             QuestionSpec("true_false", "Q3.", choices=TF),
                             QuestionSpec("true_false", "Q4 is easy.", choices=TF)])
        even = make_quiz(course.modules[1], key="e", title="Quiz E",
                         questions=[QuestionSpec("true_false", "E1.", choices=TF),
                                    QuestionSpec("true_false", "E2.", choices=TF)])
        q1, q2, q3, q4 = db.session.get(Quiz, quiz.id).questions
        a, b, c = q1.choices
        learners = [make_learner(f"l{i}@example.org", enrolled_in=course) for i in range(12)]
        for i, learner in enumerate(learners):
            if i < 3:
                picks = {q1: a, q2: False, q3: True, q4: True}
            elif i < 9:
                picks = {q1: c, q2: False, q3: True, q4: True}
            else:
                picks = {q1: b, q2: True, q3: False, q4: True}
            add_attempt(learner, quiz, picks, seconds=10 * (i + 1))
        add_attempt(learners[9], quiz, {q1: a, q2: False, q3: True, q4: True}, number=2,
                    seconds=1000)
        e1, e2 = db.session.get(Quiz, even.id).questions
        add_attempt(learners[0], even, {e1: True, e2: False}, seconds=30)
        add_attempt(learners[1], even, {e1: True, e2: True}, seconds=91)
        other = make_course("Elsewhere", modules=1, lessons=1, sections=1)
        foreign = make_quiz(other.modules[0], key="x")
        return {"course": course.id, "quiz": quiz.id, "even": even.id, "foreign": foreign.id,
                "q": [q1.id, q2.id, q3.id, q4.id], "choices": [a.id, b.id, c.id]}


@pytest.fixture
def editor(client, login, world):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    return client


def base(world):
    return f"/edit/courses/{world['course']}/insight/difficulty"


def test_quiz_figures_and_medians(app, world):
    with app.app_context():
        found = difficulty.overview(db.session.get(Course, world["course"]))
    h, e = found.quizzes
    assert (h.title, h.submitted, h.passed, h.pass_rate) == ("Quiz H", 13, 4, 31)
    assert h.median_percent == 50  # 13 attempts (odd): the 7th of 9 x 50 %, 4 x 75 %
    assert h.median_seconds == 70  # 10, 20 … 120, 1000: the 7th
    assert (e.submitted, e.median_percent, e.median_seconds) == (2, 75, Fraction(121, 2))
    hardest = found.hardest
    assert (hardest.question_id, hardest.answers, hardest.percent_correct) == (
        world["q"][1], 13, 23)


def test_median_helper_odd_and_even():
    assert difficulty.median([]) is None
    assert difficulty.median([Fraction(3), Fraction(1), Fraction(2)]) == 2
    assert difficulty.median([Fraction(4), Fraction(1), Fraction(2), Fraction(10)]) == 3


def test_questions_choices_and_discrimination(app, world):
    with app.app_context():
        detail = difficulty.quiz_detail(db.session.get(Course, world["course"]), world["quiz"])
    assert (detail.first_attempts, detail.group_size) == (12, 3)  # 27 % of 12, rounded
    q1, q2, q3, q4 = detail.questions
    assert [(q.answers, q.correct, q.percent_correct) for q in detail.questions] == [
        (13, 4, 31), (13, 3, 23), (13, 10, 77), (13, 13, 100)]
    assert [(ch.text, ch.chosen, ch.most_chosen_wrong) for ch in q1.choices] == [
        ("A", 4, False), ("B", 3, False), ("C", 6, True)]
    # First attempts only: learner 9's second attempt does not move anyone's group.
    assert (q1.discrimination, q2.discrimination, q3.discrimination, q4.discrimination) == (
        1, -1, 1, 0)
    assert q1.flags == [] and q3.flags == []
    assert q2.flags == [difficulty.FLAG_REVERSED]
    assert q4.flags == [difficulty.FLAG_EVERYONE, difficulty.FLAG_NO_SEPARATION]


def test_flags_need_enough_answers():
    def stat(answers, correct, d=None):
        return difficulty.QuestionStat(1, 1, "true_false", "?", answers, correct,
                                       discrimination=d)
    assert stat(10, 1).flags == [difficulty.FLAG_NOBODY]
    assert stat(9, 0).flags == [] and stat(9, 9).flags == []
    assert stat(20, 19).flags == [difficulty.FLAG_EVERYONE]
    assert stat(20, 18).flags == []
    assert stat(20, 10, Fraction(1, 10)).flags == []
    assert stat(20, 10, Fraction(9, 100)).flags == [difficulty.FLAG_NO_SEPARATION]


def test_the_pages(editor, world):
    html = editor.get(base(world)).get_data(as_text=True)
    assert "The hardest question" in html and "Q2 is tricky." in html
    assert "23 % of 13 answers were right" in html
    assert "31 % (4)" in html and "50 %" in html and "1 min 10 s" in html
    assert "75 %" in html and "1 min 1 s" in html  # 60.5 s, halves up
    assert f'{base(world)}/{world["quiz"]}"' in html and "/insight/gradebook" in html
    page = editor.get(f"{base(world)}/{world['quiz']}").get_data(as_text=True)
    assert page.count("<svg") == 4  # a chart for each choice question
    assert "the wrong choice picked most" in page
    assert "+1.00" in page and "-1.00" in page and "+0.00" in page
    assert "Stronger learners get it wrong more" in page
    # Prompts are Markdown: rendered on the quiz's page, plain words in the overview.
    assert "Q2 is <code>tricky</code>." in page and "`tricky`" not in page + html
    assert "Everyone gets this right" in page
    few = editor.get(f"{base(world)}/{world['even']}").get_data(as_text=True)
    assert "<dt>Discrimination</dt><dd>—</dd>" in few


@pytest.mark.parametrize("tail", ["/{foreign}", "/99999999999", "/2147483647", "/abc", "/-1"])
def test_bad_quiz_ids_are_not_found(editor, world, tail):
    assert editor.get(base(world) + tail.format(**world)).status_code == 404


def test_statements_do_not_grow_with_learners(app, editor, world, make_learner,
                                               query_counter):
    def grow(n):
        with app.app_context():
            course = db.session.get(Course, world["course"])
            quiz = db.session.get(Quiz, world["quiz"])
            a, b, _c = quiz.questions[0].choices
            for i in range(n):
                learner = make_learner(enrolled_in=course)
                picks = {q: bool(i % 2) for q in quiz.questions[1:]}
                picks[quiz.questions[0]] = a if i % 2 else b
                add_attempt(learner, quiz, picks, seconds=5 + i)

    def count(path):
        editor.get(path)
        with query_counter() as counted:
            assert editor.get(path).status_code == 200
        return counted.n

    pages = [base(world), f"{base(world)}/{world['quiz']}"]
    grow(3)
    before = [count(p) for p in pages]
    grow(30)
    assert [count(p) for p in pages] == before
