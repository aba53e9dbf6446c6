"""Focus mode: ?focus=1 without JavaScript, the one toggle control, remembered per user."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.services import progress

URL = "/courses/focus-course/lessons/lesson-1-1"


@pytest.fixture
def world(app, make_course, make_learner, section_refs):
    """A published course of two lessons, Ada enrolled; the first lesson's sections."""
    with app.app_context():
        course = make_course("Focus course", modules=1, lessons=2, sections=3)
        lesson = course.modules[0].lessons[0]
        make_learner("ada@example.org", enrolled_in=course)
        return {"lesson_id": lesson.id, **section_refs(lesson)}


def focus_sections(page: str) -> list[str]:
    return re.findall(r'<article class="focus-section lesson-section" id="([^"]+)"', page)


def test_focus_query_works_for_anonymous_visitors(client, world):
    page = client.get(f"{URL}?focus=1").get_data(as_text=True)
    assert '<body class="focus-mode"' in page
    assert "site-header" not in page and "site-footer" not in page
    assert 'aria-label="Main"' not in page
    # Only the current section (the first one here), with a way on and a way out.
    assert focus_sections(page) == [world["keys"][0]]
    assert "What step 2" not in page
    assert f'href="{URL}?section=step-2&amp;focus=1"' in page
    assert "Leave focus mode" in page and 'accesskey="f"' in page
    assert "enroll to track progress" in page

    page = client.get(f"{URL}?focus=1&section=step-3").get_data(as_text=True)
    assert focus_sections(page) == ["step-step-3"]
    assert "Section 3 of 3" in page
    assert f'href="{URL}?section=step-2&amp;focus=1" rel="prev"' in page
    assert 'href="/courses/focus-course/lessons/lesson-1-2?focus=1"' in page

    normal = client.get(f"{URL}?focus=0").get_data(as_text=True)
    assert "focus-mode" not in normal and "site-header" in normal


def test_unknown_section_key_falls_back_to_the_first_section(client, world):
    page = client.get(f"{URL}?focus=1&section=nope").get_data(as_text=True)
    assert focus_sections(page) == [world["keys"][0]]


def test_anonymous_toggle_carries_focus_in_the_url(client, world, csrf_token):
    token = csrf_token(client, URL)
    response = client.post(f"/lessons/{world['lesson_id']}/focus",
                           data={"csrf_token": token, "focus": "1", "section": "step-2"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}?section=step-2&focus=1"
    response = client.post(f"/lessons/{world['lesson_id']}/focus",
                           data={"csrf_token": token, "focus": "0", "section": "step-2"})
    assert response.headers["Location"] == f"{URL}?section=step-2#step-2"
    assert client.post(f"/lessons/{world['lesson_id']}/focus",
                       data={"csrf_token": token, "focus": "maybe"}).status_code == 400
    assert client.post("/lessons/999999/focus",
                       data={"csrf_token": token, "focus": "1"}).status_code == 404


def test_focus_choice_is_remembered_per_user(app, client, world, csrf_token, login):
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    token = csrf_token(client, URL)
    assert "focus-mode" not in client.get(URL).get_data(as_text=True)
    response = client.post(f"/lessons/{world['lesson_id']}/focus",
                           data={"csrf_token": token, "focus": "1", "section": "step-2"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}?section=step-2"
    with app.app_context():
        assert db.session.scalar(select(User.focus_mode)) is True
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.action == "user.focus_mode")) == "user.focus_mode"

    # Any lesson now opens in focus mode, and its links need no ?focus.
    page = client.get("/courses/focus-course/lessons/lesson-1-2").get_data(as_text=True)
    assert '<body class="focus-mode"' in page
    page = client.get(URL).get_data(as_text=True)
    assert f'href="{URL}?section=step-2"' in page and "focus=1" not in page
    # ?focus=0 overrides the stored choice for one visit, and its links keep it.
    page = client.get(f"{URL}?focus=0").get_data(as_text=True)
    assert "focus-mode" not in page
    assert 'href="/courses/focus-course/lessons/lesson-1-2?focus=0"' in page

    client.post(f"/lessons/{world['lesson_id']}/focus", data={"csrf_token": token, "focus": "0"})
    assert "focus-mode" not in client.get(URL).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User.focus_mode)) is False


def test_focus_mode_opens_at_the_reading_position_with_controls(
    app, client, htmx_client, world, csrf_token, login
):
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    with app.app_context():
        user = db.session.scalar(select(User))
        progress.complete_section(user, world["sections"][0])
        db.session.commit()
    page = client.get(f"{URL}?focus=1").get_data(as_text=True)
    assert focus_sections(page) == ["step-step-2"]  # where "Mark as done" moved the position
    assert page.count("Mark as done") == 1
    assert '<input type="hidden" name="focus" value="1">' in page
    assert 'id="course-progress"' in page  # the slim indicator

    token = csrf_token(client, f"{URL}?focus=1")
    response = client.post(f"/sections/{world['sections'][1]}/complete",
                           data={"csrf_token": token, "focus": "1"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"{URL}?section=step-2&focus=1"

    login(htmx_client, "ada@example.org", DEFAULT_PASSWORD)
    token = csrf_token(htmx_client, f"{URL}?focus=1")
    body = htmx_client.post(f"/sections/{world['sections'][2]}/complete", data={"focus": "1"},
                            headers={"X-CSRFToken": token}).get_data(as_text=True)
    assert 'hx-swap-oob="true"' in body and "toc-" not in body  # no TOC in focus mode
    assert 'href="/courses/focus-course/lessons/lesson-1-2?focus=1"' in body
