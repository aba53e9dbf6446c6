"""Moderation from a flag to a reversed appeal, in Chromium, as five people live it:

a learner flags a message (the third flag: the threshold hides it); a moderator works it
from the queue to a one-day suspension of its author; the author, signed in elsewhere, is
signed out on the next request, reads why at sign-in and appeals; a second moderator
grants the appeal; the author signs in again; the public transparency report counts the
automatic hide, the suspension and the granted appeal. Every page on the way is
axe-checked.
"""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from tests.e2e.browser import TIMEOUT_MS
from tests.factories import DEFAULT_PASSWORD, make_course, make_learner, make_user
from webapp.extensions import db
from webapp.models import Appeal, ChannelMessage, ModerationItem, User
from webapp.services.community import channels, flags

AXE = Axe()


def assert_no_axe_violations(page: Page) -> None:
    results = AXE.run(page)
    assert results.violations_count == 0, (page.url, results.generate_report())


def _world(app: Flask) -> dict:
    with app.app_context():
        owner = make_user("teacher@example.org", role="editor", display_name="Tess Teacher")
        course = make_course("Sourdough", owner=owner, modules=1, lessons=1)
        author = make_learner("sam@example.org", enrolled_in=[course], display_name="Sam Spam")
        ann = make_learner("ann@example.org", enrolled_in=[course], display_name="Ann Lee")
        early = [make_learner(f"early{n}@example.org", enrolled_in=[course])
                 for n in range(2)]
        make_user("mod1@example.org", role="moderator", display_name="Mona Mod")
        make_user("mod2@example.org", role="moderator", display_name="Max Mod")
        view = channels.get_access(author, channels.course_slug(course.id))
        message = channels.post_message(author, view, "Cheap watches, write to me now")
        db.session.commit()
        for learner in early:
            flags.flag_item(learner, "message", message.id, "spam")
        db.session.commit()
        world = {"channel": f"/channels/{view.slug}", "message": message.id,
                 "author": author.id, "ann": ann.id}
        db.session.remove()
    return world


def _page(browser: Browser, args: dict, email: str | None, sign_in) -> Page:
    context = browser.new_context(**args)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    if email:
        sign_in(page, email, DEFAULT_PASSWORD)
    return page


def test_flag_hide_suspend_appeal_reverse_and_report(app, browser, browser_context_args,
                                                     sign_in):
    world = _world(app)
    author = _page(browser, browser_context_args, "sam@example.org", sign_in)
    author.goto("/dashboard")
    expect(author.get_by_role("link", name="Sign out").or_(
        author.get_by_role("button", name="Sign out"))).to_be_visible()

    # 1. A learner flags the message: the third flag hides it.
    ann = _page(browser, browser_context_args, "ann@example.org", sign_in)
    ann.goto(world["channel"])
    message = ann.locator(f"#message-{world['message']}")
    message.get_by_role("link", name=re.compile("^Flag")).click()
    ann.get_by_label("Spam or advertising").check()
    ann.get_by_role("button", name="Send the flag").click()
    expect(ann.locator("body")).to_contain_text("hidden")
    with app.app_context():
        assert db.session.get(ChannelMessage, world["message"]).status == "hidden"
        item_id = db.session.scalar(select(ModerationItem.id).where(
            ModerationItem.target_kind == "message",
            ModerationItem.target_id == world["message"]))
        db.session.remove()

    # 2. The first moderator works it from the queue to a one-day suspension.
    mod1 = _page(browser, browser_context_args, "mod1@example.org", sign_in)
    mod1.goto("/moderation")
    assert_no_axe_violations(mod1)
    mod1.locator(f'a[href="/moderation/items/{item_id}"]').first.click()
    expect(mod1.get_by_role("heading", level=1)).to_be_visible()
    expect(mod1.locator("body")).to_contain_text("Cheap watches")
    assert_no_axe_violations(mod1)
    mod1.get_by_role("link", name="Suspend", exact=True).click()
    mod1.get_by_label("Reason").select_option("spam")
    mod1.get_by_label("Note to the person").fill("Advertising in a course channel.")
    mod1.get_by_label("1 day").check()
    assert_no_axe_violations(mod1)
    mod1.get_by_role("button", name=re.compile("^Suspend")).click()
    expect(mod1.locator("body")).to_contain_text("suspended")
    with app.app_context():
        assert db.session.get(User, world["author"]).status == "suspended"
        assert db.session.get(ModerationItem, item_id).status == "closed"
        db.session.remove()

    # 3. The author's next request is anonymous; signing in says why, with the appeal.
    author.goto("/dashboard")
    expect(author).to_have_url(re.compile(r"/login"))
    author.get_by_label("Email").fill("sam@example.org")
    author.get_by_label("Password").fill(DEFAULT_PASSWORD)
    author.get_by_role("button", name="Sign in").click()
    expect(author.locator("body")).to_contain_text("This account is suspended")
    expect(author.locator("body")).to_contain_text("Advertising in a course channel")
    assert_no_axe_violations(author)
    author.get_by_role("link", name="Appeal this decision").click()
    assert_no_axe_violations(author)
    author.get_by_role("textbox", name="Your appeal").fill("It was a joke between friends, sorry.")
    author.get_by_role("button", name=re.compile("appeal", re.I)).click()
    expect(author.locator("body")).to_contain_text("Your appeal is sent")

    # 4. The first moderator may not decide it; the second grants it.
    with app.app_context():
        appeal_id = db.session.scalar(select(Appeal.id))
        db.session.remove()
    mod1.goto(f"/moderation/appeals/{appeal_id}")
    expect(mod1.locator("body")).to_contain_text("You took the decision this appeal is about")
    expect(mod1.get_by_role("button", name=re.compile("^Decide|^Save|^Send", re.I))) \
        .to_have_count(0)
    mod2 = _page(browser, browser_context_args, "mod2@example.org", sign_in)
    mod2.goto("/moderation?kind=appeal")
    mod2.get_by_role("link", name=re.compile("joke between friends|Appeal")).first.click()
    expect(mod2.locator("body")).to_contain_text("It was a joke between friends")
    assert_no_axe_violations(mod2)
    mod2.get_by_label("Grant: undo the action").check()
    mod2.get_by_label("Note to the author").fill("Fair enough, please keep it on topic.")
    mod2.get_by_role("button", name=re.compile("^Decide|^Save|^Send", re.I)).click()
    expect(mod2.locator("body")).to_contain_text("granted")
    with app.app_context():
        assert db.session.get(User, world["author"]).status == "active"
        db.session.remove()

    # 5. The author signs in again.
    author.goto("/login")
    author.get_by_label("Email").fill("sam@example.org")
    author.get_by_label("Password").fill(DEFAULT_PASSWORD)
    author.get_by_role("button", name="Sign in").click()
    expect(author).not_to_have_url(re.compile(r"/login"))

    # 6. The public report counts both decisions (and the rule's hide), naming nobody.
    anonymous = _page(browser, browser_context_args, None, sign_in)
    anonymous.goto("/transparency")
    assert_no_axe_violations(anonymous)
    by_type = anonymous.get_by_role("table", name="Actions by type")
    expect(by_type.get_by_role("row", name=re.compile(r"^Suspended 1$"))).to_be_visible()
    expect(by_type.get_by_role("row", name=re.compile(r"^Appeal granted 1$"))).to_be_visible()
    expect(by_type.get_by_role("row", name=re.compile(r"^Hidden 1$"))).to_be_visible()
    body = anonymous.locator("body").inner_text()
    for private in ("Sam Spam", "sam@example.org", "Mona Mod", "Max Mod", "Cheap watches"):
        assert private not in body
