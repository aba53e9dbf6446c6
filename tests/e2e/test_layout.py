"""Layout: usable at phone width, and the dark color scheme really applies."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.browser import SHELL_PAGES, ShellPage, horizontal_overflow

PHONE = {"width": 375, "height": 667}
BY_NAME = {p.name: p for p in SHELL_PAGES}


@pytest.mark.parametrize("name", ["home", "login", "login-errors", "register", "account"])
def test_no_horizontal_scroll_at_phone_width(
    page: Page, request: pytest.FixtureRequest, name: str, save_screenshot
) -> None:
    page.set_viewport_size(PHONE)
    BY_NAME[name].visit(page, request)
    save_screenshot(page, f"{name}-phone")
    assert horizontal_overflow(page) == []
    # The main call to action is reachable without zooming or scrolling sideways.
    button = page.get_by_role("main").get_by_role("button").first
    if button.count():
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def _luminance(page: Page, selector: str, prop: str) -> float:
    """Relative luminance (0 black … 1 white) of an element's computed colour ``prop``."""
    rgba = page.evaluate(
        """([sel, prop]) => getComputedStyle(document.querySelector(sel))[prop]
                    .match(/[\\d.]+/g).map(Number)""",
        [selector, prop],
    )
    assert len(rgba) == 3 or rgba[3] == 1, f"{selector} {prop} is not opaque: {rgba}"
    rgb = rgba[:3]

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("shell_page", [BY_NAME[n] for n in ("home", "login", "account")],
                         ids=lambda p: p.name)
def test_pages_follow_the_system_color_scheme(
    page: Page, request: pytest.FixtureRequest, shell_page: ShellPage, scheme: str, save_screenshot
) -> None:
    page.emulate_media(color_scheme=scheme)
    shell_page.visit(page, request)
    background = _luminance(page, "html", "backgroundColor")
    heading = _luminance(page, "h1", "color")
    if scheme == "dark":
        assert background < 0.05 and heading > 0.5, "light text on a dark page"
    else:
        assert background > 0.9 and heading < 0.1, "dark text on a light page"
    save_screenshot(page, f"{shell_page.name}-{scheme}")
