"""A course's learners as its editors see them: the roster (progress, quizzes,
certificate; search, sort, keyset pages, bad cursors), its CSV (formula cells made text),
one learner's record (progress per lesson and section, attempts with their answers), and
the number of statements each page runs, the same with ten times the learners."""

from __future__ import annotations

import csv
import io
import itertools
import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Course, Quiz, User
from webapp.services import progress, quizzes
from webapp.services.exceptions import ValidationFailed
from webapp.services.insight import roster

_n = itertools.count(1)


def text(response) -> str:
    return response.get_data(as_text=True)


def add_learner(course: Course, email: str | None = None, *, name: str | None = None,
                sections: int = 0, quiz_answer: bool | None = None, attempts: int = 1) -> User:
    """A learner enrolled in ``course`` who completed its first ``sections`` sections and
    answered its quiz ``attempts`` times (True: right, False: wrong, None: never)."""
    from tests.factories import make_user

    learner = make_user(email or f"learner{next(_n)}@example.org", display_name=name)
    progress.enroll(learner, course)
    section_ids = [s.id for m in course.modules for lesson in m.lessons for s in lesson.sections]
    for section_id in section_ids[:sections]:
        progress.complete_section(learner, section_id)
    if quiz_answer is not None:
        quiz = db.session.scalar(select(Quiz).where(Quiz.course_id == course.id))
        question = quiz.questions[0]
        choice = next(c for c in question.choices if c.is_correct == quiz_answer)
        for _ in range(attempts):
            attempt = quizzes.start_attempt(learner, quiz)
            quizzes.submit_attempt(learner, attempt.id, {f"q{question.id}": [str(choice.id)]})
    db.session.commit()
    return learner


@pytest.fixture
def world(app, make_user, make_course, make_quiz):
    """"Loops" (owner@): one module, two lessons of two sections, a graded one-question
    quiz. Ada finished everything (certificate), Bob did one section and failed the quiz,
    "=HYPERLINK(…)" did nothing; out@ is not enrolled; other@ edits another course."""
    with app.app_context():
        owner = make_user("owner@example.org", role="editor", display_name="Owner")
        course = make_course("Loops", owner=owner, modules=1, lessons=2, sections=2)
        make_quiz(course.modules[0])
        make_user("other@example.org", role="editor")
        make_course("Other", owner=db.session.scalar(
            select(User).where(User.email == "other@example.org")))
        add_learner(course, "ada@example.org", name="Ada Lovelace", sections=4, quiz_answer=True)
        add_learner(course, "bob@example.org", name="bob Builder", sections=1, quiz_answer=False)
        add_learner(course, "evil@example.org", name='=HYPERLINK("http://x","y")')
        make_user("out@example.org", display_name="Outsider")
        return {"course_id": course.id, "slug": course.slug}


@pytest.fixture
def owner(app, client, login, world):
    assert login(client, "owner@example.org", DEFAULT_PASSWORD).status_code == 303
    return client


def base(world) -> str:
    return f"/edit/courses/{world['course_id']}/insight"


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


# --- the roster page -----------------------------------------------------------------------


def test_the_roster_shows_progress_quizzes_and_certificate(app, owner, world):
    response = owner.get(f"{base(world)}/learners")
    assert response.status_code == 200
    page = text(response)
    assert "3 learners enrolled" in page
    assert "Ada Lovelace" in page and "100% <small>(4 of 4)" in page
    assert "bob Builder" in page and "25% <small>(1 of 4)" in page
    assert "&#34;http://x&#34;" in page or "&quot;http://x&quot;" in page  # escaped
    assert "Outsider" not in page
    with app.app_context():
        rows = {r.email: r for r in roster.roster_page(
            db.session.get(Course, world["course_id"])).rows}
    assert rows["ada@example.org"].quizzes_passed == 1
    assert rows["ada@example.org"].quizzes_total == 1
    assert rows["ada@example.org"].certificate_at is not None
    assert rows["bob@example.org"].quizzes_passed == 0
    assert rows["bob@example.org"].certificate_at is None
    # The tab and the insight navigation lead here.
    assert 'aria-current="page">Learners &amp; results</a>' in page
    assert 'aria-current="page">Learners</a>' in page


def test_search_is_by_name_or_email_in_any_case(owner, world):
    page = text(owner.get(f"{base(world)}/learners?q=BOB"))
    assert "bob Builder" in page and "Ada Lovelace" not in page
    page = text(owner.get(f"{base(world)}/learners?q=ada@EXAMPLE"))
    assert "Ada Lovelace" in page and "bob Builder" not in page
    page = text(owner.get(f"{base(world)}/learners?q=%25"))  # LIKE's wildcard, literally
    assert "name or email contains “%”" in page


def test_an_empty_course_says_nobody_is_enrolled(app, client, login, make_user, make_course):
    with app.app_context():
        owner = make_user("solo@example.org", role="editor")
        course_id = make_course("Empty", owner=owner).id
    login(client, "solo@example.org", DEFAULT_PASSWORD)
    page = text(client.get(f"/edit/courses/{course_id}/insight/learners"))
    assert "Nobody is enrolled in this course yet." in page


@pytest.mark.parametrize("sort", sorted(roster.SORTS))
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_keyset_pages_list_everyone_once_in_order(app, world, sort, order):
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        for k in range(4):  # ties: same progress, same names
            add_learner(course, name="Same Name", sections=k % 2)
        query = roster.roster_query("", sort, order)
        seen, after = [], None
        while True:
            page = roster.roster_page(course, query, after=after, page_size=2)
            seen += page.rows
            after = page.next_cursor
            if after is None:
                break
        everyone = roster.roster_page(course, query, page_size=100).rows
    assert [r.user_id for r in seen] == [r.user_id for r in everyone]
    assert len({r.user_id for r in seen}) == 7
    key = {"name": lambda r: r.display_name.lower(), "enrolled": lambda r: r.enrolled_at,
           "activity": lambda r: r.last_activity_at, "progress": lambda r: r.sections_done}[sort]
    values = [key(r) for r in seen]
    assert values == sorted(values, reverse=order == "desc")


def test_progress_sort_puts_the_furthest_first(owner, world):
    page = text(owner.get(f"{base(world)}/learners?sort=progress&order=desc"))
    assert page.index("Ada Lovelace") < page.index("bob Builder") < page.index("HYPERLINK")


@pytest.mark.parametrize("query", [
    "after=nonsense", "after=W10", "after=WzEsMV0", "after=WyJ4Il0", "after=" + "A" * 700,
    "sort=enrolled&after=WyJub3QgYSBkYXRlIiwxXQ", "sort=progress&after=WyJ4IiwxXQ",
    "after=WyJ4Iiw5OTk5OTk5OTk5OTk5XQ", "sort=shoe", "order=sideways", "q=" + "x" * 300,
])
def test_bad_links_are_a_400_page(owner, world, query):
    response = owner.get(f"{base(world)}/learners?{query}")
    assert response.status_code == 400, query
    assert "Bad request" in text(response)


def test_nul_bytes_and_huge_ids_never_reach_the_database(owner, world):
    assert owner.get(f"{base(world)}/learners?q=a%00b").status_code == 400
    assert owner.get(f"{base(world)}/learners/99999999999999999999").status_code == 404
    assert owner.get(f"{base(world)}/learners/2147483647").status_code == 404


def test_a_cursor_is_checked_at_the_edge(app, world):
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        with pytest.raises(ValidationFailed):
            roster.roster_page(course, roster.roster_query("", "enrolled", ""),
                               after="WyIyMDI0LTAxLTAxVDAwOjAwOjAwIiwxXQ")  # naive time


# --- the CSV ------------------------------------------------------------------------------


def test_the_csv_has_every_learner_and_neutralizes_formulas(owner, world):
    response = owner.get(f"{base(world)}/learners.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith(f"attachment; filename={world['slug']}-learners-")
    rows = list(csv.reader(io.StringIO(text(response))))
    assert rows[0] == list(roster.CSV_HEADER)
    by_email = {row[1]: row for row in rows[1:]}
    assert set(by_email) == {"ada@example.org", "bob@example.org", "evil@example.org"}
    assert by_email["evil@example.org"][0] == "'=HYPERLINK(\"http://x\",\"y\")"
    ada = by_email["ada@example.org"]
    assert ada[4:11][:3] == ["4", "4", "100"] and ada[7:10] == ["1", "1", "yes"]
    assert by_email["bob@example.org"][4:10] == ["1", "4", "25", "0", "1", "no"]


def test_the_csv_keeps_the_search(owner, world):
    rows = list(csv.reader(io.StringIO(text(owner.get(f"{base(world)}/learners.csv?q=bob")))))
    assert [row[1] for row in rows[1:]] == ["bob@example.org"]


def test_csv_cells_starting_with_formula_characters_are_text(app, world):
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        for name in ("+SUM(A1)", "-2+3", "@cmd", "\tTab"):
            add_learner(course, name=name)
        out = "".join(roster.roster_csv(course))
    names = [row[0] for row in csv.reader(io.StringIO(out))][1:]
    for cell in names:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# --- one learner ---------------------------------------------------------------------------


def test_a_learners_page_shows_sections_and_every_answer(app, owner, world):
    bob = user_id(app, "bob@example.org")
    with app.app_context():
        # Bob answers once more, right this time.
        course = db.session.get(Course, world["course_id"])
        learner = db.session.get(User, bob)
        quiz = db.session.scalar(select(Quiz).where(Quiz.course_id == course.id))
        question = quiz.questions[0]
        right = next(c for c in question.choices if c.is_correct)
        attempt = quizzes.start_attempt(learner, quiz)
        quizzes.submit_attempt(learner, attempt.id, {f"q{question.id}": [str(right.id)]})
        db.session.commit()
    response = owner.get(f"{base(world)}/learners/{bob}")
    assert response.status_code == 200
    page = text(response)
    assert "bob@example.org" in page and "25% (1 of 4 sections)" in page
    assert page.count("<strong>completed</strong>") == 1
    assert page.count("not completed") == 3
    assert "In progress" in page and "Not started" in page
    assert "attempt 1" in page and "attempt 2" in page
    assert "<strong>not passed</strong>" in page and "<strong>passed</strong>" in page
    assert "<td>False</td>" in page and "<td>True</td>" in page
    assert "Wrong (0 of 1)" in page and "Correct (1 of 1)" in page


def test_only_enrolled_learners_have_a_page(app, owner, world):
    assert owner.get(f"{base(world)}/learners/{user_id(app, 'out@example.org')}"
                     ).status_code == 404
    assert owner.get(f"{base(world)}/learners/{user_id(app, 'owner@example.org')}"
                     ).status_code == 404


# --- statements per page --------------------------------------------------------------------


def grow(app, world, learners: int) -> None:
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        for k in range(learners):
            add_learner(course, sections=k % 5, quiz_answer=(k % 2 == 0) if k % 3 else None)


def count(query_counter, client, url: str) -> int:
    client.get(url)
    with query_counter() as counted:
        response = client.get(url)
        response.get_data()
    assert response.status_code == 200, url
    return counted.n


def test_statements_stay_the_same_with_ten_times_the_learners(app, owner, world,
                                                             query_counter):
    urls = [f"{base(world)}/learners", f"{base(world)}/learners?sort=progress",
            f"{base(world)}/learners?sort=activity&order=asc&q=example",
            f"{base(world)}/learners.csv"]
    grow(app, world, 2)  # 5 learners
    before = [count(query_counter, owner, url) for url in urls]
    grow(app, world, 45)  # 50 learners
    after = [count(query_counter, owner, url) for url in urls]
    assert before == after
    assert "50 learners enrolled" in text(owner.get(urls[0]))


def test_a_learners_page_runs_the_same_statements_with_ten_times_the_attempts(
        app, owner, world, query_counter):
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        few = add_learner(course, sections=1, quiz_answer=False, attempts=1).id
        many = add_learner(course, sections=4, quiz_answer=False, attempts=10).id
    assert (count(query_counter, owner, f"{base(world)}/learners/{few}")
            == count(query_counter, owner, f"{base(world)}/learners/{many}"))


# --- valid HTML ---------------------------------------------------------------------------


def test_the_learners_pages_are_valid_html(app, owner, world, tmp_path):
    """The roster (full and empty), a learner's page, the unenroll confirmation, the
    enroll form and its report pass the Nu Html Checker."""
    import json
    import shutil
    import subprocess

    from tests.web.test_html_valid import VNU_JAR

    java = shutil.which("java")
    if not VNU_JAR.is_file() or not java:
        pytest.skip("the Nu Html Checker is not installed (see tests/web/test_html_valid.py)")
    bob = user_id(app, "bob@example.org")
    pages = {
        "roster": f"{base(world)}/learners",
        "roster-empty": f"{base(world)}/learners?q=nobody-at-all",
        "learner": f"{base(world)}/learners/{bob}",
        "unenroll": f"{base(world)}/learners/{bob}/unenroll",
        "enroll": f"{base(world)}/enroll",
    }
    files = {}
    for name, path in pages.items():
        response = owner.get(path)
        assert response.status_code == 200, path
        (tmp_path / f"{name}.html").write_text(text(response))
        files[f"{name}.html"] = path
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(owner.get(pages["enroll"])))
    report = owner.post(pages["enroll"], data={"csrf_token": token.group(1),
                                               "addresses": "ada@example.org\nnope\nx@y.org"})
    assert report.status_code == 200
    (tmp_path / "report.html").write_text(text(report))
    files["report.html"] = "enroll report"
    result = subprocess.run([java, "-Xss4m", "-jar", str(VNU_JAR), "--format", "json",
                             "--errors-only", *sorted(str(tmp_path / n) for n in files)],
                            capture_output=True, text=True, timeout=300, check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{files[m['url'].rsplit('/', 1)[-1]]}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == [], "\n".join(errors)
