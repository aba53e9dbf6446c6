"""The admin console in a browser: an admin finds a learner and suspends them for a day
with a reason; the learner's open session (another browser) is signed out on its next
request and the sign-in page says why and until when. The console's pages are
accessible (axe-core) and CSP-clean."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import TIMEOUT_MS, Account, BrowserLog
from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import User

AXE = Axe()


def assert_accessible(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    results = AXE.run(page)
    assert results.violations_count == 0, (name, results.generate_report())


def test_an_admin_suspends_a_learner_who_is_signed_out_and_told_why(
    page: Page, new_context, browser_log: BrowserLog, account: Account, app: Flask,
    make_user, sign_in, submit_login, save_screenshot,
) -> None:
    with app.app_context():
        make_user("boss@example.org", role="admin", display_name="Boss")
    learner_context = new_context()
    learner_context.set_default_timeout(TIMEOUT_MS)
    learner = learner_context.new_page()
    sign_in(learner, account.email, account.password)

    sign_in(page, "boss@example.org", DEFAULT_PASSWORD)
    page.goto("/admin")
    assert_accessible(page, "admin home")
    page.get_by_role("main").get_by_role("link", name="Users").first.click()
    page.get_by_label("Email or name contains").fill("hopper")
    page.get_by_role("button", name="Find").click()
    assert_accessible(page, "users")
    page.get_by_role("link", name=account.email).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(account.display_name)
    assert_accessible(page, "user page")
    page.get_by_role("button", name="Suspend").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Suspend")
    assert_accessible(page, "suspend confirmation")
    page.get_by_label("1 day").check()
    page.get_by_label("Reason").fill("Posting spam in the course chat")
    page.get_by_role("main").get_by_role("button", name="Suspend").click()
    expect(page.locator(".notice")).to_contain_text("Suspended until")
    expect(page.locator(".notice").get_by_role("link", name="Reactivate")).to_be_visible()
    save_screenshot(page, "admin-after-suspension")
    with app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=account.email))
        assert user.status == "suspended"
        learner_id = user.id

    # The learner's open session ends on its next request.
    learner.goto("/dashboard")
    expect(learner).to_have_url(re.compile(r"/login"))
    submit_login(learner, account.email, account.password)
    error = learner.locator(".field-error")
    expect(error).to_contain_text("This account is suspended until")
    expect(error).to_contain_text("Posting spam in the course chat")
    expect(error.locator("time")).to_have_count(1)
    save_screenshot(learner, "suspended-sign-in")

    page.goto("/admin/security")
    expect(page.get_by_role("cell", name="Login blocked", exact=True)).to_have_count(1)
    assert_accessible(page, "security events")
    for path, name in (("/admin/audit", "audit log"), ("/admin/settings", "site settings"),
                       (f"/admin/users/{learner_id}/reset-link", "reset link"),
                       (f"/admin/users/{learner_id}/export", "data download"),
                       (f"/admin/users/{learner_id}/close", "closing the account")):
        page.goto(path)
        assert_accessible(page, name)
    browser_log.assert_clean()
    learner_context.close()


def test_role_change_and_its_undo_work_without_javascript(
    no_js_page: Page, account: Account, app: Flask, make_user, sign_in,
) -> None:
    page = no_js_page
    with app.app_context():
        make_user("boss@example.org", role="admin", display_name="Boss")
        learner_id = db.session.scalar(db.select(User.id).filter_by(email=account.email))
    sign_in(page, "boss@example.org", DEFAULT_PASSWORD)
    page.goto(f"/admin/users/{learner_id}")
    page.get_by_role("button", name="Change role").click()
    page.get_by_label("New role").select_option("editor")
    page.get_by_role("main").get_by_role("button", name="Change role").click()
    notice = page.locator(".notice")
    expect(notice).to_contain_text("The role changed from learner to editor.")
    notice.get_by_role("link", name="Change back to learner").click()
    expect(page.get_by_label("New role")).to_have_value("learner")
    page.get_by_role("main").get_by_role("button", name="Change role").click()
    expect(page.locator(".facts")).to_contain_text("Learner")
    with app.app_context():
        assert db.session.get(User, learner_id).role == "learner"
