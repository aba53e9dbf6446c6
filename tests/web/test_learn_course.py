"""Course page: syllabus, states, prerequisites, start/resume, enroll and unenroll."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_quiz
from webapp.extensions import db
from webapp.models import CoursePrerequisite, Enrollment
from webapp.services import progress


@pytest.fixture
def course(app):
    with app.app_context():
        course = make_course("Python basics", tags=("Python",), level="intermediate")
        make_quiz(course.modules[0])
        return {"slug": course.slug, "id": course.id}


@pytest.fixture
def signed_in(login, make_user):
    def signed_in_(app, client, email="ada@example.org", enrolled_in=None):
        with app.app_context():
            user = make_user(email)
            if enrolled_in is not None:
                from webapp.models import Course

                enroll(user, db.session.get(Course, enrolled_in))
        login(client, email, DEFAULT_PASSWORD)

    return signed_in_


def test_anonymous_course_page(app, client, course):
    response = client.get(f"/courses/{course['slug']}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Python basics</h1>" in page
    assert "Intermediate" in page and ">Python</a>" in page
    assert "Module 1" in page and "Lesson 2.2" in page
    assert "Sign in to enroll" in page and "/login?next=" in page
    assert "Read the first lesson" in page
    assert 'href="/quizzes/' in page and "Quiz: Check: Module 1" in page


def test_unknown_and_draft_courses_are_not_found(app, client):
    with app.app_context():
        make_course("Secret draft", publish=False)
    assert client.get("/courses/nope").status_code == 404
    assert client.get("/courses/secret-draft").status_code == 404


def test_prerequisites_are_links_to_published_courses(app, client):
    with app.app_context():
        basics = make_course("Basics")
        hidden = make_course("Hidden draft", publish=False)
        advanced = make_course("Advanced")
        db.session.add_all([
            CoursePrerequisite(course_id=advanced.id, prerequisite_id=basics.id),
            CoursePrerequisite(course_id=advanced.id, prerequisite_id=hidden.id),
        ])
        db.session.commit()
    page = client.get("/courses/advanced").get_data(as_text=True)
    assert "Before you start" in page
    assert '<a href="/courses/basics">Basics</a>' in page
    assert "Hidden draft" not in page


def test_enroll_then_start_then_resume_at_the_exact_section(
    app, client, course, csrf_token, signed_in
):
    signed_in(app, client)
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    assert ">Enroll</button>" in page
    response = client.post(f"/courses/{course['slug']}/enroll",
                           data={"csrf_token": csrf_token(client, f"/courses/{course['slug']}")})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/courses/{course['slug']}"
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    assert "You are enrolled" in page
    assert f'href="/courses/{course["slug"]}/lessons/lesson-1-1" role="button">Start</a>' in page
    assert '<progress id="course-progress-bar" value="0" max="12">' in page

    # Reading a later section moves "Resume" there, to the exact section anchor.
    client.get(f"/courses/{course['slug']}/lessons/lesson-1-2?section=step-3")
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    resume = f'href="/courses/{course["slug"]}/lessons/lesson-1-2#step-3" role="button">Resume</a>'
    assert resume in page
    assert "In progress" in page


def test_enrolling_twice_is_harmless_and_htmx_gets_a_client_redirect(
    app, client, htmx_client, course, csrf_token, signed_in
):
    signed_in(app, htmx_client)
    token = csrf_token(htmx_client, f"/courses/{course['slug']}")
    for _ in range(2):
        response = htmx_client.post(f"/courses/{course['slug']}/enroll",
                                    headers={"X-CSRFToken": token})
        assert response.status_code == 204
        assert response.headers["HX-Redirect"] == f"/courses/{course['slug']}"
    with app.app_context():
        assert db.session.query(Enrollment).count() == 1


def test_enroll_needs_sign_in_and_csrf(app, client, course, csrf_token, signed_in):
    response = client.post(f"/courses/{course['slug']}/enroll")
    assert response.status_code in (302, 400)  # CSRF is checked before anything else
    signed_in(app, client)
    assert client.post(f"/courses/{course['slug']}/enroll").status_code == 400
    token = csrf_token(client, f"/courses/{course['slug']}")
    client.post("/logout", data={"csrf_token": token})
    response = client.post(f"/courses/{course['slug']}/enroll",
                           data={"csrf_token": csrf_token(client)})
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unenroll_asks_for_confirmation_then_keeps_progress(
    app, client, course, csrf_token, signed_in
):
    signed_in(app, client, enrolled_in=course["id"])
    with app.app_context():
        from webapp.models import Course, User

        user = db.session.query(User).one()
        section = db.session.get(Course, course["id"]).modules[0].lessons[0].sections[0]
        progress.complete_section(user, section.id)
        db.session.commit()
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    assert f'href="/courses/{course["slug"]}/unenroll"' in page

    confirm = client.get(f"/courses/{course['slug']}/unenroll")
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200
    assert "Leave “Python basics”?" in text and "Stay enrolled" in text
    with app.app_context():
        assert db.session.query(Enrollment).count() == 1  # the GET changed nothing

    token = csrf_token(client, f"/courses/{course['slug']}/unenroll")
    response = client.post(f"/courses/{course['slug']}/unenroll", data={"csrf_token": token})
    assert response.status_code == 303
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    assert "You left" in page and ">Enroll</button>" in page
    with app.app_context():
        assert db.session.query(Enrollment).count() == 0

    # Not enrolled: the confirmation page sends you back; POST is a conflict.
    assert client.get(f"/courses/{course['slug']}/unenroll").status_code == 303
    response = client.post(f"/courses/{course['slug']}/unenroll", data={"csrf_token": token})
    assert response.status_code == 409

    # Enrolling again resumes where the learner was.
    client.post(f"/courses/{course['slug']}/enroll", data={"csrf_token": token})
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    assert "1 of 12 sections" in page


def test_lesson_states_on_the_syllabus(app, client, course, signed_in):
    signed_in(app, client, enrolled_in=course["id"])
    with app.app_context():
        from webapp.models import Course, User

        user = db.session.query(User).one()
        lesson = db.session.get(Course, course["id"]).modules[0].lessons[0]
        for section in lesson.sections:
            progress.complete_section(user, section.id)
        db.session.commit()
    client.get(f"/courses/{course['slug']}/lessons/lesson-1-2")
    page = client.get(f"/courses/{course['slug']}").get_data(as_text=True)
    assert page.count('class="lesson-item state-completed"') == 1
    assert page.count('class="lesson-item state-in_progress"') == 1
    assert page.count('class="lesson-item state-new"') == 2
