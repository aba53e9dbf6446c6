"""Messages posted at the same moment from several threads, each with its own session and
connection, then read back by the channel's cursors: every message exactly once, no gaps,
no duplicates, also while new ones keep arriving between page fetches. Runs on whichever
database the suite uses: SQLite by default, PostgreSQL when DATABASE_URL names one."""

from __future__ import annotations

import threading

from webapp.database import run_in_transaction
from webapp.extensions import db
from webapp.models import User
from webapp.services.community import channels

WRITERS = 6
EACH = 15


def _post_many(app, user_ids, slug, count, barrier, errors, tag):
    def work(user_id):
        with app.app_context():
            try:
                barrier.wait(timeout=20)
                for n in range(count):
                    def one(n=n):
                        user = db.session.get(User, user_id)
                        view = channels.get_access(user, slug)
                        return channels.post_message(user, view, f"{tag} {user_id}-{n}").id
                    run_in_transaction(db.session, one)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                errors.append(repr(exc))
            finally:
                db.session.remove()

    return [threading.Thread(target=work, args=(uid,)) for uid in user_ids]


def _run(threads):
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


def _everything(app, slug):
    with app.app_context():
        user = db.session.scalar(db.select(User).limit(1))
        view = channels.get_access(user, slug)
        bodies = [row.message.body for row in channels.newer_messages(view, 0, 10_000)]
        db.session.remove()
    return bodies


def test_simultaneous_messages_page_back_exactly_once_while_more_arrive(
        app, make_user, make_course, make_learner):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Busy", owner=owner)
        ids = [make_learner(f"w{i}@example.org", enrolled_in=[course]).id
               for i in range(WRITERS)]
        slug = channels.course_slug(course.id)
        db.session.remove()
    errors: list[str] = []
    _run(_post_many(app, ids, slug, EACH, threading.Barrier(WRITERS), errors, "first"))
    assert errors == []
    first_wave = _everything(app, slug)
    assert len(first_wave) == len(set(first_wave)) == WRITERS * EACH

    # Page backwards from the newest while a second wave is being posted; then catch up
    # with the poll's "since" cursor from the newest message of the first page.
    late = _post_many(app, ids[:3], slug, EACH, threading.Barrier(3), errors, "second")
    for thread in late:
        thread.start()
    seen: list[str] = []
    with app.app_context():
        reader = db.session.get(User, ids[0])
        view = channels.get_access(reader, slug)
        page = channels.list_messages(view, page_size=7)
        since = channels.newest_id(page)
        seen = [row.message.body for row in page.rows]
        while page.older is not None:
            db.session.expire_all()
            page = channels.list_messages(view, before=page.older, page_size=7)
            seen = [row.message.body for row in page.rows] + seen
            db.session.commit()  # a new snapshot for every page, as separate requests have
        for thread in late:
            thread.join(timeout=120)
        while rows := channels.newer_messages(view, since, page_size=7):
            seen += [row.message.body for row in rows]
            since = rows[-1].id
        db.session.remove()
    assert errors == []
    assert len(seen) == len(set(seen)), "a message came twice"
    everything = _everything(app, slug)
    assert len(everything) == WRITERS * EACH + 3 * EACH
    assert seen == everything, "paging missed messages or put them out of order"
