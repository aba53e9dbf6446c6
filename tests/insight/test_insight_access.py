"""Every insight page and action (the list comes from the URL map, so pages added later
under /edit/courses/<id>/insight are covered too) is for the course's editors and admins
only: tried with GET and with a POST that carries a valid CSRF token, as an anonymous
visitor, a learner, the editor of another course, the owner, a co-editor and an admin."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Course, Enrollment, Lesson, Module, Question, Section, User
from webapp.services import progress
from webapp.services.authoring import editors

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PREFIX = "/edit/courses/<int:course_id>/insight"


def insight_routes(app, ids: dict[str, int]) -> list[tuple[str, str]]:
    """(method, path) of every rule under the insight prefix, with real ids."""
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX):
            continue
        missing = set(rule.arguments) - set(ids)
        assert not missing, f"{rule.rule}: add a real sample id for {missing} to this test"
        path = adapter.build(rule.endpoint, {k: ids[k] for k in rule.arguments})
        routes += [(method, path) for method in sorted(rule.methods & {"GET", "POST"})]
    return sorted(set(routes))


@pytest.fixture
def world(app, make_user, make_course, make_quiz):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Loops", owner=owner, modules=1, lessons=1, sections=2)
        quiz = make_quiz(course.modules[0])
        co = make_user("co@example.org", role="editor")
        editors.invite_editor(owner, course, co.email)
        other = make_user("other@example.org", role="editor")
        make_course("Other", owner=other)
        make_user("admin@example.org", role="admin")
        learner = make_user("learner@example.org")
        progress.enroll(learner, course)
        progress.complete_section(learner, course.modules[0].lessons[0].sections[0].id)
        db.session.commit()
        lesson = db.session.scalar(select(Lesson).where(Lesson.course_id == course.id))
        return {
            "course_id": course.id, "user_id": learner.id, "learner_id": learner.id,
            "quiz_id": quiz.id,
            "name": "funnel",
            "question_id": db.session.scalar(select(Question.id).where(
                Question.quiz_id == quiz.id)),
            "module_id": db.session.scalar(select(Module.id).where(
                Module.course_id == course.id)),
            "lesson_id": lesson.id,
            "section_id": db.session.scalar(select(Section.id).where(
                Section.lesson_id == lesson.id)),
        }


@pytest.fixture
def clients(app, login, world):
    out = {"anonymous": app.test_client()}
    for name in ("learner", "other", "owner", "co", "admin"):
        client = app.test_client()
        assert login(client, f"{name}@example.org", DEFAULT_PASSWORD).status_code == 303
        out[name] = client
    return out


def _token(client) -> str:
    return CSRF_RE.search(client.get("/dashboard").get_data(as_text=True)).group(1)


def _keep_enrolled(app, world) -> None:
    """Put the sample learner back after a POST that may have unenrolled them."""
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        learner = db.session.get(User, world["user_id"])
        if db.session.scalar(select(Enrollment.id).where(
                Enrollment.user_id == learner.id, Enrollment.course_id == course.id)) is None:
            progress.enroll(learner, course)
            db.session.commit()


def test_the_map_covers_the_learners_pages(app, world):
    paths = {path for _method, path in insight_routes(app, world)}
    base = f"/edit/courses/{world['course_id']}/insight"
    assert {f"{base}/learners", f"{base}/learners.csv", f"{base}/learners/{world['user_id']}",
            f"{base}/learners/{world['user_id']}/unenroll", f"{base}/enroll"} <= paths


def test_every_insight_route_is_for_the_courses_editors_and_admins_only(app, clients, world):
    routes = insight_routes(app, world)
    tokens = {name: _token(c) for name, c in clients.items() if name != "anonymous"}
    for method, path in routes:
        anonymous = clients["anonymous"].open(path, method=method)
        if method == "GET":
            assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], \
                (method, path, anonymous.status_code)
        else:  # no session, no CSRF token: refused before anything else
            assert anonymous.status_code in (302, 400), (method, path, anonymous.status_code)
        for name, refused in (("learner", (403, 404)), ("other", (404,))):
            data = {"csrf_token": tokens[name]} if method == "POST" else None
            response = clients[name].open(path, method=method, data=data)
            assert response.status_code in refused, (name, method, path, response.status_code)
        for name in ("owner", "co", "admin"):
            _keep_enrolled(app, world)
            data = {"csrf_token": tokens[name]} if method == "POST" else None
            response = clients[name].open(path, method=method, data=data)
            response.get_data()
            # Allowed in: the page, or its own answer to an empty form (400) or a redirect.
            assert response.status_code not in (401, 403, 404, 500), \
                (name, method, path, response.status_code)
