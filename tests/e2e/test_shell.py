"""Every page of the site shell: accessible (axe-core) in light and dark, CSP-clean, htmx set up."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.e2e.browser import SHELL_PAGES, BrowserLog, ShellPage

# All of axe's WCAG 2.x A/AA rules plus its best practices (its default set).
AXE = Axe()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("shell_page", SHELL_PAGES, ids=lambda p: p.name)
def test_no_accessibility_violations(
    page: Page, request: pytest.FixtureRequest, shell_page: ShellPage, scheme: str
) -> None:
    page.emulate_media(color_scheme=scheme)
    shell_page.visit(page, request)
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
        scheme == "dark"
    )
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()


@pytest.mark.parametrize("shell_page", SHELL_PAGES, ids=lambda p: p.name)
def test_csp_allows_everything_the_page_uses_and_htmx_is_configured(
    page: Page, browser_log: BrowserLog, request: pytest.FixtureRequest, shell_page: ShellPage
) -> None:
    shell_page.visit(page, request)
    page.wait_for_load_state("load")
    config = page.evaluate(
        """() => window.htmx && {
            allowEval: htmx.config.allowEval,
            includeIndicatorStyles: htmx.config.includeIndicatorStyles,
            selfRequestsOnly: htmx.config.selfRequestsOnly,
            historyCacheSize: htmx.config.historyCacheSize,
        }"""
    )
    assert config == {
        "allowEval": False,
        "includeIndicatorStyles": False,
        "selfRequestsOnly": True,
        "historyCacheSize": 0,
    }
    # The stylesheets loaded too (a blocked one would leave the page unstyled).
    assert page.evaluate("document.styleSheets.length") >= 2
    # Pages answered with an error status are logged by Chromium as a failed load.
    allow = (f"status of {shell_page.status}",) if shell_page.status >= 400 else ()
    browser_log.assert_clean(allow=allow)
