"""Two editors save the same lesson at the same moment: one wins, the other gets the
conflict page, and both texts remain recoverable.

Each save is a real HTTP request through the app in its own thread (own app
context, session and connection), released together by a barrier. Runs on
SQLite and, when DATABASE_URL names it, PostgreSQL.
"""

from __future__ import annotations

import html
import threading

from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import Lesson, LessonRevision
from webapp.services import authoring


def test_concurrent_saves_one_wins_other_gets_conflict_page(app, csrf_token, login):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        make_user("co@example.org", role="editor")
        course = authoring.create_course(owner, title="Shared lesson")
        module = authoring.add_module(owner, course, "M")
        lesson_id = authoring.add_lesson(owner, module, "L", "Start.\n").id
        authoring.invite_editor(owner, course, "co@example.org")
        db.session.commit()
        db.session.remove()
    url = f"/edit/lessons/{lesson_id}"
    clients, tokens = [], []
    for email in ("owner@example.org", "co@example.org"):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        tokens.append(csrf_token(client, url))  # both opened the editor at version 1
        clients.append(client)
    texts = ["Start.\nOwner's paragraph.\n", "Start.\nCo-editor's paragraph.\n"]
    barrier = threading.Barrier(2)
    responses: dict[int, object] = {}

    def save(n: int) -> None:
        barrier.wait(timeout=10)
        responses[n] = clients[n].post(url, data={
            "csrf_token": tokens[n], "title": "L", "source": texts[n], "version": "1"})

    threads = [threading.Thread(target=save, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(response.status_code for response in responses.values())
    assert statuses == [303, 409]
    winner = next(n for n, r in responses.items() if r.status_code == 303)
    loser = 1 - winner
    page = html.unescape(responses[loser].get_data(as_text=True))
    # The loser sees the saved text and their own, and a merge of both to save.
    assert texts[winner] in page and texts[loser] in page
    assert "Owner's paragraph." in page and "Co-editor's paragraph." in page
    with app.app_context():
        lesson = db.session.get(Lesson, lesson_id)
        assert (lesson.version, lesson.source) == (2, texts[winner])
        assert db.session.scalar(select(func.count()).select_from(LessonRevision)
                                 .where(LessonRevision.lesson_id == lesson_id)) == 2
    # Saving the merge from the conflict page works: it carries the current version.
    merged = "Start.\nOwner's paragraph.\nCo-editor's paragraph.\n"
    saved = clients[loser].post(url, data={"csrf_token": tokens[loser], "title": "L",
                                           "source": merged, "version": "2"})
    assert saved.status_code == 303
    with app.app_context():
        lesson = db.session.get(Lesson, lesson_id)
        assert (lesson.version, lesson.source) == (3, merged)
        assert authoring.lesson_text_at(lesson, 2)[1] == texts[winner]
