"""In Chromium: "Mark all as read" with htmx swaps the list and, out of band, the header's
unread badge, without a reload; without JavaScript the same form posts and redirects."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.e2e import conftest as e2e
from tests.e2e.browser import Account, BrowserLog
from webapp.extensions import db
from webapp.models import User
from webapp.services.community.notifications import notify

pytestmark = pytest.mark.e2e
# The browser fixtures of tests/e2e/conftest.py, shared with this folder.
account = e2e.account
base_url = e2e.base_url
browser_log = e2e.browser_log
browser_type_launch_args = e2e.browser_type_launch_args
context = e2e.context
live_server = e2e.live_server
no_js_page = e2e.no_js_page
save_screenshot = e2e.save_screenshot
sign_in = e2e.sign_in


@pytest.fixture
def news(app: Flask, account: Account) -> None:
    with app.app_context():
        uid = db.session.scalar(select(User.id).where(User.email == account.email))
        for title in ("Ann answered “Why loops?”", "Bob mentioned you in #general"):
            notify([uid], "thread_reply", title, "/courses/", mail_context=None)
        db.session.commit()


def test_mark_all_read_updates_the_header_badge_without_a_reload(
        page: Page, account: Account, news, sign_in, browser_log: BrowserLog, save_screenshot):
    sign_in(page, account.email, account.password)
    page.goto("/notifications")
    badge = page.locator("#notification-badge")
    expect(badge).to_have_text("2 unread")
    expect(page.locator(".notification-item.unread")).to_have_count(2)
    save_screenshot(page, "notifications-unread")
    page.evaluate("window.tangentMarker = 1")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_role("status")).to_contain_text("Marked 2 notifications as read.")
    expect(badge).to_have_text("")
    expect(page.locator(".notification-item.unread")).to_have_count(0)
    assert page.evaluate("window.tangentMarker") == 1  # no reload
    page.get_by_role("link", name="Ann answered").click()
    expect(page).to_have_url(re.compile(r"/courses/$"))
    assert browser_log.errors() == []


def test_mark_all_read_without_javascript(no_js_page: Page, account: Account, news, sign_in):
    sign_in(no_js_page, account.email, account.password)
    no_js_page.goto("/notifications")
    expect(no_js_page.locator("#notification-badge")).to_have_text("2 unread")
    no_js_page.get_by_role("button", name="Mark all as read").click()
    expect(no_js_page.locator("#flash")).to_contain_text("Marked 2 notifications as read.")
    expect(no_js_page.locator("#notification-badge")).to_have_text("")
