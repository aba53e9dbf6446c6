"""Browser tests: the session app served over HTTP and driven by Debian's Chromium.

Playwright never downloads a browser here: ``browser_type_launch_args`` points
it at ``/usr/bin/chromium``. Without that binary every test in this folder is
skipped with the reason, so the suite still passes on a laptop without it.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.factories import DEFAULT_PASSWORD, make_user

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
E2E_DIR = Path(__file__).resolve().parent
# E2E_SCREENSHOTS=/some/dir keeps screenshots of the layout tests to look at.
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS")
# Fail in seconds rather than Playwright's default 30 s when something is missing.
TIMEOUT_MS = 10_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Hooks in a conftest see every collected item, not only this folder's.
    missing = None if CHROMIUM.exists() else pytest.mark.skip(
        reason="Debian chromium not installed: apt-get install -y chromium"
    )
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if missing:
                item.add_marker(missing)


class _QuietHandler(WSGIRequestHandler):
    """No access log lines on the test output (the app logs what matters)."""

    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The session app on a real port, in a background thread; yields its base URL."""
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server: str) -> str:
    # Replaces pytest-playwright's fallback `base_url`, a session fixture defined as
    # an instance method, which pytest 9 deprecates (a warning, so an error here).
    # Every context depends on it, hence on `app`, so the autouse `_fresh_state`
    # cleans the database after each browser test.
    return live_server


@pytest.fixture
def context(new_context) -> BrowserContext:
    ctx = new_context()
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


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


@pytest.fixture
def browser_log(context: BrowserContext) -> BrowserLog:
    """Collects console messages and page errors of every page of ``context``."""
    log = BrowserLog()
    context.on("console", lambda message: log.console.append(message))
    context.on("weberror", lambda web_error: log.page_errors.append(web_error.error))
    return log


@pytest.fixture
def no_js_page(browser: Browser, browser_context_args: dict) -> Iterator[Page]:
    """A page in a context with JavaScript disabled: the site must work without it."""
    ctx = browser.new_context(**browser_context_args, java_script_enabled=False)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx.new_page()
    finally:
        ctx.close()


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    display_name: str


@pytest.fixture
def account(app: Flask) -> Account:
    """An existing learner account (created through the services, not the browser)."""
    with app.app_context():
        make_user("grace@example.org", display_name="Grace Hopper")
    return Account("grace@example.org", DEFAULT_PASSWORD, "Grace Hopper")


HOME_URL = re.compile(r"^https?://[^/]+/$")


def submit_login(page: Page, email: str, password: str) -> None:
    """Fill in and send the login form (whatever the outcome)."""
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("main").get_by_role("button", name="Sign in").click()


def sign_in(page: Page, email: str, password: str) -> None:
    """Sign in through the login form and check that it worked."""
    submit_login(page, email, password)
    expect(page).to_have_url(HOME_URL)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


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
