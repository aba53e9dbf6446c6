"""A learner takes a graded quiz in Chromium, with and without JavaScript: no "Check
answer" anywhere, code in the questions shown as code, a confirmation when a question is
left blank (going back keeps the answers), then a result page that says pass or fail with
the score and the pass mark, and offers another try while attempts remain. The
confirmation and result pages pass axe."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import Account, BrowserLog
from tests.factories import enroll, make_course, make_quiz
from webapp.extensions import db
from webapp.models import User
from webapp.services import courses
from webapp.services.quizzes import QuestionSpec

AXE = Axe()
QUIZ_TITLE = "Check: lists"
QUESTIONS = [
    QuestionSpec("single", "What does `len([1, 2, 3])` return?",
                 explanation="`len` counts the items.",
                 choices=[("`3`", True), ("`2`", False)]),
    QuestionSpec("true_false", "The body of this loop runs three times:\n\n```python\n"
                 "count = 0\nwhile count < 3:\n    count += 1\n```",
                 explanation="`count` goes 0, 1, 2, then the condition is false.",
                 choices=[("True", True), ("False", False)]),
    QuestionSpec("single", "Which method adds one item to the end of a list?",
                 explanation="`append` adds one item; `extend` adds many.",
                 choices=[("`append`", True), ("`extend`", False), ("`insert`", False)]),
]


@pytest.fixture
def quiz_path(app: Flask, account: Account) -> str:
    """A graded quiz of three questions, two attempts, in a course the learner is in."""
    with app.app_context():
        course = make_course("Python lists", modules=1, lessons=1, publish=False)
        quiz = make_quiz(course.modules[0], title=QUIZ_TITLE, commit=False, max_attempts=2,
                         questions=QUESTIONS)
        courses.publish_course(None, course)
        db.session.commit()
        enroll(db.session.scalar(db.select(User).filter_by(email=account.email)), course)
        return f"/quizzes/{quiz.id}"


def _axe(page: Page, name: str) -> str:
    results = AXE.run(page)
    return "" if results.violations_count == 0 else f"--- {name}\n{results.generate_report()}"


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_a_graded_quiz_confirms_blank_answers_and_shows_pass_or_fail(
    request: pytest.FixtureRequest, page: Page, browser_log: BrowserLog, account: Account,
    quiz_path: str, js: bool, sign_in,
) -> None:
    if not js:
        page = request.getfixturevalue("no_js_page")
    sign_in(page, account.email, account.password)
    page.goto(quiz_path)
    main = page.get_by_role("main")
    expect(main).to_contain_text("Graded quiz:")
    main.get_by_role("button", name="Start the quiz", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(QUIZ_TITLE)
    expect(main.get_by_role("button", name="Check answer")).to_have_count(0)
    first = main.get_by_role("group", name=re.compile(r"Question 1 .*len\(\[1, 2, 3\]\)"))
    expect(first.locator(".question-prompt code")).to_have_text("len([1, 2, 3])")
    second = main.get_by_role("group", name=re.compile("Question 2"))
    expect(second.locator(".question-prompt pre")).to_contain_text("while count < 3:")
    third = main.get_by_role("group", name=re.compile("Question 3"))
    first.get_by_label("3").check()
    third.get_by_label("extend").check()  # wrong
    main.get_by_role("button", name="Submit answers").click()

    # Question 2 was left blank: nothing is submitted before the learner confirms.
    expect(page.get_by_role("heading", level=2)).to_have_text("You left question 2 unanswered.")
    expect(main.locator(".unanswered-questions pre")).to_contain_text("while count < 3:")
    report = _axe(page, "confirmation") if js else ""
    main.get_by_role("button", name="Go back and answer it").click()
    expect(page).to_have_url(re.compile(r"/attempts/\d+#question-\d+$"))
    expect(first.get_by_label("3")).to_be_checked()
    expect(third.get_by_label("extend")).to_be_checked()
    main.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", level=2)).to_have_text("You left question 2 unanswered.")
    main.get_by_role("button", name="Submit anyway").click()

    expect(page).to_have_url(re.compile(r"/attempts/\d+/result$"))
    verdict = main.get_by_role("heading", level=2, name="Not passed")
    expect(verdict).to_be_visible()
    expect(main.locator(".result-score")).to_contain_text("Your score: 33 % (1 of 3 points).")
    expect(main.locator(".result-score")).to_contain_text("The pass mark is 70 %.")
    expect(main.get_by_text("You have 1 attempt left; your best score is kept.")).to_be_visible()
    expect(main.get_by_text("no answer")).to_be_visible()
    # Feedback after submit (the default): which answers were right, and why.
    expect(main.get_by_text("`append` adds")).to_have_count(0)
    expect(main.locator(".explanation code").first).to_have_text("len")
    if js:
        report += _axe(page, "result")
        assert report == "", report
        browser_log.assert_clean()

    main.get_by_role("button", name="Try again", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("attempt 2")
    first.get_by_label("3").check()
    second.get_by_label("True").check()
    third.get_by_label("append").check()
    main.get_by_role("button", name="Submit answers").click()
    expect(main.get_by_role("heading", level=2, name="You passed")).to_be_visible()
    expect(main.locator(".result-score")).to_contain_text("100 %")
    expect(main.get_by_role("button", name=re.compile("Try again"))).to_have_count(0)
