"""Every moderation page — the queue (open and closed), items of each kind in context,
the action and bulk confirmations, a person's page and the actions on people, an appeal,
the course editors' moderation tab, the public profile, the transparency report and the
author's appeal page — by the Nu Html Checker."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from sqlalchemy import select

from tests.web.test_html_valid import vnu  # noqa: F401 - the checker fixture
from webapp.extensions import db
from webapp.models import ModerationAction, User
from webapp.services import progress
from webapp.services.community import channels, flags, qa
from webapp.services.moderation import appeals, content, people, queue

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _world(make_user, make_course) -> dict:
    owner = make_user("owner@example.org", role="editor", display_name="Ada Teacher")
    make_user("mod@example.org", role="moderator", display_name="Mo Derator")
    mod2 = make_user("mod2@example.org", role="moderator", display_name="Max Mod")
    author = make_user("author@example.org", display_name="Sam Spam")
    reporter = make_user("reporter@example.org", display_name="Rita Reporter")
    course = make_course("Python", owner=owner)
    for user in (author, reporter):
        progress.enroll(user, course)
    question = qa.ask_question(author, course, title="How do loops end in Python?",
                               body="With `break`?")
    view = channels.get_access(author, channels.course_slug(course.id))
    messages = [channels.post_message(author, view, f"Message **{n}**") for n in range(3)]
    db.session.commit()
    for message in messages:
        flags.flag_item(reporter, "message", message.id, "spam", "Looks like an advert")
    flags.flag_item(reporter, "question", question.id, "wrong")
    flags.flag_item(reporter, "profile", author.id, "abuse", "A rude name")
    db.session.commit()
    hidden = queue.item_for("message", messages[1].id)
    action = content.act(hidden, mod2, "hide", reason="spam", note="An advert",
                         site_url=None)
    db.session.commit()
    appeal = appeals.file(author, action, "It was about the lesson, honestly.")
    people.act(author, mod2, "warn", reason="spam", note="Please stop.", site_url=None)
    db.session.commit()
    return {
        "course": course.id, "author": author.id,
        "message_item": queue.item_for("message", messages[0].id).id,
        "question_item": queue.item_for("question", question.id).id,
        "profile_item": queue.item_for("profile", author.id).id,
        "closed_item": hidden.id, "appeal": appeal.id, "action": action.id,
    }


def test_moderation_pages_are_valid_html(app, login, make_user, make_course, vnu,  # noqa: F811
                                         tmp_path):
    with app.app_context():
        ids = _world(make_user, make_course)
    moderator, author, editor = app.test_client(), app.test_client(), app.test_client()
    login(moderator, "mod@example.org")
    login(author, "author@example.org")
    login(editor, "owner@example.org")
    item, person = ids["message_item"], ids["author"]
    pages = [
        (moderator, "/moderation"),
        (moderator, "/moderation?status=closed"),
        (moderator, "/moderation?order=most&kind=message&reason=spam"),
        (moderator, f"/moderation/items/{item}"),
        (moderator, f"/moderation/items/{ids['question_item']}"),
        (moderator, f"/moderation/items/{ids['profile_item']}"),
        (moderator, f"/moderation/items/{ids['closed_item']}"),
        (moderator, f"/moderation/items/{item}/hide"),
        (moderator, f"/moderation/items/{item}/edit"),
        (moderator, f"/moderation/items/{ids['profile_item']}/edit"),
        (moderator, f"/moderation/people/{person}"),
        (moderator, f"/moderation/people/{person}/suspend?item={item}"),
        (moderator, f"/moderation/people/{person}/silence"),
        (moderator, f"/moderation/people/{person}/delete_posts"),
        (moderator, f"/moderation/appeals/{ids['appeal']}"),
        (moderator, f"/people/{person}"),
        (editor, f"/edit/courses/{ids['course']}/moderation"),
        (editor, f"/edit/courses/{ids['course']}/moderation/{ids['question_item']}"),
        (author, f"/appeals/actions/{ids['action']}"),
        (author, "/transparency"),
        (author, "/notifications"),
    ]
    files: dict[str, str] = {}

    def keep(path: str, body: str) -> None:
        name = f"page{len(files):03d}.html"
        (tmp_path / name).write_text(body)
        files[name] = path

    for client, path in pages:
        response = client.get(path, follow_redirects=True)
        assert response.status_code == 200, path
        keep(path, response.get_data(as_text=True))
    # The bulk confirmation (a POST from the queue's checkboxes).
    queue_page = moderator.get("/moderation").get_data(as_text=True)
    token = CSRF_RE.search(queue_page).group(1)
    bulk = moderator.post("/moderation/bulk", data={
        "csrf_token": token, "item": [str(item), str(ids["question_item"])],
        "action": "hide", "reason": "spam"})
    assert bulk.status_code == 200
    keep("/moderation/bulk", bulk.get_data(as_text=True))
    result = subprocess.run([*vnu, *sorted(str(tmp_path / n) for n in files)],
                            capture_output=True, text=True, timeout=300, check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{files[Path(m['url']).name]}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == []
    with app.app_context():  # nothing above acted: the pages only showed
        assert db.session.scalar(select(ModerationAction.id).where(
            ModerationAction.moderator_id == db.session.scalar(
                select(User.id).where(User.email == "mod@example.org")))) is None
