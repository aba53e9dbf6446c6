"""The community's pages (questions, channels, notifications, flags), full and as htmx
fragments, by the Nu Html Checker. (Events and announcements: test_events_web.py.)"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.web.test_html_valid import vnu  # noqa: F401 - the checker fixture
from webapp.extensions import db
from webapp.services import progress
from webapp.services.community import channels, notifications, qa


def test_community_pages_are_valid_html(app, login, make_user, make_course, vnu,  # noqa: F811
                                        tmp_path):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor", display_name="Ada Teacher")
        learner = make_user("learner@example.org", display_name="Grace Hopper")
        course = make_course("Python", owner=owner)
        progress.enroll(learner, course)
        lesson = course.modules[0].lessons[0]
        question = qa.ask_question(learner, course, title="How do loops end?",
                                   body="With `break`?", lesson_id=lesson.id)
        answer = qa.answer_question(owner, question, body="Yes:\n\n```python\nbreak\n```",
                                    mail_context=None)
        qa.accept_answer(learner, answer, mail_context=None)
        view = channels.get_access(owner, channels.course_slug(course.id))
        message = channels.post_message(owner, view, "Hello **all**, @Grace Hopper.")
        channels.post_message(learner, view, "Hi!", parent_id=message.id)
        notifications.notify([learner.id], "thread_reply", "Grace replied", "/channels",
                             mail_context=None, actor=owner)
        db.session.commit()
        ids = {"slug": course.slug, "question": question.id, "answer": answer.id,
               "channel": view.slug, "message": message.id, "lesson": lesson.slug}
    client = app.test_client()
    login(client, "learner@example.org")
    htmx = {"HX-Request": "true"}
    pages = [
        (f"/courses/{ids['slug']}/questions", {}),
        (f"/courses/{ids['slug']}/questions?sort=unanswered&q=loops", {}),
        (f"/courses/{ids['slug']}/questions/ask?lesson={ids['lesson']}", {}),
        (f"/questions/{ids['question']}", {}),
        (f"/questions/{ids['question']}/edit", {}),
        (f"/questions/{ids['question']}/revisions", {}),
        (f"/courses/{ids['slug']}/lessons/{ids['lesson']}", {}),
        ("/channels", {}),
        (f"/channels/{ids['channel']}", {}),
        (f"/channels/{ids['channel']}/messages/{ids['message']}", {}),
        ("/notifications", {}),
        (f"/flag/question/{ids['question']}", {}),
        (f"/flag/message/{ids['message']}", {}),
        (f"/courses/{ids['slug']}/questions/similar?title=loops+end", htmx),
    ]
    files: dict[str, str] = {}
    for path, headers in pages:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        if headers:  # a fragment: checked inside a minimal document
            body = ("<!doctype html><html lang=en><head><title>x</title></head><body>"
                    f"{body}</body></html>")
        name = f"page{len(files):03d}.html"
        (tmp_path / name).write_text(body)
        files[name] = path
    result = subprocess.run([*vnu, *sorted(str(tmp_path / n) for n in files)],
                            capture_output=True, text=True, timeout=300, check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{files[Path(m['url']).name]}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == []
