"""Dashboard: continue learning, recent bookmarks, certificates, empty states."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_user
from webapp.extensions import db
from webapp.models import Certificate
from webapp.services import progress, reading


def test_dashboard_needs_sign_in(client):
    response = client.get("/dashboard")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_empty_dashboard(app, client, login):
    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'id="dashboard-no-courses"' in page
    assert 'id="dashboard-no-bookmarks"' in page
    assert 'id="dashboard-no-certificates"' in page
    assert 'href="/dashboard" aria-current="page">Dashboard</a>' in page


def test_dashboard_continue_bookmarks_and_certificates(app, client, login):
    with app.app_context():
        user = make_user("ada@example.org")
        started = make_course("Started", modules=1, lessons=2, sections=2)
        fresh = make_course("Fresh", modules=1, lessons=1, sections=1)
        archived = make_course("Gone", modules=1, lessons=1, sections=1)
        enroll(user, started)
        enroll(user, fresh)
        lesson = started.modules[0].lessons[1]
        progress.complete_section(user, started.modules[0].lessons[0].sections[0].id)
        progress.record_position(user, lesson.sections[1])
        progress.toggle_bookmark(user, lesson)
        progress.toggle_bookmark(user, archived.modules[0].lessons[0])
        archived.status = "archived"
        db.session.add(Certificate(user_id=user.id, course_id=fresh.id, code="abc123",
                                   learner_name="Ada", course_title="Fresh"))
        db.session.commit()
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    page = client.get("/dashboard").get_data(as_text=True)
    # Continue lands on the exact section of the last lesson read.
    assert 'href="/courses/started/lessons/lesson-1-2#step-2" role="button">Continue</a>' in page
    assert "1 of 4 sections · 25 %" in page
    # A course with its certificate is under "Completed", not "Continue learning".
    completed = page.split('id="completed-heading"', 1)[1]
    assert '<a href="/courses/fresh">Fresh</a>' in completed
    assert 'href="/courses/fresh" role="button"' not in page
    assert 'href="/courses/started/lessons/lesson-1-2">Lesson 1.2</a>' in page
    assert "Gone" not in page  # bookmarks of unpublished courses are hidden
    assert '<a href="/certificates/abc123">Fresh</a>' in page


def test_dashboard_shows_the_most_recent_courses_only(app, client, login):
    with app.app_context():
        user = make_user("ada@example.org")
        for n in range(8):
            enroll(user, make_course(f"Course {n}", modules=1, lessons=1, sections=1))
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    page = client.get("/dashboard").get_data(as_text=True)
    assert page.count('class="course-card"') == reading.DASHBOARD_COURSES
    assert "courses you used most recently" in page


def test_finished_course_on_the_dashboard(app, client, login):
    with app.app_context():
        user = make_user("ada@example.org")
        course = make_course("Done", modules=1, lessons=1, sections=2)
        enroll(user, course)
        for section in course.modules[0].lessons[0].sections:
            progress.complete_section(user, section.id)
        db.session.commit()
        assert db.session.scalar(select(Certificate.course_title)) == "Done"
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    page = client.get("/dashboard").get_data(as_text=True)
    completed = page.split('id="completed-heading"', 1)[1]
    assert '<a href="/courses/done">Done</a>' in completed and "certificate</a>" in completed
    assert "You have finished every course you are enrolled in." in page
