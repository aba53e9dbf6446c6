"""Certificates: issued once when every section is done and every quiz passed; the
public, printable verification page shows the certificate and nothing else."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests.web.quiz_helpers import build_world, question_specs, start, submit
from webapp.extensions import db
from webapp.models import Certificate, Course, Module, User
from webapp.services import progress, quizzes
from webapp.web.quiz.forms import answers_from_form


def _complete_sections(app, world) -> None:
    with app.app_context():
        user = db.session.get(User, world.user_id)
        for section_id in world.section_ids:
            progress.complete_section(user, section_id)
        db.session.commit()


def _certificates(app, user_id: int) -> list[Certificate]:
    with app.app_context():
        rows = db.session.scalars(select(Certificate).where(Certificate.user_id == user_id)).all()
        db.session.expunge_all()
        return list(rows)


def _pass_quiz(client, world, token) -> int:
    attempt_id = start(client, world, token)
    assert submit(client, attempt_id, token, world.right()).status_code == 303
    return attempt_id


def test_sections_then_passing_the_quiz_issues_exactly_one_certificate(app, client, sign_in):
    with app.app_context():
        world = build_world(display_name="Ada Lovelace")
    _complete_sections(app, world)
    token = sign_in(client, world.email)
    attempt_id = _pass_quiz(client, world, token)
    [certificate] = _certificates(app, world.user_id)
    assert certificate.learner_name == "Ada Lovelace"
    assert certificate.course_title == world.course_title
    page = client.get(f"/attempts/{attempt_id}/result").get_data(as_text=True)
    assert "You completed the course" in page
    assert f'href="/certificates/{certificate.code}" role="button">View your certificate' in page

    # Passing again (a retake) or completing a section again issues nothing new.
    _pass_quiz(client, world, token)
    _complete_sections(app, world)
    assert len(_certificates(app, world.user_id)) == 1


def test_passing_first_then_finishing_the_sections_issues_the_certificate(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = _pass_quiz(client, world, token)
    assert _certificates(app, world.user_id) == []
    page = client.get(f"/attempts/{attempt_id}/result").get_data(as_text=True)
    assert "View your certificate" not in page
    _complete_sections(app, world)
    assert len(_certificates(app, world.user_id)) == 1


def test_no_certificate_for_a_failed_quiz_or_unfinished_sections(app, client, sign_in):
    with app.app_context():
        world = build_world()
    token = sign_in(client, world.email)
    attempt_id = start(client, world, token)
    submit(client, attempt_id, token, world.wrong())
    _complete_sections(app, world)
    assert _certificates(app, world.user_id) == []


def test_every_quiz_of_the_course_must_be_passed(app, client, sign_in):
    with app.app_context():
        world = build_world()
        module = db.session.scalar(select(Module).where(Module.course_id == world.course_id))
        second = quizzes.create_quiz(None, module, key="more", title="More basics",
                                     questions=question_specs()[:1])
        db.session.commit()
        second_id, single_id = second.id, second.questions[0].id
        correct = next(c.id for c in second.questions[0].choices if c.is_correct)
    _complete_sections(app, world)
    token = sign_in(client, world.email)
    _pass_quiz(client, world, token)
    assert _certificates(app, world.user_id) == []
    response = client.post(f"/quizzes/{second_id}/start", data={"csrf_token": token})
    attempt_id = int(response.headers["Location"].rsplit("/", 1)[1])
    submit(client, attempt_id, token, [(f"q{single_id}", str(correct))])
    assert len(_certificates(app, world.user_id)) == 1


def test_public_certificate_page_shows_the_certificate_and_nothing_else(app, client, sign_in):
    with app.app_context():
        world = build_world(email="ada@example.org", display_name="Ada Lovelace",
                            title="Analytical Engines")
        other = build_world(title="Secret Other Course")
        # The same learner is also enrolled elsewhere: that must not show.
        learner = db.session.get(User, world.user_id)
        progress.enroll(learner, db.session.get(Course, other.course_id))
        db.session.commit()
    _complete_sections(app, world)
    token = sign_in(client, world.email)
    _pass_quiz(client, world, token)
    [certificate] = _certificates(app, world.user_id)
    client.post("/logout", data={"csrf_token": token})

    anonymous = app.test_client()
    response = anonymous.get(f"/certificates/{certificate.code}")
    assert response.status_code == 200
    assert response.headers["X-Robots-Tag"] == "noindex"
    page = response.get_data(as_text=True)
    assert "Ada Lovelace" in page
    assert "Analytical Engines" in page
    issued = certificate.issued_at
    date = f"{issued.day} {issued:%B %Y}"
    assert f"This certificate is genuine: issued by Tangent on {date}." in page
    # In the site's time zone (UTC in the tests), the instant in UTC for machines.
    assert f'<time datetime="{issued:%Y-%m-%dT%H:%M:%S}Z">{date}</time>' in page
    verify_url = f"http://localhost/certificates/{certificate.code}"
    assert f'<a href="{verify_url}">{verify_url}</a>' in page
    assert re.search(r'<link rel="stylesheet" href="/static/css/print\.css\?v=[0-9a-f]{12}" '
                     r'media="print">', page)
    assert "ada@example.org" not in page
    assert "Secret Other Course" not in page
    assert "Sign in" in page  # the anonymous visitor's own header, nothing personal


def test_certificate_keeps_the_name_it_was_issued_with(app, client, sign_in):
    with app.app_context():
        world = build_world(display_name="Ada Byron")
    _complete_sections(app, world)
    token = sign_in(client, world.email)
    _pass_quiz(client, world, token)
    [certificate] = _certificates(app, world.user_id)
    with app.app_context():
        db.session.get(User, world.user_id).display_name = "Ada Lovelace"
        db.session.commit()
    page = app.test_client().get(f"/certificates/{certificate.code}").get_data(as_text=True)
    assert "Ada Byron" in page and "Ada Lovelace" not in page


def test_unknown_or_malformed_codes_are_404(app, client):
    assert client.get("/certificates/not-a-real-code").status_code == 404
    assert client.get("/certificates/" + "x" * 40).status_code == 404


def test_codes_are_long_random_and_distinct(app, client, sign_in):
    with app.app_context():
        first = build_world()
        second = build_world(title="Second course")
    codes = []
    for world in (first, second):
        _complete_sections(app, world)
        other_client = app.test_client()
        token = sign_in(other_client, world.email)
        _pass_quiz(other_client, world, token)
        codes += [c.code for c in _certificates(app, world.user_id)]
    assert len(set(codes)) == 2
    assert all(len(code) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", code) for code in codes)


def test_print_stylesheet_hides_the_site_chrome(client):
    response = client.get("/static/css/print.css")
    assert response.status_code == 200
    css = response.get_data(as_text=True)
    for selector in (".site-header", ".site-footer", "button", "form", ".no-print"):
        assert selector in css
    response.close()


def test_issuing_again_is_a_no_op(app):
    with app.app_context():
        world = build_world()
        user = db.session.get(User, world.user_id)
        for section_id in world.section_ids:
            progress.complete_section(user, section_id)
        attempt = quizzes.start_attempt(user, quizzes.get_quiz(world.quiz_id))
        quizzes.submit_attempt(user, attempt.id, answers_from_form(MultiDict(world.right())))
        assert quizzes.maybe_issue_certificate(user, world.course_id) is None
        db.session.commit()
        assert db.session.scalar(select(func.count(Certificate.id))) == 1
