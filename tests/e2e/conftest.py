"""Browser tests: the session app served over HTTP and driven by Debian's Chromium.

Playwright never downloads a browser here: ``browser_type_launch_args`` points
it at ``/usr/bin/chromium``. Without that binary every test in this folder is
skipped with the reason, so the suite still passes on a laptop without it.

Each xdist worker serves its own session app on an ephemeral port and launches
its own Chromium. Types and constants live in tests/e2e/browser.py; the steps a
test takes are fixtures (``sign_in``, ``submit_login``, ``save_screenshot``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from tests.e2e import browser as helpers
from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, Account, BrowserLog
from tests.factories import DEFAULT_PASSWORD, make_user

E2E_DIR = Path(__file__).resolve().parent


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


_APP_ITER = "tests.e2e.app_iter"


class _QuietHandler(WSGIRequestHandler):
    """No access log lines on the test output (the app logs what matters); and the
    response is closed even when the browser drops the connection mid-file (werkzeug's
    dev server skips ``close()`` when reading the dropped socket fails in its cleanup,
    which leaves an audio file open until garbage collection warns about it)."""

    def log_request(self, *args, **kwargs) -> None:
        pass

    def run_wsgi(self) -> None:
        try:
            super().run_wsgi()
        finally:
            body = getattr(self, "environ", {}).get(_APP_ITER)
            if body is not None and hasattr(body, "close"):
                body.close()  # closing twice is harmless for every WSGI body here


def _keeping_the_body(app: Flask):
    def wsgi(environ, start_response):
        body = app(environ, start_response)
        environ[_APP_ITER] = body
        return body

    return wsgi


@pytest.fixture(scope="session")
def live_server(app: Flask) -> Iterator[str]:
    """The session app on a real port, in a background thread; yields its base URL."""
    server: BaseWSGIServer = make_server(
        "127.0.0.1", 0, _keeping_the_body(app), threaded=True,
        request_handler=_QuietHandler
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


@pytest.fixture
def account(app: Flask) -> Account:
    """An existing learner account (created through the services, not the browser)."""
    with app.app_context():
        make_user("grace@example.org", display_name="Grace Hopper")
    return Account("grace@example.org", DEFAULT_PASSWORD, "Grace Hopper")


@pytest.fixture(scope="session")
def submit_login() -> Callable[[Page, str, str], None]:
    """``submit_login(page, email, password)``: fill in and send the login form
    (whatever the outcome)."""
    return helpers.submit_login


@pytest.fixture(scope="session")
def sign_in() -> Callable[[Page, str, str], None]:
    """``sign_in(page, email, password)``: sign in through the login form and check that
    it worked."""
    return helpers.sign_in


@pytest.fixture(scope="session")
def save_screenshot() -> Callable[[Page, str], None]:
    """``save_screenshot(page, name)``: a full-page PNG into $E2E_SCREENSHOTS, when set."""
    return helpers.save_screenshot
