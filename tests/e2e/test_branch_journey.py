"""A learner asks a lesson to go deeper: with JavaScript the branch card polls, shows the
job's step and progress, and turns into the branch lesson without a reload; without
JavaScript the status page's "Refresh status" link gets there.

The queue is held (``runner.enqueue`` keeps the job id instead of running it at once, as
the test app otherwise does), and the test runs the job itself, as a worker would.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import Account, BrowserLog
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import User
from webapp.services import branches

LESSON_PATH = "/courses/bread/lessons/lesson-1-1"
POLL_SECONDS = 1


@pytest.fixture
def lesson_for(app: Flask, account: Account, make_branch_course, enroll) -> None:
    """The course "Bread" with one lesson suggesting a branch; the account enrolled."""
    with app.app_context():
        course = make_branch_course("Bread", sections=2)
        enroll(db.session.scalar(db.select(User).filter_by(email=account.email)), course)


@pytest.fixture
def held(monkeypatch) -> list[int]:
    """Job ids handed to the queue, which runs nothing until the test says so."""
    ids: list[int] = []
    monkeypatch.setattr(runner, "enqueue", ids.append)
    return ids


def run_job(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            assert runner.run_job(job_id) == "succeeded"
        finally:
            db.session.remove()


def wait_for(page: Page, condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    # page.wait_for_timeout, not time.sleep: Playwright delivers events while it waits.
    for _ in range(int(seconds * 10)):
        if condition():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_branch_card_polls_and_becomes_the_branch(
    page: Page, app: Flask, account: Account, lesson_for, held, monkeypatch,
    browser_log: BrowserLog, sign_in,
):
    # The job stops before its second step until the test has seen it there.
    gate = threading.Event()
    run_step = branches.BranchPipeline.run_step

    def gated(self, job, step):
        if step == "render":
            assert gate.wait(15), "the test never opened the gate"
        run_step(self, job, step)

    monkeypatch.setattr(branches.BranchPipeline, "run_step", gated)
    # The card asks again every POLL_SECONDS (a young job's 2 s, shortened for the test).
    monkeypatch.setattr("webapp.web.branches.views.poll_seconds",
                        lambda job, now=None: POLL_SECONDS)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/card") else None)

    sign_in(page, account.email, account.password)
    page.goto(LESSON_PATH)
    page.evaluate("window.__sameDocument = true")
    panel = page.locator("#branches")
    panel.get_by_role("button", name="Wild yeast").click()

    card = panel.locator("article.branch-card")
    expect(card).to_contain_text("Waiting for a worker to start it.")
    expect(card.locator("progress")).to_have_attribute("value", "0")
    wait_for(page, lambda: len(held) == 1 and len(polls) >= 1, "the card to poll once")

    worker = threading.Thread(target=run_job, args=(app, held[0]), daemon=True)
    worker.start()
    expect(card).to_contain_text("Step 2 of 2: checking and formatting it")
    expect(card.locator("progress")).to_have_attribute("value", "50")
    gate.set()
    worker.join(timeout=15)

    expect(card.get_by_role("heading", name="Going deeper: Wild yeast")).to_be_visible()
    expect(card.get_by_role("heading", name="In this lesson")).to_be_visible()
    expect(card).to_contain_text("No AI model is set up on this site")
    card.get_by_role("button", name="Mark as done").click()
    expect(card.get_by_role("button", name="Done")).to_be_disabled()
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    # Finished: the card stopped polling (the server answered 286).
    seen = len(polls)
    page.wait_for_timeout(POLL_SECONDS * 1000 * 2.5)
    assert len(polls) == seen
    browser_log.assert_clean()


def test_without_javascript_the_status_page_refreshes_to_the_branch(
    no_js_page: Page, app: Flask, account: Account, lesson_for, held, sign_in,
):
    page = no_js_page
    sign_in(page, account.email, account.password)
    page.goto(LESSON_PATH)
    page.get_by_label("Your own subtopic").fill("Yeast starters")
    page.get_by_role("button", name="Go deeper").click()

    expect(page).to_have_url(re.compile(r"/branches/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Branch lesson: Yeast starters")
    expect(page.get_by_role("main")).to_contain_text("Waiting for a worker to start it.")
    run_job(app, held[0])
    page.get_by_role("link", name="Refresh status").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Going deeper: Yeast starters")
    page.get_by_role("button", name="Mark as done").click()
    expect(page.get_by_role("button", name="Done")).to_be_disabled()
    page.get_by_role("link", name="Back to “Lesson 1.1”").click()
    expect(page.locator("#branch-list")).to_contain_text("Going deeper: Yeast starters")
    expect(page.locator("#branch-list")).to_contain_text("Done")
