"""A teacher reads the insight pages of the demo course in Chromium: where learners stop
(the funnel, and the section most of them stopped at), the hardest question, and the
gradebook, whose CSV download says exactly what the page shows. Every page passes
axe-core."""

from __future__ import annotations

import csv
import io

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Course

AXE = Axe()
PASSWORD = "demo-password-123"


def _axe(page: Page) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, (page.url, results.generate_report())


def test_a_teacher_reads_the_funnel_the_hardest_question_and_the_gradebook(
        page: Page, app: Flask, sign_in, tmp_path) -> None:
    from webapp.services import demo

    with app.app_context():
        demo.load_demo(tmp_path, fixed_password=PASSWORD)
        db.session.commit()
        course_id = db.session.scalar(select(Course.id).where(Course.slug == "practical-python"))
        db.session.remove()
    sign_in(page, "editor@example.com", PASSWORD)
    base = f"/edit/courses/{course_id}/insight"

    # From the course's editor tabs to the learners.
    page.goto(base + "/learners")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _axe(page)

    page.get_by_role("link", name="Where learners stop").click()
    expect(page.get_by_role("heading", name="Where learners stop", level=1)).to_be_visible()
    expect(page.get_by_text("Most learners stopped here")).to_be_visible()
    expect(page.locator("figure.chart svg[role=img]").first).to_be_visible()
    _axe(page)

    page.get_by_role("link", name="What is hard").click()
    hardest = page.get_by_role("article").filter(has_text="The hardest question")
    expect(hardest).to_contain_text("% of")
    _axe(page)

    page.get_by_role("link", name="Gradebook", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _axe(page)
    shown: dict[str, list[str]] = {}
    for row in page.locator("table tbody tr").all():
        email = row.locator("th small").inner_text().strip()
        shown[email] = [cell.get_attribute("data-percent") or ""
                        for cell in row.locator("td").all()]
    assert shown, "the gradebook lists the demo class"
    with page.expect_download() as waiting:
        page.get_by_role("link", name="Download the gradebook as CSV").click()
    text = waiting.value.path().read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    percent_columns = [i for i, name in enumerate(header) if name.endswith("(%)")]
    assert percent_columns
    downloaded = {r[1]: [r[i] for i in percent_columns] for r in body}
    # Every learner on the page's first screen is in the file, with the same percents.
    for email, percents in shown.items():
        assert downloaded[email] == percents, email
    assert any(p for percents in shown.values() for p in percents), "some scores shown"


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (375, "dark")],
                         ids=["desktop-light", "phone-dark"])
def test_every_insight_page_is_accessible(page: Page, app: Flask, sign_in, tmp_path,
                                          width: int, scheme: str) -> None:
    from webapp.models import Enrollment, Quiz
    from webapp.services import demo

    with app.app_context():
        demo.load_demo(tmp_path, fixed_password=PASSWORD)
        db.session.commit()
        course_id = db.session.scalar(select(Course.id).where(Course.slug == "practical-python"))
        learner_id = db.session.scalar(select(Enrollment.user_id).where(
            Enrollment.course_id == course_id).order_by(Enrollment.id))
        quiz_id = db.session.scalar(select(Quiz.id).where(Quiz.course_id == course_id)
                                    .order_by(Quiz.id))
        db.session.remove()
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    sign_in(page, "editor@example.com", PASSWORD)
    base = f"/edit/courses/{course_id}/insight"
    for path in ("/learners", "/learners?sort=progress&order=desc", f"/learners/{learner_id}",
                 f"/learners/{learner_id}/unenroll", "/gradebook", "/funnel", "/difficulty",
                 f"/difficulty/{quiz_id}", "/activity", "/enroll"):
        page.goto(base + path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _axe(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
