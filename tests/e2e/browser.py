"""Browser-test helpers that are not fixtures: the Chromium set-up, the types tests
annotate with, the site-shell pages the layout tests walk, and the form steps that
the ``sign_in`` and ``submit_login`` fixtures (tests/e2e/conftest.py) hand out."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# E2E_SCREENSHOTS=/some/dir keeps screenshots of the layout tests to look at.
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
# Fail in seconds rather than Playwright's default 30 s when something is missing.
TIMEOUT_MS = 10_000


@dataclass
class BrowserLog:
    """Console messages and uncaught page errors seen by one browser context."""

    console: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[Error] = field(default_factory=list)

    def errors(self) -> list[str]:
        return [m.text for m in self.console if m.type == "error"]

    def csp_violations(self) -> list[str]:
        return [m.text for m in self.console if "content security policy" in m.text.lower()]

    def assert_clean(self, *, allow: tuple[str, ...] = ()) -> None:
        """No CSP violations, no uncaught JS errors, no console errors except ``allow``ed."""
        assert self.csp_violations() == [], "CSP violations in the console"
        assert [str(e) for e in self.page_errors] == [], "uncaught JavaScript errors"
        unexpected = [t for t in self.errors() if not any(a in t for a in allow)]
        assert unexpected == [], "errors in the browser console"


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    display_name: str


HOME_URL = re.compile(r"^https?://[^/]+/$")
# Where signing in lands when no page asked for it.
DASHBOARD_URL = re.compile(r"^https?://[^/]+/dashboard$")


def submit_login(page: Page, email: str, password: str) -> None:
    """Fill in and send the login form (whatever the outcome)."""
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the login form and check that it worked."""
    submit_login(page, email, password)
    expect(page).to_have_url(DASHBOARD_URL)
    # At phone width "Sign out" is folded into the closed menu: present, not visible.
    expect(page.get_by_role("navigation", name="Main")
           .get_by_role("button", name="Sign out", include_hidden=True)).to_have_count(1)


def sign_out(page: Page) -> None:
    """Sign out with the header's button, opening the phone menu first when it is folded."""
    nav = page.get_by_role("navigation", name="Main")
    button = nav.get_by_role("button", name="Sign out")
    if not button.is_visible():
        nav.get_by_text("Menu", exact=True).click()
    button.click()


@dataclass(frozen=True)
class ShellPage:
    """A page of the site shell and how a user gets to it."""

    name: str
    heading: str
    open: Callable[[Page, Account | None], None]
    status: int = 200
    needs_account: bool = False

    def visit(self, page: Page, request: pytest.FixtureRequest) -> None:
        """Open the page as a user would; the `account` fixture is made only when needed."""
        account = request.getfixturevalue("account") if self.needs_account else None
        self.open(page, account)
        expect(page.get_by_role("heading", level=1)).to_have_text(self.heading)


def _goto(path: str) -> Callable[[Page, Account | None], None]:
    def open_(page: Page, _account: Account | None) -> None:
        page.goto(path)

    return open_


def _submit_empty(path: str, button: str) -> Callable[[Page, Account | None], None]:
    def open_(page: Page, _account: Account | None) -> None:
        page.goto(path)
        main = page.get_by_role("main")
        main.get_by_role("button", name=button).click()
        expect(main.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")

    return open_


def _account_settings(page: Page, account: Account | None) -> None:
    assert account is not None
    sign_in(page, account.email, account.password)
    page.goto("/account/")


SHELL_PAGES = [
    ShellPage("home", "Learn at your own pace, and go deeper where it matters.", _goto("/")),
    ShellPage("catalog", "Catalog", _goto("/courses/")),
    ShellPage("register", "Create your account", _goto("/register")),
    ShellPage("register-errors", "Create your account", _submit_empty("/register",
                                                                      "Create account"), 400),
    ShellPage("login", "Sign in", _goto("/login")),
    ShellPage("login-errors", "Sign in", _submit_empty("/login", "Sign in"), 400),
    ShellPage("account", "Account settings", _account_settings, needs_account=True),
    ShellPage("not-found", "Page not found", _goto("/no-such-page"), 404),
]


def save_screenshot(page: Page, name: str) -> None:
    """A full-page screenshot into $E2E_SCREENSHOTS, when set (for a human to look at)."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(SCREENSHOTS) / f"{name}.png", full_page=True)


def horizontal_overflow(page) -> list[str]:
    """Elements sticking out past the right edge of the viewport (empty when none)."""
    return page.evaluate(
        """() => {
            const width = document.documentElement.clientWidth;
            if (document.documentElement.scrollWidth <= width) return [];
            return [...document.querySelectorAll('body *')]
                .filter(el => el.getBoundingClientRect().right > width + 0.5)
                .map(el => el.outerHTML.slice(0, 120));
        }"""
    )


# An init script (the test harness, not app code) that counts every alert, confirm, prompt
# and print in ``window.__xss``: pages showing hostile text must leave it at 0.
XSS_HARNESS = """
window.__xss = 0;
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = function () { window.__xss += 1; return null; };
}
"""
