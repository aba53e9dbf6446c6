"""Two learners in one course channel, in Chromium: each sees the other's messages appear
without reloading (htmx polling), a mention picked from the autocomplete notifies and
emails the member mentioned (a real SMTP server), a thread reply, and a third learner
reads and posts with JavaScript off. Scripts from messages never run."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.e2e.browser import TIMEOUT_MS, BrowserLog
from tests.factories import DEFAULT_PASSWORD, make_course, make_learner, make_user
from webapp.extensions import db
from webapp.models import Notification, User

HARNESS = """
window.__xss = 0;
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = function () { window.__xss += 1; return null; };
}
"""


@pytest.fixture
def channel_path(app: Flask) -> str:
    with app.app_context():
        owner = make_user("teacher@example.org", role="editor", display_name="Tess Teacher")
        course = make_course("Sourdough", owner=owner, modules=1, lessons=1)
        for email, name in (("ann@example.org", "Ann Lee"), ("bob@example.org", "Bob Stone"),
                            ("cy@example.org", "Cy Nojs")):
            make_learner(email, enrolled_in=[course], display_name=name)
        path = f"/channels/course-{course.id}"
        db.session.remove()
    return path


def _open(browser: Browser, args: dict, email: str, sign_in, *, js: bool = True) -> Page:
    context = browser.new_context(**args, java_script_enabled=js)
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(HARNESS)
    page = context.new_page()
    if js:
        sign_in(page, email, DEFAULT_PASSWORD)
    else:
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
    return page


def _send(page: Page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_two_learners_see_each_other_live_and_a_mention_notifies(
        app: Flask, browser: Browser, browser_context_args: dict, channel_path: str, sign_in,
        smtp_server, browser_log: BrowserLog):
    ann = _open(browser, browser_context_args, "ann@example.org", sign_in)
    bob = _open(browser, browser_context_args, "bob@example.org", sign_in)
    for page in (ann, bob):
        page.goto(channel_path)
        expect(page.get_by_role("heading", name="Sourdough", level=1)).to_be_visible()

    _send(ann, "Hello from **Ann** <script>alert(1)</script>")
    messages = ".message-list li.message"
    # Bob sees it without reloading; Ann sees her own once, and her composer is empty again.
    expect(bob.locator(messages).filter(has_text="Hello from Ann")).to_have_count(1)
    expect(bob.locator(messages).filter(has_text="Hello from Ann").locator("strong")
           .filter(has_text="Ann").first).to_be_visible()
    expect(ann.locator(messages).filter(has_text="Hello from Ann")).to_have_count(1)
    expect(ann.get_by_role("textbox", name="Message")).to_have_value("")

    # Bob mentions Ann through the autocomplete.
    field = bob.get_by_role("textbox", name="Message")
    field.click()
    field.press_sequentially("Welcome @An", delay=20)
    bob.get_by_role("button", name="@Ann Lee").click()
    expect(field).to_have_value("Welcome @Ann Lee ")
    field.press_sequentially("glad you are here")
    bob.get_by_role("button", name="Send").click()
    expect(ann.locator(messages).filter(has_text="glad you are here")).to_have_count(1)
    expect(bob.locator(messages).filter(has_text="glad you are here")).to_have_count(1)

    with app.app_context():
        ann_id = db.session.scalar(select(User.id).where(User.email == "ann@example.org"))
        kinds = db.session.scalars(select(Notification.kind).where(
            Notification.user_id == ann_id)).all()
        db.session.remove()
    assert kinds == ["mention"]
    assert [m["To"] for m in smtp_server.messages] == ["ann@example.org"]
    assert smtp_server.messages[0]["Subject"] == "Bob Stone mentioned you in Sourdough"

    # A reply in Ann's thread: the channel shows the count after a reload.
    ann.locator(messages).filter(has_text="Hello from Ann").get_by_role(
        "link", name=re.compile("Reply in thread")).click()
    ann.get_by_role("textbox", name="Message").fill("replying to myself")
    ann.get_by_role("button", name="Reply").click()
    expect(ann.get_by_text("replying to myself")).to_be_visible()
    bob.reload()
    expect(bob.get_by_role("link", name=re.compile("1 reply"))).to_be_visible()

    for page in (ann, bob):
        assert page.evaluate("window.__xss") == 0
    browser_log.assert_clean()
    for page in (ann, bob):
        page.context.close()


def test_without_javascript_a_learner_reads_and_posts(
        app: Flask, browser: Browser, browser_context_args: dict, channel_path: str, sign_in):
    ann = _open(browser, browser_context_args, "ann@example.org", sign_in)
    ann.goto(channel_path)
    _send(ann, "Anyone baking today?")
    expect(ann.get_by_text("Anyone baking today?")).to_be_visible()

    cy = _open(browser, browser_context_args, "cy@example.org", sign_in, js=False)
    cy.goto(channel_path)
    expect(cy.get_by_text("Anyone baking today?")).to_be_visible()
    _send(cy, "Me, without JavaScript")
    expect(cy).to_have_url(re.compile(re.escape(channel_path) + r"#message-\d+$"))
    expect(cy.get_by_text("Me, without JavaScript")).to_be_visible()
    # Ann's page picks it up by polling; Cy sees Ann's next one with "Refresh".
    expect(ann.get_by_text("Me, without JavaScript")).to_be_visible()
    _send(ann, "Welcome, Cy")
    expect(ann.get_by_text("Welcome, Cy")).to_be_visible()
    cy.get_by_role("link", name="Refresh").click()
    expect(cy.get_by_text("Welcome, Cy")).to_be_visible()
    # A too-long message is refused with the limit, and the text is kept.
    _send(cy, "x" * 2001)
    expect(cy.get_by_text("the most is 2,000")).to_be_visible()
    expect(cy.get_by_role("textbox", name="Message")).to_have_value("x" * 2001)
    for page in (ann, cy):
        page.context.close()
