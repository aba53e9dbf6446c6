"""At 375 px no page of any role scrolls sideways: wide tables in lessons and on editor and
admin pages scroll inside their own box, and the outline's move controls wrap."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
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
        "wide-admin@example.org": ["/admin/jobs", "/admin/costs", "/admin", "/admin/users",
                                   "/admin/audit", "/admin/security"],
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


# --- the site menu ---------------------------------------------------------------------------

DESKTOP = {"width": 1280, "height": 800}
# The header may take at most this much of a 740 px phone screen (it took 190 px, a quarter).
PHONE_HEADER_MAX = 80


def _main_nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def _menu_button(page: Page):
    return _main_nav(page).locator("summary", has_text="Menu")


def test_at_phone_width_the_links_fold_into_a_menu_that_opens(page: Page, world: dict,
                                                               sign_in) -> None:
    page.set_viewport_size(PHONE)
    sign_in(page, "wide-learner@example.org", DEFAULT_PASSWORD)
    page.goto(f"/courses/{world['course']}/lessons/{world['lesson']}")
    header = page.get_by_role("banner").bounding_box()
    assert header and header["height"] <= PHONE_HEADER_MAX
    nav = _main_nav(page)
    expect(nav.get_by_role("link", name="Tangent")).to_be_visible()
    expect(nav.get_by_role("link", name="Dashboard")).to_be_hidden()
    expect(nav.get_by_role("button", name="Sign out")).to_be_hidden()

    _menu_button(page).click()
    for name in ("Catalog", "Dashboard"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
    # The open menu lies over the page; it does not widen it.
    assert horizontal_overflow(page) == []
    nav.get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(nav.get_by_role("link", name="Catalog")).to_be_hidden()


def test_the_phone_menu_works_with_the_keyboard(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.goto("/courses/")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")
    expect(_menu_button(page)).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(_main_nav(page).get_by_role("link", name="Catalog")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Space")
    expect(_main_nav(page).get_by_role("link", name="Sign in")).to_be_hidden()
    # Escape closes the open menu from inside it and gives focus back to its button.
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(_main_nav(page).get_by_role("link", name="Catalog")).to_be_focused()
    page.keyboard.press("Escape")
    expect(_main_nav(page).get_by_role("link", name="Sign in")).to_be_hidden()
    expect(_menu_button(page)).to_be_focused()


def test_the_phone_menu_works_without_javascript(no_js_page: Page) -> None:
    page = no_js_page
    page.set_viewport_size(PHONE)
    page.goto("/")
    expect(_main_nav(page).get_by_role("link", name="Sign in")).to_be_hidden()
    _menu_button(page).click()
    _main_nav(page).get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login$"))


def test_on_a_desktop_every_link_shows_in_the_bar(page: Page, world: dict, sign_in) -> None:
    page.set_viewport_size(DESKTOP)
    sign_in(page, "wide-admin@example.org", DEFAULT_PASSWORD)
    nav = _main_nav(page)
    expect(_menu_button(page)).to_be_hidden()
    for name in ("Catalog", "Dashboard", "Authoring", "Admin"):
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()
    # One row: the links sit beside the brand, not under it.
    brand = nav.get_by_role("link", name="Tangent").bounding_box()
    catalog = nav.get_by_role("link", name="Catalog").bounding_box()
    assert brand and catalog and abs(brand["y"] - catalog["y"]) < brand["height"]


def test_breadcrumbs_wrap_as_a_line_of_text(page: Page, app: Flask, make_course) -> None:
    """Each crumb follows the one before it on the same line, and a long title wraps onto
    the next line at full width rather than inside a narrow column of its own."""
    with app.app_context():
        course = make_course("Practical Python: From Scripts to Programs", modules=1,
                             lessons=1)
        path = f"/courses/{course.slug}/lessons/{course.modules[0].lessons[0].slug}"
    page.set_viewport_size(PHONE)
    page.goto(path)
    crumbs = page.get_by_role("navigation", name="breadcrumb").get_by_role("listitem")
    expect(crumbs).to_have_count(3)
    catalog, course_crumb, lesson = (crumbs.nth(i).bounding_box() for i in range(3))
    assert catalog and course_crumb and lesson
    line = catalog["height"]
    # The course title starts on the first line, beside "Catalog", and takes two lines
    # at most (squeezed into a column of its own it took four).
    assert abs(catalog["y"] - course_crumb["y"]) < 4
    assert course_crumb["height"] < 2.5 * line
    assert horizontal_overflow(page) == []
