"""Form layout seen in the browser: help text sits under its field, never over it (the
learner's notes box, the editor's forms), and the co-editors page lines up on one left
edge, with each Remove button on its co-editor's row — at desktop and phone width."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import sign_out
from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_user
from webapp.extensions import db
from webapp.models import Lesson
from webapp.services import authoring

WIDTHS = {"desktop": 1280, "phone": 375}
# A field's help text is the <small> right after it (Pico's convention, which pulls it up
# under the field with a negative margin).
OVERLAPS = """() => [...document.querySelectorAll(
        'main :is(input, select, textarea):not([type=hidden]) + small')]
    .filter(small => small.offsetParent !== null)
    .map(small => [small.previousElementSibling, small])
    .filter(([field, small]) =>
        small.getBoundingClientRect().top < field.getBoundingClientRect().bottom - 0.5)
    .map(([field, small]) => `${field.id || field.name}: ${small.textContent.trim().slice(0, 60)}`
        + ` starts ${(field.getBoundingClientRect().bottom
                      - small.getBoundingClientRect().top).toFixed(1)} px inside the field`)"""


@pytest.fixture
def world(app: Flask) -> dict:
    with app.app_context():
        owner = make_user("owner@example.org", role="editor", display_name="Olive Owner")
        make_user("co@example.org", role="editor",
                  display_name="Cora Editor-Lindqvist of the Long Names Department")
        learner = make_user("learner@example.org")
        course = make_course("Bread", owner=owner, modules=1, lessons=1)
        authoring.invite_editor(owner, course, "co@example.org")
        enroll(learner, course)
        db.session.commit()
        lesson = db.session.scalar(db.select(Lesson).where(Lesson.course_id == course.id))
        return {"course_id": course.id, "lesson_id": lesson.id,
                "lesson_page": f"/courses/{course.slug}/lessons/{lesson.slug}"}


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_help_text_never_overlaps_its_field(page: Page, world: dict, width: int, sign_in,
                                            save_screenshot) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "learner@example.org", DEFAULT_PASSWORD)
    page.goto(world["lesson_page"])
    expect(page.get_by_label("Your private note")).to_be_visible()
    save_screenshot(page, f"lesson-notes-{width}")
    assert page.evaluate(OVERLAPS) == [], "on the lesson page"
    sign_out(page)

    sign_in(page, "owner@example.org", DEFAULT_PASSWORD)
    for path in (f"/edit/lessons/{world['lesson_id']}", f"/edit/courses/{world['course_id']}",
                 f"/edit/courses/{world['course_id']}/people", "/edit/drafts/new", "/account/"):
        page.goto(path)
        assert page.evaluate(OVERLAPS) == [], path


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_co_editors_page_keeps_one_left_edge(page: Page, world: dict, width: int, sign_in,
                                                  save_screenshot) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, "owner@example.org", DEFAULT_PASSWORD)
    page.goto(f"/edit/courses/{world['course_id']}/people")
    main = page.get_by_role("main")
    save_screenshot(page, f"co-editors-{width}")
    heading = page.get_by_role("heading", level=1).bounding_box()
    rows = main.locator(".people-list li")
    expect(rows).to_have_count(2)
    edges = {
        "heading": heading["x"],
        "owner": rows.nth(0).bounding_box()["x"],
        "co-editor": rows.nth(1).bounding_box()["x"],
        "invite label": main.get_by_text("Email address of an editor").bounding_box()["x"],
        "invite field": main.get_by_label("Email address of an editor").bounding_box()["x"],
        "invite button": main.get_by_role("button", name="Invite as co-editor")
        .bounding_box()["x"],
    }
    assert max(edges.values()) - min(edges.values()) <= 1, edges
    # The Remove button belongs to its row: inside it, as wide as its label, not a bar.
    row = rows.nth(1).bounding_box()
    button = rows.nth(1).get_by_role("button", name="Remove co@example.org as co-editor")
    box = button.bounding_box()
    assert row["y"] <= box["y"] and box["y"] + box["height"] <= row["y"] + row["height"] + 0.5
    assert box["width"] < 200
    if width >= 1000:
        # On a wide screen it sits on the same line as the name, at the row's end.
        name = rows.nth(1).get_by_text("Cora Editor-Lindqvist", exact=False).bounding_box()
        assert abs((box["y"] + box["height"] / 2) - (name["y"] + name["height"] / 2)) < 12
        assert box["x"] > name["x"] + name["width"]
