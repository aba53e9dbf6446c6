"""The pages of background work are accessible (axe-core) and CSP-clean: the lesson page
with its narration player and "Go deeper" panel, a branch lesson, the AI-draft form, a
job's status page, the drafts list, and the admin job list and cost ledger."""

from __future__ import annotations

import re
import shutil

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import Account, BrowserLog
from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import GenerationJob, User
from webapp.services import audio, branches
from webapp.settings import get_settings

AXE = Axe()


def assert_accessible(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    results = AXE.run(page)
    assert results.violations_count == 0, (name, results.generate_report())


@pytest.fixture
def world(app: Flask, account: Account, make_user, make_branch_course, enroll) -> dict:
    with app.app_context():
        make_user("boss@example.org", role="admin")
        course = make_branch_course("Bread", sections=2)
        lesson = course.modules[0].lessons[0]
        learner = db.session.scalar(db.select(User).filter_by(email=account.email))
        enroll(learner, course)
        branch, _job = branches.request_branch(learner, lesson, "Wild yeast",
                                               settings=get_settings(app))
        db.session.commit()
        if _job is not None:
            runner.enqueue(_job.id)
        if shutil.which("espeak-ng"):
            from webapp.providers.tts import EspeakProvider

            audio.narrate_lesson(db.session.get(type(lesson), lesson.id),
                                 EspeakProvider(binary=shutil.which("espeak-ng"), voice="en"),
                                 audio.AudioStore.for_settings(get_settings(app)))
            db.session.commit()
        return {"lesson": f"/courses/{course.slug}/lessons/{lesson.slug}",
                "branch": f"/branches/{branch.id}"}


def test_job_branch_and_cost_pages_are_accessible(
    page: Page, browser_log: BrowserLog, account: Account, world: dict, app: Flask, sign_in,
) -> None:
    sign_in(page, account.email, account.password)
    page.goto(world["lesson"])
    expect(page.locator("#branches")).to_contain_text("Wild yeast")
    if shutil.which("espeak-ng"):
        expect(page.locator("audio")).to_have_count(1)
    assert_accessible(page, "lesson with narration and branches")
    page.goto(world["branch"])
    assert_accessible(page, "branch lesson")
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()

    sign_in(page, "boss@example.org", DEFAULT_PASSWORD)
    page.goto("/edit/drafts/new")
    assert_accessible(page, "draft form")
    page.get_by_label("Topic").fill("Knots for sailors")
    page.get_by_role("main").get_by_role("button", name="Draft").first.click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    with app.app_context():
        assert db.session.scalar(db.select(GenerationJob.status)
                                 .filter_by(kind="course_draft")) == "succeeded"
    assert_accessible(page, "job status")
    for path, name in (("/edit/drafts", "drafts"), ("/admin/jobs", "admin jobs"),
                       ("/admin/costs", "admin costs")):
        page.goto(path)
        assert_accessible(page, name)
    browser_log.assert_clean()
