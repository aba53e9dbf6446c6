"""Password recovery in a real browser, with the mail read from a real SMTP server:
forgot password → mail → link → new password → signed in; the old password and the old
sessions no longer work, and the link works once. The new pages are accessible (axe-core)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from tests.e2e.browser import DASHBOARD_URL, Account, BrowserLog
from webapp.extensions import db
from webapp.models import OutgoingMail
from webapp.services import account_tokens, accounts

NEW_PASSWORD = "lantern orchard velvet 73"
AXE = Axe()


def assert_accessible(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    results = AXE.run(page)
    assert results.violations_count == 0, (name, results.generate_report())


def _reset_path(smtp_server) -> str:
    [link] = [url for url in smtp_server.sink.links() if "/reset-password/" in url]
    return urlsplit(link).path


def _forgot(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")


@pytest.mark.parametrize("js", [True, False], ids=["js", "no-js"])
def test_forgot_password_to_signed_in_and_the_link_works_once(
    request: pytest.FixtureRequest, js: bool, browser: Browser, browser_context_args: dict,
    account: Account, smtp_server, sign_in, submit_login,
) -> None:
    page: Page = request.getfixturevalue("page" if js else "no_js_page")
    other = browser.new_context(**browser_context_args)
    try:
        # A session opened before the reset, in another browser.
        other_page = other.new_page()
        sign_in(other_page, account.email, account.password)

        _forgot(page, account.email)
        [message] = smtp_server.messages
        assert message["To"] == account.email
        path = _reset_path(smtp_server)
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
        page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        page.get_by_label("New password again").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Save password and sign in").click()
        expect(page).to_have_url(DASHBOARD_URL)
        expect(page.get_by_role("status")).to_contain_text("Your password is changed")

        # The old session is over; the old password no longer signs in.
        other_page.goto("/account/")
        expect(other_page.get_by_role("heading", level=1)).to_have_text("Sign in")
        submit_login(other_page, account.email, account.password)
        expect(other_page.get_by_label("Password", exact=True)).to_have_accessible_description(
            "That email and password do not match an account.")
        sign_in(other_page, account.email, NEW_PASSWORD)

        # The same link a second time is refused, with a way to ask for a new one.
        other_page.goto(path)
        expect(other_page.get_by_role("heading", level=1)).to_have_text(
            "This link no longer works")
        expect(other_page.get_by_role("main")).to_contain_text("already used")
        expect(other_page.get_by_role("link", name="Ask for a new reset link")).to_be_visible()
    finally:
        other.close()


def test_a_weak_new_password_is_refused_next_to_the_field(page: Page, account: Account,
                                                          smtp_server) -> None:
    _forgot(page, account.email)
    page.goto(_reset_path(smtp_server))
    field = page.get_by_label("New password", exact=True)
    field.fill("password1234")
    page.get_by_label("New password again").fill("password1234")
    page.get_by_role("button", name="Save password and sign in").click()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(
        re.compile("too easy to guess"))
    expect(field).to_be_focused()


def test_recovery_and_account_pages_are_accessible(
    page: Page, browser_log: BrowserLog, app: Flask, account: Account, sign_in, make_user,
) -> None:
    with app.app_context():
        user = accounts.find_user_by_email(account.email)
        tokens = {purpose: account_tokens.issue_token(user, purpose, new_email=new)
                  for purpose, new in (("reset", None), ("verify", None),
                                       ("email_change", "grace@new.example.org"))}
        make_user("boss@example.org", role="admin")
        db.session.add(OutgoingMail(recipient=account.email, subject="Password changed",
                                    status="failed", template="password_changed",
                                    text_body="t", html_body="h", attempts=5,
                                    last_error="451 Mailbox busy"))
        db.session.commit()
    for path, name in (("/forgot-password", "forgot"),
                       (f"/reset-password/{tokens['reset']}", "reset"),
                       (f"/verify-email/{tokens['verify']}", "verify"),
                       (f"/confirm-email/{tokens['email_change']}", "confirm email change"),
                       ("/reset-password/nosuchtoken", "invalid link"),
                       ("/register", "register")):
        page.goto(path)
        assert_accessible(page, name)
    page.goto("/forgot-password")
    page.get_by_label("Email").fill(account.email)
    page.get_by_role("button", name="Mail me a link").click()
    assert_accessible(page, "check email")

    sign_in(page, account.email, account.password)
    page.goto("/account/")
    expect(page.get_by_role("heading", name="Email address")).to_be_visible()
    assert_accessible(page, "account settings")
    page.get_by_label("New email address").fill("not an address")
    page.get_by_label("Your password").fill(account.password)
    page.get_by_role("button", name="Change email address").click()
    assert_accessible(page, "email change errors")

    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill("boss@example.org")
    page.get_by_label("Password", exact=True).fill(account.password)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()
    page.goto("/admin/mail")
    expect(page.get_by_role("button", name="Retry message 1")).to_be_visible()
    assert_accessible(page, "mail log")
    browser_log.assert_clean(allow=("status of 400", "status of 404", "status of 410"))
