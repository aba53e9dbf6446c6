"""An editor regenerates a published lesson with AI: confirms, watches the job card become
"Proposal ready for review", reviews the rewrite against the lesson and publishes it, and
only then does the learner read the new text. With JavaScript the card polls; without it
the status page's links get there. With the offline scaffold the rewrite is prompts: the
editor fills them in before publishing.

The queue is held (``runner.enqueue`` keeps the job id), and the test runs the job
itself, as a worker would.
"""

from __future__ import annotations

import threading

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import Account, BrowserLog
from tests.factories import DEFAULT_PASSWORD, enroll, make_user, use_lesson_writer
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import User
from webapp.services import authoring

AXE = Axe()
SOURCE = "Bread needs time.\n\n## Knead\n\nPush and fold.\n\n## Proof\n\nWait.\n"
REWRITE = ("Good bread needs patience more than skill.\n\n## Knead\n\nFold the dough twelve "
           "times, turning it a quarter each time.\n\n## Proof\n\nLeave it covered until it "
           "has doubled, about an hour.\n")
LEARNER_PAGE = "/courses/bread/lessons/loaf"
POLL_SECONDS = 1


@pytest.fixture
def lesson_id(app: Flask, account: Account) -> int:
    """The published course "Bread" with the lesson "Loaf"; the account is enrolled."""
    with app.app_context():
        editor = make_user("baker@example.org", role="editor", display_name="Bea Baker")
        course = authoring.create_course(editor, title="Bread")
        module = authoring.add_module(editor, course, "Basics")
        lesson = authoring.add_lesson(editor, module, "Loaf", SOURCE)
        authoring.publish(editor, course)
        db.session.commit()
        enroll(db.session.scalar(db.select(User).filter_by(email=account.email)), course)
        return lesson.id


@pytest.fixture
def held(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(runner, "enqueue", ids.append)
    return ids


def run_job(app: Flask, job_id: int) -> None:
    with app.app_context():
        try:
            assert runner.run_job(job_id) == "succeeded"
        finally:
            db.session.remove()


def ask_for_a_rewrite(page: Page, lesson_id: int, held: list[int]) -> None:
    """From the lesson editor: Regenerate with AI, read the confirmation, start."""
    main = page.get_by_role("main")
    page.goto(f"/edit/lessons/{lesson_id}")
    main.get_by_role("button", name="Regenerate with AI…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Regenerate “Loaf” with AI?")
    expect(main).to_contain_text("Nothing changes for learners until you publish it.")
    main.get_by_role("button", name="Start the rewrite").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lesson regeneration: “Loaf”")
    expect(main).to_contain_text("Waiting for a worker to start it.")
    expect(main).to_contain_text("nothing changes in the lesson until you publish the rewrite")
    assert len(held) == 1


def test_regenerate_review_publish_then_the_learner_reads_it(
    page: Page, app: Flask, account: Account, lesson_id: int, held: list[int], monkeypatch,
    browser_log: BrowserLog, sign_in,
):
    use_lesson_writer(monkeypatch, REWRITE)
    monkeypatch.setattr("webapp.web.jobs.views.poll_seconds", lambda job, now=None: POLL_SECONDS)
    main = page.get_by_role("main")
    sign_in(page, "baker@example.org", DEFAULT_PASSWORD)
    page.goto(f"/edit/lessons/{lesson_id}/regenerate")
    assert AXE.run(page).violations_count == 0
    ask_for_a_rewrite(page, lesson_id, held)

    # A worker runs the job; the card polls and says what came of it.
    page.evaluate("window.__sameDocument = true")
    worker = threading.Thread(target=run_job, args=(app, held[0]), daemon=True)
    worker.start()
    worker.join(timeout=15)
    card = main.locator("article.job-card")
    expect(card).to_contain_text("Proposal ready for review.")
    assert page.evaluate("window.__sameDocument === true"), "the card should swap in place"

    # Before anything is published the learner still reads the old lesson.
    learner = page.context.browser.new_context(base_url=page.url.split("/jobs")[0])
    learner_page = learner.new_page()
    sign_in(learner_page, account.email, account.password)
    learner_page.goto(LEARNER_PAGE)
    expect(learner_page.get_by_role("main")).to_contain_text("Push and fold.")
    expect(learner_page.get_by_role("main")).not_to_contain_text("twelve times")

    card.get_by_role("button", name="Review the proposal").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("AI rewrite of “Loaf”")
    expect(main).to_contain_text("Learners do not see this rewrite.")
    expect(main.locator("pre.diff .diff-add").first).to_be_visible()
    expect(main.locator("#preview")).to_contain_text("Fold the dough twelve times")
    assert AXE.run(page).violations_count == 0
    main.get_by_role("button", name="Publish this version").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Loaf")
    expect(page.get_by_role("status").first).to_contain_text(
        "The AI rewrite is published as version 2.")
    expect(main).not_to_contain_text("waiting for your review")

    learner_page.goto(LEARNER_PAGE)
    expect(learner_page.get_by_role("main")).to_contain_text("Fold the dough twelve times")
    learner.close()
    browser_log.assert_clean()


def test_without_javascript_the_scaffolds_rewrite_is_filled_in_before_publishing(
    no_js_page: Page, app: Flask, account: Account, lesson_id: int, held: list[int], sign_in,
):
    page = no_js_page
    main = page.get_by_role("main")
    sign_in(page, "baker@example.org", DEFAULT_PASSWORD)
    page.goto(f"/edit/lessons/{lesson_id}/regenerate")
    # No model is configured: the confirmation says so before anything starts.
    expect(main).to_contain_text("No AI model is configured on this site.")
    ask_for_a_rewrite(page, lesson_id, held)
    run_job(app, held[0])
    main.get_by_role("link", name="Refresh status").click()
    expect(main).to_contain_text("Proposal ready for review.")
    main.get_by_role("button", name="Review the proposal").click()

    # The scaffold's prompts are listed, and there is no Publish button for them.
    expect(main).to_contain_text("Still to write:")
    expect(main.get_by_role("button", name="Publish this version")).to_have_count(0)
    main.get_by_role("button", name="Edit before publishing").click()
    expect(main).to_contain_text("You are editing the AI rewrite of version 1")
    source = main.get_by_label("Lesson text (Markdown)")
    text = source.input_value()
    assert "✏️ Editor:" in text
    written = "\n".join(line for line in text.splitlines()
                        if "Editor:" not in line and "Draft scaffold" not in line)
    source.fill(written.replace("## Knead", "## Knead\n\nStretch it until it is smooth."))
    main.get_by_role("button", name="Publish this version").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "The AI rewrite, as you edited it, is published as version 2.")

    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    sign_in(page, account.email, account.password)
    page.goto(LEARNER_PAGE)
    expect(main).to_contain_text("Stretch it until it is smooth.")
    expect(main).not_to_contain_text("Editor:")


def test_discard_asks_first_and_keeps_the_lesson(
    no_js_page: Page, app: Flask, lesson_id: int, held: list[int], sign_in,
):
    page = no_js_page
    main = page.get_by_role("main")
    sign_in(page, "baker@example.org", DEFAULT_PASSWORD)
    ask_for_a_rewrite(page, lesson_id, held)
    run_job(app, held[0])
    page.goto(f"/edit/lessons/{lesson_id}")
    expect(main).to_contain_text("An AI rewrite is waiting for your review.")
    main.get_by_role("link", name="Review the AI rewrite").click()
    main.get_by_role("button", name="Discard…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Discard the AI rewrite of “Loaf”?")
    main.get_by_role("button", name="Discard the rewrite").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "The AI rewrite was discarded; the lesson is unchanged.")
    expect(main.get_by_label("Lesson text (Markdown)")).to_have_value(SOURCE)
