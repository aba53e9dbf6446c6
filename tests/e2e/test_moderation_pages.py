"""Every moderation page in Chromium — the queue, items of each kind, the action and
people confirmations, a person's page, an appeal, the course editors' tab, a profile, the
author's appeal page and the public report — passes axe-core at desktop (light) and
phone (dark) width without scrolling sideways, with no console errors."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, expect

from tests.e2e.browser import TIMEOUT_MS
from tests.factories import DEFAULT_PASSWORD, make_course, make_user
from tests.moderation.test_moderation_html import _world

AXE = Axe()


def _paths(ids: dict) -> dict[str, list[str]]:
    item, person = ids["message_item"], ids["author"]
    return {
        "mod@example.org": [
            "/moderation", "/moderation?status=closed", f"/moderation/items/{item}",
            f"/moderation/items/{ids['question_item']}",
            f"/moderation/items/{ids['profile_item']}",
            f"/moderation/items/{ids['closed_item']}", f"/moderation/items/{item}/hide",
            f"/moderation/items/{item}/edit", f"/moderation/people/{person}",
            f"/moderation/people/{person}/suspend?item={item}",
            f"/moderation/people/{person}/delete_posts",
            f"/moderation/appeals/{ids['appeal']}", f"/people/{person}",
        ],
        "owner@example.org": [
            f"/edit/courses/{ids['course']}/moderation",
            f"/edit/courses/{ids['course']}/moderation/{ids['question_item']}",
        ],
        "author@example.org": [f"/appeals/actions/{ids['action']}", "/transparency"],
    }


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (375, "dark")],
                         ids=["desktop-light", "phone-dark"])
def test_moderation_pages_are_accessible(app: Flask, browser: Browser,
                                         browser_context_args: dict, sign_in, width: int,
                                         scheme: str) -> None:
    with app.app_context():
        ids = _world(make_user, make_course)
    for email, paths in _paths(ids).items():
        context = browser.new_context(**browser_context_args)
        context.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        context.on("console", lambda m, errors=errors: errors.append(m.text)
                   if m.type == "error" else None)
        page = context.new_page()
        page.set_viewport_size({"width": width, "height": 900})
        page.emulate_media(color_scheme=scheme)
        sign_in(page, email, DEFAULT_PASSWORD)
        for path in paths:
            page.goto(path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            results = AXE.run(page)
            assert results.violations_count == 0, (path, width, results.generate_report())
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        assert errors == [], errors
        context.close()
