"""The gradebook: best or last score per the quiz author's choice, pass marks, attempts
used, learners by name with search and keyset pages, a CSV that matches the page and
opens safely in a spreadsheet, and a fixed number of statements as learners grow."""

from __future__ import annotations

import csv
import io
import re

import pytest

from tests.factories import DEFAULT_PASSWORD
from tests.insight._attempts import add_attempt
from webapp.extensions import db
from webapp.models import Quiz
from webapp.services.insight import gradebook
from webapp.services.quizzes import QuestionSpec


def tf(n: int) -> list[QuestionSpec]:
    return [QuestionSpec("true_false", f"Statement {i}.",
                         choices=[("True", True), ("False", False)])
            for i in range(1, n + 1)]


@pytest.fixture
def world(app, make_user, make_course, make_quiz, make_learner):
    """Quiz A (module 1, best, 3 attempts, pass 50 %), quiz B (module 2, last, unlimited,
    pass 60 %), a practice quiz (not graded: no column); learners Ada, Bob, Zoé."""
    with app.app_context():
        editor = make_user("editor@example.org", role="editor", display_name="Edna")
        course = make_course("Grades", modules=2, lessons=1, sections=1, owner=editor)
        # Made in reverse module order: columns follow the course, not the ids.
        quiz_b = make_quiz(course.modules[1], key="b", title="-Quiz B", questions=tf(4),
                           pass_percent=60)
        quiz_a = make_quiz(course.modules[0], key="a", title="Quiz A", questions=tf(4),
                           pass_percent=50, max_attempts=3)
        make_quiz(course.modules[0], key="p", title="Warm-up", questions=tf(1),
                  mode="practice")
        db.session.get(Quiz, quiz_b.id).gradebook_score = "last"
        db.session.commit()
        ada = make_learner("ada@example.org", display_name="ada", enrolled_in=course)
        bob = make_learner("bob@example.org", display_name="Bob", enrolled_in=course)
        make_learner("zoe@example.org", display_name="Zoé", enrolled_in=course)
        make_learner("outsider@example.org", display_name="Out")  # not enrolled
        qa = db.session.get(Quiz, quiz_a.id).questions
        qb = db.session.get(Quiz, quiz_b.id).questions

        def right(questions, k):
            return {q: i < k for i, q in enumerate(questions)}

        add_attempt(ada, quiz_a, right(qa, 1), number=1)   # 25 %
        add_attempt(ada, quiz_a, right(qa, 3), number=2)   # 75 %: the best
        add_attempt(ada, quiz_a, right(qa, 2), number=3)   # 50 %
        add_attempt(ada, quiz_b, right(qb, 4), number=1)   # 100 %
        add_attempt(ada, quiz_b, right(qb, 1), number=2)   # 25 %: the last
        add_attempt(bob, quiz_a, {}, number=1, submitted=False)
        return {"course": course.id, "a": quiz_a.id, "b": quiz_b.id}


@pytest.fixture
def editor(client, login, world):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    return client


def url(world, tail=""):
    return f"/edit/courses/{world['course']}/insight/gradebook{tail}"


def test_cells_follow_best_or_last_and_the_pass_mark(app, world):
    with app.app_context():
        from webapp.models import Course
        page = gradebook.gradebook_page(db.session.get(Course, world["course"]))
    assert [c.title for c in page.columns] == ["Quiz A", "-Quiz B"]
    assert [(c.gradebook_score, c.pass_percent) for c in page.columns] == [("best", 50),
                                                                          ("last", 60)]
    assert [r.name for r in page.rows] == ["ada", "Bob", "Zoé"]
    ada, bob, zoe = page.rows
    assert ada.cells[world["a"]] == gradebook.Cell(75, True, 3, 3)
    assert ada.cells[world["b"]] == gradebook.Cell(25, False, 2, None)
    assert bob.cells == {world["a"]: gradebook.Cell(None, None, 1, 3)}
    assert zoe.cells == {}
    assert page.next_after is None


def test_the_page_shows_the_cells_and_headers(editor, world):
    html = editor.get(url(world)).get_data(as_text=True)
    assert "pass mark 50 % · best attempt · 3 allowed" in html
    assert "pass mark 60 % · last attempt · unlimited" in html
    assert "<strong>75 %</strong>" in html and "3 of 3 attempts" in html
    assert "<strong>25 %</strong>" in html and "2 of ∞ attempts" in html
    assert "not submitted" in html and "1 of 3 attempts" in html
    assert "Warm-up" not in html and "Out<br>" not in html
    assert f'href="/edit/courses/{world["course"]}/insight/difficulty"' in html


def test_search_and_keyset_pages(app, editor, world):
    html = editor.get(url(world, "?q=BOB")).get_data(as_text=True)
    assert "bob@example.org" in html and "ada@example.org" not in html
    html = editor.get(url(world, "?q=nobody-like-this")).get_data(as_text=True)
    assert "No learner" in html
    with app.app_context():
        from webapp.models import Course
        course = db.session.get(Course, world["course"])
        first = gradebook.gradebook_page(course, page_size=2)
        assert [r.name for r in first.rows] == ["ada", "Bob"]
        second = gradebook.gradebook_page(course, after=first.next_after, page_size=2)
        assert [r.name for r in second.rows] == ["Zoé"] and second.next_after is None
    # The page links to the next learners by the last one's id.
    page = editor.get(url(world, f"?after={first.next_after}")).get_data(as_text=True)
    assert "zoe@example.org" in page and "ada@example.org" not in page


@pytest.mark.parametrize("tail", ["?after=abc", "?after=-1", "?after=99999999999",
                                  "?after=2147483647", "?q=" + "x" * 5000, "?q=%25_%5C"])
def test_odd_parameters_never_fail(editor, world, tail):
    assert editor.get(url(world, tail)).status_code == 200
    assert editor.get(url(world, ".csv" + tail)).status_code == 200


def test_nul_in_search_is_refused(editor, world):
    assert editor.get(url(world, "?q=a%00b")).status_code == 400


def page_percents(html: str) -> dict[str, list[str]]:
    """Learner name -> the percent shown in each quiz column ('' for none)."""
    found = {}
    for row in re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", html, re.S):
        name = row.split("<br>")[0]
        found[name] = re.findall(r"<td(?: data-percent=\"([^\"]*)\")?>", row)
    return found


def test_csv_matches_the_page_and_is_safe_for_spreadsheets(app, editor, world):
    with app.app_context():
        from webapp.models import User
        user = db.session.scalar(db.select(User).where(User.email == "zoe@example.org"))
        user.display_name = "=HYPERLINK(\"x\")"
        db.session.commit()
    response = editor.get(url(world, ".csv"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == "attachment; filename=grades-gradebook.csv"
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == ["name", "email", "Quiz A (%)", "Quiz A passed", "Quiz A attempts",
                       "'-Quiz B (%)", "'-Quiz B passed", "'-Quiz B attempts"]
    assert rows[1:] == [  # "=" sorts before letters
        ["'=HYPERLINK(\"x\")", "zoe@example.org", "", "", "", "", "", ""],
        ["ada", "ada@example.org", "75", "yes", "3 of 3", "25", "no", "2 of ∞"],
        ["Bob", "bob@example.org", "", "", "1 of 3", "", "", ""],
    ]
    shown = page_percents(editor.get(url(world)).get_data(as_text=True))
    assert shown.pop("=HYPERLINK(&#34;x&#34;)") == ["", ""]
    assert {name: percents for name, percents in shown.items()} == {
        row[0]: [row[2], row[5]] for row in rows[2:]}


def test_csv_cell_neutralizes_formula_starts():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert gradebook.csv_cell(text) == "'" + text
    assert gradebook.csv_cell("Zoé") == "Zoé" and gradebook.csv_cell(None) == ""


def test_statements_do_not_grow_with_learners(app, editor, world, make_learner,
                                               query_counter):
    def grow(n):
        with app.app_context():
            from webapp.models import Course
            course = db.session.get(Course, world["course"])
            quiz_a, quiz_b = db.session.get(Quiz, world["a"]), db.session.get(Quiz, world["b"])
            for _ in range(n):
                learner = make_learner(enrolled_in=course)
                add_attempt(learner, quiz_a, {q: True for q in quiz_a.questions})
                add_attempt(learner, quiz_b, {q: False for q in quiz_b.questions})
                add_attempt(learner, quiz_b, {q: True for q in quiz_b.questions}, number=2)

    def count(path):
        editor.get(path)
        with query_counter() as counted:
            assert editor.get(path).status_code == 200
        return counted.n

    grow(3)
    before = count(url(world)), count(url(world, ".csv"))
    grow(30)
    assert (count(url(world)), count(url(world, ".csv"))) == before


def test_the_author_chooses_best_or_last(app, world):
    from webapp.models import User
    from webapp.services import quiz_authoring as qa
    from webapp.services.exceptions import ValidationFailed
    with app.app_context():
        editor = db.session.scalar(db.select(User).where(User.email == "editor@example.org"))
        quiz = db.session.get(Quiz, world["a"])
        settings = {"key": quiz.key, "title": quiz.title, "pass_percent": quiz.pass_percent,
                    "max_attempts": quiz.max_attempts}
        assert qa.update_quiz_settings(editor, quiz, gradebook_score="last", **settings)
        db.session.commit()
        assert db.session.get(Quiz, world["a"]).gradebook_score == "last"
        with pytest.raises(ValidationFailed):
            qa.update_quiz_settings(editor, quiz, gradebook_score="worst", **settings)
