"""Where learners stop: the funnel's numbers on a hand-built course, its empty state,
access, bad input and a statement count that does not grow with the learners."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_user
from webapp.extensions import db
from webapp.models import Course, User
from webapp.services import progress
from webapp.services.insight import funnel

URL = "/edit/courses/{}/insight/funnel"


def _sections(course):
    return [s for m in course.modules for lesson in m.lessons for s in lesson.sections]


@pytest.fixture
def world(app):
    """A course of one module, two lessons of two sections each: A completed the first
    section, D too, B the whole first lesson and opened the second, C the whole course;
    E completed a section and left the course (not counted)."""
    with app.app_context():
        editor = make_user("editor@example.org", role="editor")
        course = make_course("Funnel", modules=1, lessons=2, sections=2, owner=editor)
        s = _sections(course)
        done = {"a": s[:1], "b": s[:2], "c": s, "d": s[:1], "e": s[:1]}
        for name, sections in done.items():
            learner = make_user(f"{name}@example.org")
            enroll(learner, course)
            for section in sections:
                progress.complete_section(learner, section.id)
            if name == "b":  # B opened the second lesson and stopped there.
                progress.record_position(learner, s[2])
            db.session.commit()
        progress.unenroll(db.session.scalar(select(User).where(User.email == "e@example.org")),
                          course)
        db.session.commit()
        return {"course_id": course.id, "sections": [x.id for x in s]}


def test_funnel_counts_reached_and_completed_per_lesson_and_section(app, world):
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        f = funnel.course_funnel(course)
        assert (f.learners, f.finished) == (4, 1)
        # Lesson 1: all four reached; B and C completed it. Lesson 2: C completed it;
        # B opened it (its first section is where "Resume" lands), without completing.
        assert [(x.reached, x.completed) for x in f.lessons] == [(4, 2), (2, 1)]
        assert [(s.reached, s.completed) for x in f.lessons for s in x.sections] == [
            (4, 4), (2, 2), (1, 1), (1, 1)]
        _, s2, s3, _ = world["sections"]
        # A and D stopped before the second section, B before the third; C finished.
        assert [(stop.section_id, stop.learners) for stop in f.stopped] == [(s2, 2), (s3, 1)]


def test_the_page_shows_the_numbers_and_the_top_stop(app, world, client, login):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    response = client.get(URL.format(world["course_id"]))
    assert response.status_code == 200
    page = " ".join(response.get_data(as_text=True).split())
    assert "4 learners enrolled now; 1 of them completed the whole course" in page
    top = re.search(r'<li class="insight-top"><strong>([^<]+)</strong>', page)
    assert top and top.group(1) == "Step 2"
    assert '<svg class="chart-svg" role="img"' in page
    assert '<title id="funnel-chart-title">' in page
    # The chart's description carries the numbers too: lesson 1 has 2 completions.
    assert "Lesson 1.1 2; Lesson 1.2 1." in page


def test_a_course_without_learners_has_an_empty_state(app, client, login):
    with app.app_context():
        editor = make_user("editor@example.org", role="editor")
        course = make_course("Empty", modules=1, lessons=1, owner=editor)
        course_id = course.id
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    page = client.get(URL.format(course_id)).get_data(as_text=True)
    assert "Nobody is enrolled in this course yet" in page
    assert "<svg" not in page


def test_other_editors_and_learners_get_404_and_bad_ids_never_500(app, world, client, login):
    with app.app_context():
        make_user("other@example.org", role="editor")
    login(client, "other@example.org", DEFAULT_PASSWORD)
    assert client.get(URL.format(world["course_id"])).status_code == 404
    client = app.test_client()
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    for path in (URL.format(999999), URL.format(2**31), "/edit/courses/-1/insight/funnel",
                 URL.format(world["course_id"]) + "?x=%00&page=-1"):
        assert client.get(path).status_code in (200, 400, 404), path


def _grow(app, course_id: int, learners: int, start: int) -> None:
    with app.app_context():
        course = db.session.get(Course, course_id)
        sections = _sections(course)
        for n in range(start, start + learners):
            learner = make_user(f"grow{n}@example.org")
            enroll(learner, course)
            for section in sections[: 1 + n % len(sections)]:
                progress.complete_section(learner, section.id)
            db.session.commit()


def test_statements_do_not_grow_with_learners(app, world, client, login, query_counter):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    url = URL.format(world["course_id"])

    def count() -> int:
        client.get(url)
        with query_counter() as counted:
            assert client.get(url).status_code == 200
        return counted.n

    _grow(app, world["course_id"], 4, 0)
    before = count()
    _grow(app, world["course_id"], 40, 100)
    assert count() == before
