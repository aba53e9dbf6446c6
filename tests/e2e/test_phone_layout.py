"""At 375 px no page of any role scrolls sideways: wide tables in lessons and on editor and
admin pages scroll inside their own box, and the outline's move controls wrap."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page
from sqlalchemy import select

from tests.e2e.browser import horizontal_overflow
from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Lesson
from webapp.services import authoring

PHONE = {"width": 375, "height": 740}
WIDE_TABLE = ("| Status code | Meaning | When a server sends it | What a client should do next |\n"
              "| --- | --- | --- | --- |\n"
              "| 301 | Moved Permanently | The resource has a new permanent address | "
              "Follow the Location header and update bookmarks |\n")
LONG_MODULE = "A module whose title is much longer than a phone screen is wide"


@pytest.fixture
def world(app: Flask, make_user, make_course, enroll) -> dict:
    with app.app_context():
        editor = make_user("wide-editor@example.org", role="editor")
        make_user("wide-admin@example.org", role="admin")
        learner = make_user("wide-learner@example.org")
        course = make_course("Wide things", owner=editor, modules=2)
        course.modules[1].title = LONG_MODULE
        lesson = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)).first()
        authoring.save_lesson(editor, lesson, base_version=lesson.version, title=lesson.title,
                              source=lesson.source + "\n\n" + WIDE_TABLE)
        enroll(learner, course)
        db.session.commit()
        return {"course": course.slug, "course_id": course.id, "lesson": lesson.slug,
                "lesson_id": lesson.id}


def test_no_page_scrolls_sideways_at_phone_width(page: Page, world: dict, sign_in) -> None:
    page.set_viewport_size(PHONE)
    pages = {
        "wide-learner@example.org": [
            f"/courses/{world['course']}/lessons/{world['lesson']}",
            f"/courses/{world['course']}", "/dashboard", "/account/"],
        "wide-editor@example.org": [
            f"/edit/courses/{world['course_id']}", f"/edit/lessons/{world['lesson_id']}/history",
            "/edit/", f"/edit/lessons/{world['lesson_id']}"],
        "wide-admin@example.org": ["/admin/jobs", "/admin/costs"],
    }
    problems = {}
    for email, paths in pages.items():
        page.context.clear_cookies()
        sign_in(page, email, DEFAULT_PASSWORD)
        for path in paths:
            page.goto(path)
            sticking_out = horizontal_overflow(page)
            if sticking_out:
                problems[path] = sticking_out[:3]
    assert problems == {}
    # The lesson's table is still all there, scrolling inside its own box.
    page.context.clear_cookies()
    sign_in(page, "wide-learner@example.org", DEFAULT_PASSWORD)
    page.goto(f"/courses/{world['course']}/lessons/{world['lesson']}")
    table = page.locator(".lesson-body table")
    assert table.evaluate("el => el.scrollWidth > el.clientWidth")
