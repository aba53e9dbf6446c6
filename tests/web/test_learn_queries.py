"""The learner pages run a fixed number of queries whatever the amount of data.

Each test measures a page, adds nine times more of everything (courses, lessons,
learners, progress rows, bookmarks, certificates), and measures again.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_quiz, make_user
from webapp.extensions import db
from webapp.models import Certificate, Course, User
from webapp.services import courses, progress

_n = itertools.count(1)


def grow(app, units: int) -> None:
    """Add ``units`` times (a course, a lesson on the target course, a learner, progress rows)."""
    with app.app_context():
        ada = db.session.scalar(select(User).where(User.email == "ada@example.org"))
        target = db.session.scalar(select(Course).where(Course.slug == "target"))
        for _ in range(units):
            n = next(_n)
            other = make_course(f"Other {n}", modules=1, lessons=2, sections=2,
                                tags=(f"tag{n}", "shared"))
            make_quiz(other.modules[0])
            enroll(ada, other)
            progress.complete_section(ada, other.modules[0].lessons[0].sections[0].id)
            progress.toggle_bookmark(ada, other.modules[0].lessons[1])
            db.session.add(Certificate(user_id=ada.id, course_id=other.id, code=f"code{n}",
                                       learner_name="Ada", course_title=other.title))
            # More lessons in the course being viewed, with a quiz on the new module.
            module = courses.add_module_unchecked(None, target, f"Extra module {n}")
            courses.add_lesson_unchecked(None, module, f"Extra lesson {n}",
                                         "Intro.\n\n## More\n\nText.")
            make_quiz(module, commit=False)
            progress.complete_section(ada, module.lessons[0].sections[0].id)
            # Another learner, with progress on the viewed lesson.
            learner = make_user(f"learner{n}@example.org")
            enroll(learner, target)
            for section in target.modules[0].lessons[0].sections:
                progress.complete_section(learner, section.id)
            progress.toggle_bookmark(learner, target.modules[0].lessons[0])
            db.session.commit()


@pytest.fixture
def signed_in(app, client, login):
    with app.app_context():
        ada = make_user("ada@example.org")
        target = make_course("Target", modules=2, lessons=2, sections=3, tags=("shared",))
        make_quiz(target.modules[0])
        enroll(ada, target)
        progress.complete_section(ada, target.modules[0].lessons[0].sections[0].id)
    grow(app, 1)
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    return client


def count(query_counter, client, url: str, **kwargs) -> int:
    client.get(url, **kwargs)  # warm up: the first visit may record the reading position
    with query_counter() as counted:
        response = client.get(url, **kwargs)
    assert response.status_code == 200
    return counted.n


PAGES = [
    "/courses/",
    "/courses/?tag=shared",
    "/",
    "/courses/target",
    "/courses/target/lessons/lesson-1-1",
    "/courses/target/lessons/lesson-1-1?focus=1",
    "/dashboard",
]
# Fixed budgets (statements, BEGIN included) for a signed-in learner on a warm cache:
# BEGIN, the content tag, the session's user, the header's unread-notification count (one
# indexed COUNT), then the learner's own state (what every reader sees comes from
# ``services.reading``'s cache). A page that starts issuing a query per item, or stops
# using the cache, fails here even before the data grows.
# The course page and the dashboard each add one statement for a member: the course's
# announcements and next events, the newest announcements of the learner's courses.
# The lesson page's normal layout adds one indexed query: its questions panel.
BUDGETS = {"/courses/": 5, "/": 5, "/courses/target": 8,
           "/courses/target/lessons/lesson-1-1": 9,
           "/courses/target/lessons/lesson-1-1?focus=1": 7, "/dashboard": 8}


def test_page_queries_do_not_grow_with_data(app, signed_in, query_counter):
    htmx = {"HX-Request": "true"}
    before = {url: count(query_counter, signed_in, url) for url in PAGES}
    before["partial"] = count(query_counter, signed_in, "/courses/?q=other", headers=htmx)
    for url, budget in BUDGETS.items():
        assert before[url] <= budget, f"{url}: {before[url]} queries, budget {budget}"
    grow(app, 9)
    after = {url: count(query_counter, signed_in, url) for url in PAGES}
    after["partial"] = count(query_counter, signed_in, "/courses/?q=other", headers=htmx)
    assert after == before


def test_anonymous_lesson_page_queries_do_not_grow_with_data(app, client, query_counter):
    with app.app_context():
        ada = make_user("ada@example.org")
        enroll(ada, make_course("Target", modules=2, lessons=2, sections=3))
    grow(app, 1)
    pages = ["/courses/target/lessons/lesson-1-1", "/courses/target", "/courses/"]
    before = {url: count(query_counter, client, url) for url in pages}
    grow(app, 9)
    assert {url: count(query_counter, client, url) for url in pages} == before
