"""Accounts end to end: register, sign out, sign in, change password — with and without JS."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import HOME_URL, Account, BrowserLog

EMAIL = "ada@example.org"
FIRST_PASSWORD = "analytical engine 1843"
NEW_PASSWORD = "notes on the engine G"


def _header(page: Page):
    return page.get_by_role("navigation", name="Main")


def _sign_out(page: Page) -> None:
    _header(page).get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(_header(page).get_by_role("link", name="Sign in")).to_be_visible()
    expect(_header(page).get_by_role("button", name="Sign out")).to_have_count(0)


def _account_lifecycle(page: Page, sign_in, submit_login) -> None:
    # Register: the display name is optional but used in the header when given.
    page.goto("/")
    _header(page).get_by_role("link", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    main = page.get_by_role("main")
    main.get_by_label("Email").fill(EMAIL)
    main.get_by_label("Display name").fill("Ada Lovelace")
    main.get_by_label("Password").fill(FIRST_PASSWORD)
    main.get_by_role("button", name="Create account").click()
    # The same answer as for an address that has an account: a link is on its way.
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.get_by_role("main")).to_contain_text(f"We sent a link to {EMAIL}")
    expect(_header(page).get_by_role("button", name="Sign out")).to_have_count(0)

    # The chosen password works before the link is opened.
    sign_in(page, EMAIL, FIRST_PASSWORD)
    expect(_header(page).get_by_role("link", name="Ada Lovelace")).to_be_visible()

    # Change the password from the account settings reached through the header.
    _header(page).get_by_role("link", name="Ada Lovelace").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account settings")
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {EMAIL}")

    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    current = page.get_by_label("Current password")
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(current).to_have_accessible_description("The current password is not correct.")
    expect(current).to_be_focused()
    # The other form on the page is not disturbed by this one's error.
    expect(page.get_by_label("Display name")).to_have_value("Ada Lovelace")

    page.get_by_label("Current password").fill(FIRST_PASSWORD)
    page.get_by_label("New password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_have_text(
        "Your password is changed. Other devices have been signed out."
    )
    # This browser stays signed in.
    expect(_header(page).get_by_role("button", name="Sign out")).to_be_visible()

    _sign_out(page)
    submit_login(page, EMAIL, FIRST_PASSWORD)
    expect(page.get_by_label("Password", exact=True)).to_have_accessible_description(
        "That email and password do not match an account."
    )
    expect(_header(page).get_by_role("button", name="Sign out")).to_have_count(0)

    sign_in(page, EMAIL, NEW_PASSWORD)
    expect(_header(page).get_by_role("link", name="Ada Lovelace")).to_be_visible()


def test_account_lifecycle_with_javascript(
    page: Page, browser_log: BrowserLog, sign_in, submit_login
) -> None:
    _account_lifecycle(page, sign_in, submit_login)
    assert page.evaluate("typeof window.htmx") == "object"
    # Failed sign-ins and invalid forms answer 400, which Chromium logs as a failed load.
    browser_log.assert_clean(allow=("status of 400",))


def test_account_lifecycle_without_javascript(no_js_page: Page, sign_in, submit_login) -> None:
    _account_lifecycle(no_js_page, sign_in, submit_login)
    assert no_js_page.evaluate("typeof window.htmx") == "undefined"


def test_changing_password_signs_out_other_browsers(
    browser: Browser, browser_context_args: dict, page: Page, account: Account, sign_in
) -> None:
    other = browser.new_context(**browser_context_args)
    try:
        other_page = other.new_page()
        sign_in(other_page, account.email, account.password)
        sign_in(page, account.email, account.password)

        page.goto("/account/")
        page.get_by_label("Current password").fill(account.password)
        page.get_by_label("New password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("status")).to_contain_text("Your password is changed.")

        other_page.goto("/account/")
        expect(other_page.get_by_role("heading", level=1)).to_have_text("Sign in")
        expect(other_page.get_by_role("status")).to_have_text("Please sign in to continue.")
    finally:
        other.close()


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_registration_errors_are_shown_next_to_fields(
    request: pytest.FixtureRequest, js: bool, account: Account
) -> None:
    page: Page = request.getfixturevalue("page" if js else "no_js_page")
    page.goto("/register")
    main = page.get_by_role("main")
    main.get_by_label("Email").fill(account.email)
    main.get_by_label("Password").fill("short")
    main.get_by_role("button", name="Create account").click()

    password = main.get_by_label("Password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_accessible_description(re.compile("Use at least 10 characters."))
    expect(password).to_be_focused()
    expect(main.get_by_label("Email")).to_have_value(account.email)

    # A common password is refused with zxcvbn's advice.
    main.get_by_label("Password").fill("password1234")
    main.get_by_role("button", name="Create account").click()
    expect(password).to_have_accessible_description(re.compile(
        "too easy to guess. This is a very common password."))
    expect(password).to_be_focused()

    # An address that has an account gets the same answer as a new one.
    main.get_by_label("Password").fill(FIRST_PASSWORD)
    main.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(main).not_to_contain_text("already exists")
    expect(_header(page).get_by_role("button", name="Sign out")).to_have_count(0)
