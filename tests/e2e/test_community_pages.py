"""The community's pages in Chromium: every one passes axe-core at desktop (light) and
phone (dark) width without scrolling sideways, and the worst XSS vectors typed into an
announcement, an event, a question, an answer and a channel message run nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import XSS_HARNESS, Account, BrowserLog
from tests.factories import make_course, make_user
from tests.xss_corpus import tries_script, worst_vectors
from webapp.extensions import db
from webapp.models import SiteSetting
from webapp.models.base import utcnow
from webapp.services import progress
from webapp.services.community import announcements, channels, events, notifications, qa

AXE = Axe()
BLNS_PATH = Path(__file__).resolve().parents[3] / "shared/corpora/blns/blns.json"
# The naughty strings that try to run script (the BLNS "Script Injection" family and kin).
BLNS_SCRIPTS = [line for line in (json.loads(BLNS_PATH.read_text(encoding="utf-8"))
                                  if BLNS_PATH.is_file() else []) if tries_script(line)]
# Anything inside the page's main content that could run script or leave the page.
UNSAFE_IN_MAIN = """
() => {
  const found = [];
  for (const el of document.querySelectorAll("main *")) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\\x00-\\x20\\x7f]+/g, "").toLowerCase();
      if (name.startsWith("on") || name === "style" || name === "srcdoc") {
        found.push(`${el.tagName} ${name}`);
      }
      if (/^(javascript|vbscript|data|livescript):/.test(value)) {
        found.push(`${el.tagName} ${name}=${attr.value}`);
      }
    }
    if (/^(SCRIPT|IFRAME|OBJECT|EMBED|STYLE|BASE|META|LINK)$/.test(el.tagName)) {
      found.push(`<${el.tagName.toLowerCase()}>`);
    }
  }
  return found;
}
"""

def _event(title: str, body: str) -> events.EventDraft:
    start = (datetime.now() + timedelta(days=4)).replace(hour=18, minute=0, second=0,
                                                         microsecond=0)
    return events.EventDraft(title=title, body=body, starts_local=start,
                             ends_local=start + timedelta(hours=1), time_zone="Europe/Paris",
                             place="Room 4", capacity=10)

def _world(app: Flask, account: Account, text: str, title: str = "A question") -> dict:
    """A course Grace is enrolled in, with one of every community item written as
    ``text`` (channel messages in pieces of their longest), and a notification for her."""
    with app.app_context():
        owner = make_user("teacher@example.org", role="editor", display_name="Ada Teacher")
        course = make_course("Python", owner=owner)
        grace = db.session.scalar(db.select(type(owner)).where(
            type(owner).email == account.email))
        # Not a newcomer: the vectors hold links, which newcomers may not post.
        grace.created_at = utcnow() - timedelta(days=30)
        db.session.add(SiteSetting(key="newcomer_posts", value="0"))
        progress.enroll(grace, course)
        question = qa.ask_question(grace, course, title=title, body=text,
                                   lesson_id=course.modules[0].lessons[0].id)
        answer = qa.answer_question(owner, question, body=text, mail_context=None)
        announcement = announcements.post_announcement(owner, course, title=title, body=text,
                                                       mail_context=None)
        event = events.create_event(owner, course, _event(title, text))
        view = channels.get_access(owner, channels.course_slug(course.id))
        pieces = [text[i:i + 1900] for i in range(0, len(text), 1900)]
        for piece in pieces[1:]:
            channels.post_message(owner, view, piece)
        message = channels.post_message(owner, view, pieces[0])
        channels.post_message(grace, view, "A reply.", parent_id=message.id)
        notifications.notify([grace.id], "mention", f"Ada mentioned you: {title}",
                             f"/channels/{view.slug}", mail_context=None, actor=owner)
        db.session.commit()
        return {"course": course.slug, "course_id": course.id, "question": question.id,
                "answer": answer.id, "announcement": announcement.id, "event": event.id,
                "channel": view.slug, "message": message.id}

def _pages(w: dict) -> list[str]:
    return [
        f"/courses/{w['course']}", f"/courses/{w['course']}/questions",
        f"/courses/{w['course']}/questions/ask", f"/questions/{w['question']}",
        f"/questions/{w['question']}/edit", "/channels", f"/channels/{w['channel']}",
        f"/channels/{w['channel']}/messages/{w['message']}", "/events",
        f"/events/course/{w['course_id']}", f"/events/{w['event']}", "/events/calendar",
        f"/announcements/course/{w['course_id']}", f"/announcements/{w['announcement']}",
        "/notifications", f"/flag/question/{w['question']}", f"/flag/answer/{w['answer']}",
        "/dashboard",
    ]

@pytest.mark.parametrize(("width", "scheme"), [(1280, "light"), (375, "dark")],
                         ids=["desktop-light", "phone-dark"])
def test_community_pages_are_accessible(page: Page, app: Flask, account: Account, sign_in,
                                        browser_log: BrowserLog, width: int,
                                        scheme: str) -> None:
    world = _world(app, account, "Use `break` to leave a loop:\n\n```python\n"
                                 "for x in range(3):\n    break\n```")
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(color_scheme=scheme)
    sign_in(page, account.email, account.password)
    for path in _pages(world):
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        results = AXE.run(page)
        assert results.violations_count == 0, (path, width, results.generate_report())
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
    browser_log.assert_clean()

def test_hostile_text_in_every_kind_of_post_runs_nothing(page: Page, app: Flask,
                                                         account: Account, sign_in,
                                                         browser_log: BrowserLog) -> None:
    vectors = worst_vectors(30)
    text = "\n\n".join([*(source for _name, source in vectors), *BLNS_SCRIPTS])[:19_000]
    title = "<script>alert(1)</script><img src=x onerror=alert(1)>"
    world = _world(app, account, text, title=title)
    page.add_init_script(XSS_HARNESS)
    page.on("dialog", lambda dialog: dialog.dismiss())
    sign_in(page, account.email, account.password)
    for path in _pages(world):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") == 0, path
        assert page.evaluate(UNSAFE_IN_MAIN) == [], path
    # The title is shown as the text it is, never as markup.
    page.goto(f"/questions/{world['question']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    page.goto(f"/events/{world['event']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    blocked = [t for t in browser_log.csp_violations() if "img-src" not in t]
    assert blocked == [] and [str(e) for e in browser_log.page_errors] == []
