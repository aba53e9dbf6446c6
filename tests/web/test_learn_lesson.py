"""Lesson page: reading, section state (+ OOB progress), bookmarks, notes, position."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_quiz
from webapp.extensions import db
from webapp.models import Course, Lesson, LessonProgress, Note, SectionProgress, User
from webapp.services import courses, progress

URL = "/courses/python-basics/lessons"


@pytest.fixture
def world(app, make_course, make_user, section_refs):
    """A published course (2 modules, 2 lessons each, 3 sections each) and a learner."""
    with app.app_context():
        course = make_course("Python basics")
        make_user("ada@example.org")
        lessons = {lesson.slug: {"id": lesson.id, **section_refs(lesson)}
                   for module in course.modules for lesson in module.lessons}
        return {"course_id": course.id, "lessons": lessons}


@pytest.fixture
def learner(csrf_token, login):
    def learner_(app, client, world, *, enrolled=True):
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == "ada@example.org"))
            if enrolled:
                enroll(user, db.session.get(Course, world["course_id"]))
        login(client, "ada@example.org", DEFAULT_PASSWORD)
        return csrf_token(client, f"{URL}/lesson-1-1")

    return learner_


def recount(app, world) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count(SectionProgress.id)).where(
                SectionProgress.course_id == world["course_id"],
                SectionProgress.status == "completed")
        )


def test_anonymous_visitor_reads_without_state_controls(client, world):
    response = client.get(f"{URL}/lesson-1-1")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Lesson 1.1</h1>" in page
    assert "An introduction to lesson 1.1." in page
    assert '<h2 id="step-2">Step 2</h2>' in page
    assert '<div class="highlight">' in page  # code highlighted on the server
    assert "enroll to track progress" in page
    assert "section-state" not in page and "Mark as done" not in page
    assert "bookmark-form" not in page and 'id="lesson-note"' not in page
    assert "Sign in</a> to keep private notes" in page
    # No narration of this lesson: no player, no mention (tests/web/test_audio.py has them).
    assert "<audio" not in page and "Listen to this lesson" not in page


def test_pages_keep_the_strict_csp(client, world):
    response = client.get(f"{URL}/lesson-1-1")
    page = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "unsafe" not in response.headers["Content-Security-Policy"]
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None
    assert re.search(r"\son[a-z]+=", page) is None
    assert " style=" not in page and "<style" not in page
    assert 'href="/static/css/pygments.css' in page


def test_unknown_or_unpublished_lessons_are_not_found(app, client, world):
    with app.app_context():
        make_course("Draft", publish=False)
    assert client.get(f"{URL}/no-such-lesson").status_code == 404
    assert client.get("/courses/nope/lessons/lesson-1-1").status_code == 404
    assert client.get("/courses/draft/lessons/lesson-1-1").status_code == 404


def test_signed_in_but_not_enrolled_sees_enroll_instead_of_controls(app, client, world, learner):
    learner(app, client, world, enrolled=False)
    page = client.get(f"{URL}/lesson-1-1").get_data(as_text=True)
    assert "Enroll to track progress." in page
    assert 'action="/courses/python-basics/enroll"' in page
    assert "Mark as done" not in page
    assert "bookmark-form" in page and 'id="lesson-note"' in page
    with app.app_context():
        assert db.session.query(LessonProgress).count() == 0  # nothing recorded


def test_previous_and_next_lesson_links_cross_modules(app, client, world):
    page = client.get(f"{URL}/lesson-1-2").get_data(as_text=True)
    assert f'href="{URL}/lesson-1-1" rel="prev"' in page
    assert f'href="{URL}/lesson-2-1" rel="next"' in page
    last = client.get(f"{URL}/lesson-2-2").get_data(as_text=True)
    assert "Back to the syllabus" in last


def test_enrolled_learner_sees_controls_toc_and_progress(app, client, world, learner):
    learner(app, client, world)
    page = client.get(f"{URL}/lesson-1-1").get_data(as_text=True)
    sections = world["lessons"]["lesson-1-1"]["sections"]
    for section_id in sections:
        assert f'id="section-{section_id}-state"' in page
        assert f'id="toc-{section_id}"' in page
    assert page.count("Mark as done") == 3
    assert '<progress id="course-progress-bar" value="0" max="12">' in page
    # "Next" goes to the next section's anchor, and from the last section to the next lesson.
    assert 'class="section-next" href="#step-2"' in page
    assert f'class="section-next" href="{URL}/lesson-1-2"' in page


def test_complete_section_as_a_full_page(app, client, world, learner):
    token = learner(app, client, world)
    section_id = world["lessons"]["lesson-1-1"]["sections"][1]
    response = client.post(f"/sections/{section_id}/complete", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}/lesson-1-1#step-2"
    page = client.get(f"{URL}/lesson-1-1").get_data(as_text=True)
    assert page.count("Mark as done") == 2
    assert f'id="section-{section_id}-action" class="section-done"' in page
    assert f'<li id="toc-{section_id}" class="toc-item is-done"' in page
    assert "1 of 12 sections · 8 %" in page


def test_complete_section_as_a_partial_updates_progress_out_of_band(
    app, htmx_client, world, learner
):
    token = learner(app, htmx_client, world)
    section_id = world["lessons"]["lesson-1-1"]["sections"][0]
    response = htmx_client.post(f"/sections/{section_id}/complete",
                                headers={"X-CSRFToken": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert body.lstrip().startswith(f'<form id="section-{section_id}-state"')
    assert "<html" not in body
    assert "✓</span> Done" in body and "Mark as done" not in body
    assert re.search(r'<div id="course-progress" class="course-progress" data-hx-swap-oob="true">',
                     body)
    assert '<progress id="course-progress-bar" value="1" max="12">' in body
    assert re.search(rf'<li id="toc-{section_id}" class="toc-item is-done" '
                     r'data-hx-swap-oob="true">', body)
    assert 'class="section-next" href="#step-2"' in body


def test_complete_section_needs_enrollment_and_a_real_section(
    app, client, htmx_client, world, learner
):
    token = learner(app, client, world, enrolled=False)
    section_id = world["lessons"]["lesson-1-1"]["sections"][0]
    response = client.post(f"/sections/{section_id}/complete", data={"csrf_token": token})
    assert response.status_code == 403
    assert "Enroll in this course to track your progress." in response.get_data(as_text=True)
    assert client.post("/sections/999999/complete",
                       data={"csrf_token": token}).status_code == 404
    assert recount(app, world) == 0

    htmx_token = learner(app, htmx_client, world, enrolled=False)
    response = htmx_client.post(f"/sections/{section_id}/complete",
                                headers={"X-CSRFToken": htmx_token})
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flash"


def test_complete_section_needs_sign_in_and_csrf(app, client, world, csrf_token):
    section_id = world["lessons"]["lesson-1-1"]["sections"][0]
    assert client.post(f"/sections/{section_id}/complete").status_code == 400
    response = client.post(f"/sections/{section_id}/complete",
                           data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_progress_never_exceeds_100_and_matches_a_recount(app, client, world, learner):
    token = learner(app, client, world)
    all_sections = [s for lesson in world["lessons"].values() for s in lesson["sections"]]
    for section_id in all_sections + all_sections[:3]:  # completing twice changes nothing
        client.post(f"/sections/{section_id}/complete", data={"csrf_token": token})
    assert recount(app, world) == 12
    page = client.get(f"{URL}/lesson-2-2").get_data(as_text=True)
    assert "12 of 12 sections · 100 %" in page
    with app.app_context():
        user = db.session.scalar(select(User))
        assert progress.course_progress(user, world["course_id"]).percent == 100
        # An editor removes a section: its progress goes with it; still ≤ 100 % and exact.
        lesson = db.session.get(Lesson, world["lessons"]["lesson-1-1"]["id"])
        courses.set_lesson_source(None, lesson, "Only an introduction now.")
        db.session.commit()
        counted = progress.course_progress(user, world["course_id"])
        assert counted.done <= counted.total and counted.percent <= 100
    assert recount(app, world) == progress_done(app, world)


def progress_done(app, world) -> int:
    with app.app_context():
        user = db.session.scalar(select(User))
        return progress.course_progress(user, world["course_id"]).done


def test_finishing_the_course_offers_the_certificate(app, client, htmx_client, world, learner):
    token = learner(app, htmx_client, world)
    all_sections = [s for lesson in world["lessons"].values() for s in lesson["sections"]]
    for section_id in all_sections[:-1]:
        htmx_client.post(f"/sections/{section_id}/complete", headers={"X-CSRFToken": token})
    body = htmx_client.post(f"/sections/{all_sections[-1]}/complete",
                            headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Course complete!" in body and 'href="/certificates/' in body
    assert "Back to the course" in body
    dashboard = htmx_client.get("/dashboard").get_data(as_text=True)
    assert "Python basics</a>" in dashboard and 'href="/certificates/' in dashboard


def test_a_course_with_a_quiz_is_not_complete_without_it(app, client, world, learner):
    with app.app_context():
        make_quiz(db.session.get(Course, world["course_id"]).modules[0])
    token = learner(app, client, world)
    all_sections = [s for lesson in world["lessons"].values() for s in lesson["sections"]]
    for section_id in all_sections:
        response = client.post(f"/sections/{section_id}/complete", data={"csrf_token": token})
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "100 %" in page and "Course complete!" not in page


def test_bookmark_toggle_as_a_full_page(app, client, world, learner):
    token = learner(app, client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-2"]["id"]
    response = client.post(f"/lessons/{lesson_id}/bookmark", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}/lesson-1-2"
    page = client.get(f"{URL}/lesson-1-2").get_data(as_text=True)
    assert "Bookmarked." in page and "Bookmarked · remove" in page
    client.post(f"/lessons/{lesson_id}/bookmark", data={"csrf_token": token})
    page = client.get(f"{URL}/lesson-1-2").get_data(as_text=True)
    assert "Bookmark removed." in page and "Bookmarked · remove" not in page


def test_bookmark_toggle_as_a_partial(app, htmx_client, world, learner):
    token = learner(app, htmx_client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-2"]["id"]
    response = htmx_client.post(f"/lessons/{lesson_id}/bookmark",
                                headers={"X-CSRFToken": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert body.lstrip().startswith(f'<form id="bookmark-{lesson_id}"')
    assert "Bookmarked · remove" in body
    body = htmx_client.post(f"/lessons/{lesson_id}/bookmark",
                            headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert "Bookmarked" not in body and "☆" in body
    assert htmx_client.post("/lessons/999999/bookmark",
                            headers={"X-CSRFToken": token}).status_code == 404


def note_post(client, lesson_id, token, source, version, **extra):
    return client.post(f"/lessons/{lesson_id}/note",
                       data={"csrf_token": token, "source": source, "version": version, **extra})


def test_note_saves_as_a_full_page(app, client, world, learner):
    token = learner(app, client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-1"]["id"]
    response = note_post(client, lesson_id, token, "Remember **this**\n<script>x()</script>", 0,
                         save="Save note")
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}/lesson-1-1#lesson-note"
    page = client.get(f"{URL}/lesson-1-1").get_data(as_text=True)
    assert "Your note is saved." in page
    assert "Remember **this**" in page  # in the textarea
    assert "<strong>this</strong>" in page  # the sanitized preview
    assert "<script>x()" not in page
    assert '<input type="hidden" name="version" value="1">' in page


def test_note_saves_as_you_type_as_a_partial(app, htmx_client, world, learner):
    token = learner(app, htmx_client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-1"]["id"]
    response = htmx_client.post(f"/lessons/{lesson_id}/note",
                                data={"source": "first", "version": "0"},
                                headers={"X-CSRFToken": token})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    assert body.lstrip().startswith('<form id="lesson-note"')
    assert 'hx-trigger="submit, input changed delay:1000ms"' in body
    assert 'hx-select="#note-status"' in body
    assert "Saved." in body
    assert '<input type="hidden" name="version" value="1">' in body
    # The next autosave carries the new version and is accepted.
    body = htmx_client.post(f"/lessons/{lesson_id}/note",
                            data={"source": "first and second", "version": "1"},
                            headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert '<input type="hidden" name="version" value="2">' in body
    with app.app_context():
        assert db.session.scalar(select(Note.source)) == "first and second"


def test_note_conflict_as_a_partial_keeps_the_text_and_offers_overwrite(
    app, htmx_client, world, learner
):
    token = learner(app, htmx_client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-1"]["id"]
    headers = {"X-CSRFToken": token}
    htmx_client.post(f"/lessons/{lesson_id}/note", data={"source": "tab A", "version": "0"},
                     headers=headers)
    # Another window still holds version 0 (it never saw tab A's save).
    response = htmx_client.post(f"/lessons/{lesson_id}/note",
                                data={"source": "tab B", "version": "0"}, headers=headers)
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed in another window" in body
    assert "Keep my text" in body and "Load the latest note" in body
    assert '<input type="hidden" name="version" value="0">' in body  # still stale
    with app.app_context():
        assert db.session.scalar(select(Note.source)) == "tab A"
    response = htmx_client.post(f"/lessons/{lesson_id}/note",
                                data={"source": "tab B", "version": "0",
                                      "overwrite": "Keep my text"}, headers=headers)
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Note.source)) == "tab B"


def test_note_conflict_as_a_full_page(app, client, world, learner):
    token = learner(app, client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-1"]["id"]
    note_post(client, lesson_id, token, "tab A", 0)
    response = note_post(client, lesson_id, token, "tab B typed text", 0)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "<html" in page and "<h1>Lesson 1.1</h1>" in page
    assert "changed in another window" in page
    assert "tab B typed text" in page  # nothing the learner typed is lost


def test_note_too_long_is_a_bad_request(app, client, htmx_client, world, learner):
    token = learner(app, client, world, enrolled=False)
    lesson_id = world["lessons"]["lesson-1-1"]["id"]
    assert note_post(client, lesson_id, token, "x" * 20_001, 0).status_code == 400
    htmx_token = learner(app, htmx_client, world, enrolled=False)
    response = htmx_client.post(f"/lessons/{lesson_id}/note",
                                data={"source": "x" * 20_001, "version": "0"},
                                headers={"X-CSRFToken": htmx_token})
    assert response.status_code == 400
    assert "20000" in response.get_data(as_text=True)


def test_reading_position_is_recorded_and_offered_on_return(app, client, world, learner):
    token = learner(app, client, world)
    keys = world["lessons"]["lesson-1-1"]["keys"]
    client.get(f"{URL}/lesson-1-1?section={keys[2]}")
    with app.app_context():
        row = db.session.scalar(select(LessonProgress))
        assert row.status == "in_progress"
        assert row.last_section_id == world["lessons"]["lesson-1-1"]["sections"][2]
    client.get(f"{URL}/lesson-1-2")  # elsewhere …
    page = client.get(f"{URL}/lesson-1-1").get_data(as_text=True)  # … and back
    assert f'You were reading <a href="#{keys[2]}">Step 3</a>' in page
    course_page = client.get("/courses/python-basics").get_data(as_text=True)
    assert f'href="{URL}/lesson-1-1#{keys[2]}" role="button">Resume</a>' in course_page
    # Marking a section done moves the position to the next one.
    client.post(f"/sections/{world['lessons']['lesson-1-1']['sections'][0]}/complete",
                data={"csrf_token": token})
    course_page = client.get("/courses/python-basics").get_data(as_text=True)
    assert f'href="{URL}/lesson-1-1#{keys[1]}" role="button">Resume</a>' in course_page


def test_pygments_stylesheet_is_current():
    """static/css/pygments.css is generated; after a Pygments upgrade regenerate it with
    python -c "from webapp.content.render import pygments_css; print(pygments_css(), end='')" \
        > static/css/pygments.css
    """
    from pathlib import Path

    from webapp.content.render import pygments_css

    css = (Path(__file__).parents[2] / "static/css/pygments.css").read_text()
    assert css == pygments_css()


def test_section_anchors_never_duplicate_ids(app, client):
    """The introduction's key can equal a later heading's id; every id stays unique."""
    with app.app_context():
        course = make_course("Anchors", modules=1, lessons=1, sections=1)
        lesson = course.modules[0].lessons[0]
        lesson.title = "Setup"
        courses.set_lesson_source(None, lesson, "Before.\n\n## Setup\n\nText.\n\n## Run\n\nGo.")
        db.session.commit()
    page = client.get("/courses/anchors/lessons/lesson-1-1").get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    for href in re.findall(r'href="#([^"]+)"', page):
        if href not in ("main", "lesson-note"):
            assert href in ids


def test_the_path_goes_through_the_module_quiz(app, client, make_user, make_course, enroll,
                                               make_quiz, login):
    with app.app_context():
        user = make_user("path@example.org")
        course = make_course("Path", modules=2, lessons=2, sections=1)
        quiz = make_quiz(course.modules[0], title="Module one check")
        enroll(user, course)
        quiz_id = quiz.id
    login(client, "path@example.org")
    last_of_module = client.get("/courses/path/lessons/lesson-1-2").get_data(as_text=True)
    assert f'class="section-next" href="/quizzes/{quiz_id}"' in last_of_module
    assert "Next: quiz “Module one check”" in last_of_module
    assert "Next: the module's quiz" in last_of_module
    # Mid-module lessons and a module without a quiz go on to the next lesson.
    assert 'href="/courses/path/lessons/lesson-1-2"' in client.get(
        "/courses/path/lessons/lesson-1-1").get_data(as_text=True)
    assert "Next: quiz" not in client.get("/courses/path/lessons/lesson-2-2").get_data(
        as_text=True)
    course_page = client.get("/courses/path").get_data(as_text=True)
    assert "Before your certificate:" in course_page
    assert "4 sections to mark as done" in course_page
    assert f'pass the quiz <a href="/quizzes/{quiz_id}">Module one check</a>' in course_page


def test_a_section_marked_done_can_be_undone(app, client, htmx_client, world, learner, login,
                                             csrf_token):
    token = learner(app, htmx_client, world)
    section_id = world["lessons"]["lesson-1-1"]["sections"][0]
    htmx_client.post(f"/sections/{section_id}/complete", headers={"X-CSRFToken": token})
    done = htmx_client.get(f"{URL}/lesson-1-1").get_data(as_text=True)
    assert f'data-hx-post="/sections/{section_id}/undo"' in done
    partial = htmx_client.post(f"/sections/{section_id}/undo", headers={"X-CSRFToken": token})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200
    assert f'id="section-{section_id}-action" class="outline">Mark as done' in body
    assert "0 of 12 sections" in body and 'data-hx-swap-oob="true"' in body
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SectionProgress)) == 0
    # Without JavaScript: a plain form post, then back to the section, not done.
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    plain_token = csrf_token(client, f"{URL}/lesson-1-1")
    client.post(f"/sections/{section_id}/complete", data={"csrf_token": plain_token})
    plain = client.post(f"/sections/{section_id}/undo", data={"csrf_token": plain_token})
    assert plain.status_code == 303
    assert plain.headers["Location"].startswith(f"{URL}/lesson-1-1")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SectionProgress)) == 0
