"""The account's pages in a real browser: signing out another device from the sessions
page ends it on that device's next request, and every account page is accessible
(axe-core) and CSP-clean, at desktop width in light and at phone width in dark."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.e2e.browser import TIMEOUT_MS, Account, BrowserLog

AXE = Axe()
ACCOUNT_PAGES = ("/account/", "/account/sessions", "/account/notifications", "/account/data",
                 "/account/delete")


def assert_accessible(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    results = AXE.run(page)
    assert results.violations_count == 0, (name, results.generate_report())


def test_signing_out_another_device_signs_it_out_there(
    page: Page, new_context, account: Account, sign_in, browser_log: BrowserLog,
) -> None:
    phone_context = new_context(user_agent="Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 "
                                           "(KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36")
    phone_context.set_default_timeout(TIMEOUT_MS)
    phone = phone_context.new_page()
    sign_in(phone, account.email, account.password)
    sign_in(page, account.email, account.password)

    page.goto("/account/sessions")
    cards = page.locator(".session-card")
    expect(cards).to_have_count(2)
    other = cards.filter(has_text="Chrome on Android")
    expect(other).to_contain_text("127.0.0.1")
    expect(cards.filter(has_text="This browser")).to_have_count(1)
    other.get_by_role("button", name=re.compile("^Sign out Chrome on Android")).click()
    expect(page.get_by_text("That device is signed out")).to_be_visible()
    expect(page.locator(".session-card")).to_have_count(1)

    phone.goto("/dashboard")
    expect(phone).to_have_url(re.compile(r"/login\?next=%2Fdashboard$"))
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    browser_log.assert_clean()


@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (375, "dark")],
                         ids=["desktop-light", "phone-dark"])
def test_account_pages_are_accessible(
    page: Page, account: Account, sign_in, browser_log: BrowserLog, width: int, scheme: str,
) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    sign_in(page, account.email, account.password)
    for path in ACCOUNT_PAGES:
        page.goto(path)
        assert_accessible(page, f"{path} at {width} px")
        # Nothing wider than the screen: the page never scrolls sideways.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
    page.goto("/account/delete")
    page.get_by_role("button", name="Close my account").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    assert_accessible(page, "closing form with an error")
    browser_log.assert_clean(allow=("400",))


def test_closing_the_account_in_the_browser(
    page: Page, account: Account, sign_in, browser_log: BrowserLog,
) -> None:
    sign_in(page, account.email, account.password)
    page.goto("/account/data")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download my data").click()
    assert re.fullmatch(r"tangent-account-\d+-\d{4}-\d\d-\d\d\.json",
                        download.value.suggested_filename)
    page.get_by_role("link", name="Close my account…").click()
    page.get_by_label("Your password").fill(account.password)
    page.get_by_role("button", name="Close my account").click()
    expect(page).to_have_url(re.compile(r"^https?://[^/]+/$"))
    expect(page.get_by_text("Your account is closed")).to_be_visible()
    page.goto("/account/")
    expect(page).to_have_url(re.compile(r"/login"))
    browser_log.assert_clean()
