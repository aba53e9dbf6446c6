"""Keyboard-only use: the skip link, and signing in without a mouse."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import DASHBOARD_URL, Account


@pytest.mark.parametrize("path", ["/", "/courses/"])
def test_skip_link_is_the_first_tab_stop_and_moves_focus_to_main(page: Page, path: str) -> None:
    page.goto(path)
    skip = page.get_by_role("link", name="Skip to content")
    hidden = skip.bounding_box()
    assert hidden and hidden["x"] + hidden["width"] <= 0, "skip link should wait off-screen"

    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    viewport = page.viewport_size
    assert box and viewport
    assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], "focused but unseen"
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]

    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()


def test_after_the_skip_link_tab_continues_in_the_main_content(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    first_link = page.get_by_role("main").get_by_role("link", name="Create a free account")
    expect(first_link).to_be_focused()


def test_login_form_works_with_the_keyboard_only(page: Page, account: Account) -> None:
    page.goto("/login")
    email = page.get_by_label("Email", exact=True)
    # The form is the point of the page: focus starts in its first field.
    expect(email).to_be_focused()
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(account.password)
    page.keyboard.press("Tab")
    expect(page.get_by_role("main").get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(DASHBOARD_URL)
    header = page.get_by_role("navigation", name="Main")
    expect(header.get_by_role("link", name=account.display_name)).to_be_visible()


def test_login_errors_can_be_fixed_with_the_keyboard(page: Page, account: Account) -> None:
    page.goto("/login")
    page.keyboard.type(account.email)
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")

    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_accessible_description(
        "That email and password do not match an account."
    )
    # Focus lands on the field in error; the email is kept, so retyping the password is enough.
    expect(password).to_be_focused()
    expect(page.get_by_label("Email", exact=True)).to_have_value(account.email)
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(DASHBOARD_URL)
