"""The narration player stays on screen while the lesson is read, at phone and desktop
width, with and without JavaScript, so "Listen from here" further down plays from there
with the player in view; it never hides the section a link jumps to."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.factories import DEFAULT_PASSWORD, lesson_source
from tests.web.test_audio import FakeSpeech
from webapp.extensions import db
from webapp.services import audio, courses
from webapp.settings import get_settings

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# A long lesson: the last section is several screens below the player.
PARAGRAPH = ("A paragraph that a learner reads while the narration plays, long enough to fill "
             "a few lines on a phone. ") * 4


@pytest.fixture
def lesson_path(app: Flask, make_user, make_course, enroll) -> str:
    with app.app_context():
        learner = make_user("listener@example.org")
        course = make_course("Spoken", modules=1, lessons=1, sections=2)
        lesson = course.modules[0].lessons[0]
        source = lesson_source(lesson.title, 6).replace("\n\n## ", f"\n\n{PARAGRAPH}\n\n## ")
        courses.set_lesson_source(None, lesson, source + f"\n\n{PARAGRAPH}")
        audio.narrate_lesson(lesson, FakeSpeech(), audio.AudioStore.for_settings(
            get_settings(app)))
        enroll(learner, course)
        db.session.commit()
        return f"/courses/{course.slug}/lessons/{lesson.slug}"


def _in_viewport(page: Page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box and size
    return box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def _player_bottom(page: Page) -> float:
    box = page.locator("audio[data-narration-player]").bounding_box()
    assert box
    return box["y"] + box["height"]


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_player_stays_in_view_and_listen_from_here_plays_from_that_section(
    page: Page, lesson_path: str, size: dict, sign_in
) -> None:
    page.set_viewport_size(size)
    sign_in(page, "listener@example.org", DEFAULT_PASSWORD)
    page.goto(lesson_path)
    player = page.locator("audio[data-narration-player]")
    expect(player).to_be_visible()

    last = page.locator(".lesson-section").last
    last.scroll_into_view_if_needed()
    listen = last.get_by_role("link", name="Listen from here")
    listen.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 600, "the lesson should be long enough to scroll"
    assert _in_viewport(page, "audio[data-narration-player]")

    at = float(listen.get_attribute("data-listen-at") or "nan")
    assert at > 0
    listen.click()
    page.wait_for_function("at => document.querySelector('audio').currentTime >= at - 0.5", arg=at)
    assert _in_viewport(page, "audio[data-narration-player]")


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_player_does_not_hide_the_section_a_link_jumps_to(
    page: Page, lesson_path: str, size: dict, sign_in
) -> None:
    page.set_viewport_size(size)
    sign_in(page, "listener@example.org", DEFAULT_PASSWORD)
    page.goto(lesson_path)
    page.get_by_role("navigation", name="In this lesson").get_by_role("link",
                                                                      name="Step 5").click()
    heading = page.get_by_role("heading", name="Step 5")
    box = heading.bounding_box()
    assert box and box["y"] >= _player_bottom(page), "the heading is under the player"
    assert _in_viewport(page, "audio[data-narration-player]")
    # The page ends with room to read the last lines above nothing but the page itself.
    assert page.evaluate("document.documentElement.scrollWidth") <= size["width"]


def test_without_javascript_the_player_stays_in_view(no_js_page: Page, lesson_path: str,
                                                     sign_in) -> None:
    page = no_js_page
    page.set_viewport_size(PHONE)
    sign_in(page, "listener@example.org", DEFAULT_PASSWORD)
    page.goto(lesson_path)
    page.locator(".lesson-section").last.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 600
    assert _in_viewport(page, "audio[data-narration-player]")
