"""Questions and answers in a real browser: a learner asks about a section from the lesson
page (similar questions appear while the title is typed), another learner votes with htmx
(the score changes without a reload) and answers, the asker accepts. Hostile Markdown in a
question runs nothing. Without JavaScript the same vote is a form post and a redirect."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.browser import TIMEOUT_MS, BrowserLog
from tests.factories import DEFAULT_PASSWORD, make_course, make_learner
from tests.xss_corpus import worst_vectors
from webapp.extensions import db
from webapp.models import SiteSetting, User
from webapp.services.community import qa

LESSON_PATH = "/courses/loops/lessons/lesson-1-1"


@pytest.fixture
def loops(app: Flask) -> None:
    """The course "Loops"; Ann and Bob enrolled; one earlier question about "infinite"."""
    with app.app_context():
        course = make_course("Loops", modules=1, lessons=1, sections=3)
        ann = make_learner("ann@example.org", enrolled_in=[course], display_name="Ann Asker")
        make_learner("bob@example.org", enrolled_in=[course], display_name="Bob Helper")
        db.session.add(SiteSetting(key="newcomer_days", value="0"))
        db.session.add(SiteSetting(key="newcomer_posts", value="0"))
        qa.ask_question(ann, course, title="Are infinite loops ever useful?", body="Asking.")
        db.session.commit()


@pytest.fixture
def bob_page(new_context) -> Page:
    ctx: BrowserContext = new_context()
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx.new_page()


def _score(page: Page, widget_id: str):
    return page.locator(f"#{widget_id} [data-score]")


def test_ask_about_a_section_vote_answer_and_accept(
    page: Page, bob_page: Page, loops, browser_log: BrowserLog, sign_in,
):
    sign_in(page, "ann@example.org", DEFAULT_PASSWORD)
    page.goto(LESSON_PATH)
    page.get_by_role("link", name=re.compile(r"^Ask about this section\W+Step 2$")).click()
    expect(page.get_by_text("About the section")).to_contain_text("Step 2")
    page.get_by_label("Title").press_sequentially("Why is my infinite loop slow?", delay=10)
    similar = page.locator("#similar-questions")
    expect(similar.get_by_role("link", name="Are infinite loops ever useful?")).to_be_visible()
    page.get_by_label("Details").fill("It runs `while True:` forever.")
    page.get_by_role("button", name="Post your question").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Why is my infinite loop slow?")
    expect(page.get_by_role("link", name=re.compile("section “Step 2”"))).to_be_visible()
    question_url = page.url

    sign_in(bob_page, "bob@example.org", DEFAULT_PASSWORD)
    bob_page.goto(question_url)
    question_id = question_url.rsplit("/", 1)[1]
    widget = f"vote-question-{question_id}"
    # A marker that a reload would wipe: htmx swaps the widget, the page stays.
    bob_page.evaluate("window.notReloaded = true")
    bob_page.locator(f"#{widget}").get_by_role("button", name="Vote up this question").click()
    expect(_score(bob_page, widget)).to_have_text("Score: 1")
    expect(bob_page.locator(f"#{widget}").get_by_role("button", name="Vote up this question")
           ).to_have_attribute("aria-pressed", "true")
    bob_page.locator(f"#{widget}").get_by_role("button", name="Vote down this question").click()
    expect(_score(bob_page, widget)).to_have_text("Score: -1")
    assert bob_page.evaluate("window.notReloaded") is True
    bob_page.get_by_label("Your answer").fill("Add a `sleep`:\n\n```python\ntime.sleep(1)\n```")
    bob_page.get_by_role("button", name="Post your answer").click()
    expect(bob_page.locator("article.qa-answer")).to_contain_text("time.sleep(1)")

    page.reload()
    answer = page.locator("article.qa-answer")
    expect(answer).to_contain_text("Bob Helper")
    answer_widget = answer.locator(".qa-vote")
    page.evaluate("window.notReloaded = true")
    answer_widget.get_by_role("button", name="Vote up this answer").click()
    expect(answer.locator("[data-score]")).to_have_text("Score: 1")
    assert page.evaluate("window.notReloaded") is True
    answer.get_by_role("button", name=re.compile("^Accept")).click()
    expect(page.locator("article.qa-answer")).to_contain_text("Accepted answer")
    expect(page.locator("article.qa-answer").get_by_role("button", name="Unaccept")
           ).to_be_visible()
    # The lesson page lists the question.
    page.goto(LESSON_PATH)
    expect(page.locator("#questions").get_by_role("link", name="Why is my infinite loop slow?")
           ).to_be_visible()
    browser_log.assert_clean()


def test_hostile_markdown_in_a_question_runs_nothing(
    page: Page, app: Flask, loops, browser_log: BrowserLog, sign_in,
):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "ann@example.org", DEFAULT_PASSWORD)
    page.goto("/courses/loops/questions/ask")
    body = "\n\n".join(source.replace("\x00", "") for _, source in worst_vectors())
    page.get_by_label("Title").fill("<script>alert('title')</script> <img src=x onerror=alert(2)>")
    page.get_by_label("Details").fill(body)
    page.get_by_role("button", name="Post your question").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("<script>alert('title')")
    # Hover and click every link in the post: nothing may run.
    for link in page.locator("#question .qa-body a").all():
        link.hover()
    page.wait_for_timeout(300)
    assert dialogs == []
    assert page.locator("#question script, #question img, #question iframe").count() == 0
    browser_log.assert_clean()


def test_voting_without_javascript_posts_and_comes_back(
    browser: Browser, browser_context_args: dict, app: Flask, loops,
):
    with app.app_context():
        question_id = db.session.scalar(db.select(qa.QaQuestion.id))
        assert db.session.scalar(db.select(User.id).filter_by(email="bob@example.org"))
    ctx = browser.new_context(**browser_context_args, java_script_enabled=False)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        page = ctx.new_page()
        page.goto("/login")
        page.get_by_label("Email", exact=True).fill("bob@example.org")
        page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
        page.get_by_role("main").get_by_role("button", name="Sign in").click()
        page.goto(f"/questions/{question_id}")
        widget = f"vote-question-{question_id}"
        page.locator(f"#{widget}").get_by_role("button", name="Vote up this question").click()
        expect(page).to_have_url(re.compile(rf"/questions/{question_id}#question$"))
        expect(_score(page, widget)).to_have_text("Score: 1")
    finally:
        ctx.close()
