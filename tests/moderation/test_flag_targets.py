"""Flags on branch lessons (for whoever may see the branch) and on profiles (any active
member's public name), and the small public profile page with its "Report" link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Branch, ModerationItem, User
from webapp.services import accounts

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LESSON = "/courses/bread/lessons/lesson-1-1"


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, make_user, make_learner, make_branch_course, login, csrf_token):
    """Ada asked for the branch "Wild yeast" (written at once); Bob is enrolled but did not
    ask; Cy closed his account."""
    with app.app_context():
        course = make_branch_course("Bread", owner=make_user("ed@example.org", role="editor"))
        for email in ("ada@example.org", "bob@example.org"):
            make_learner(email, enrolled_in=course)
        cy = make_user("cy@example.org", display_name="Cy")
        accounts.set_status(cy, "banned", actor=None)
        db.session.commit()
        lesson_id = course.modules[0].lessons[0].id
    ada = app.test_client()
    login(ada, "ada@example.org", DEFAULT_PASSWORD)
    ada.post(f"/lessons/{lesson_id}/branches",
             data={"topic": "Wild yeast", "csrf_token": csrf_token(ada, LESSON)})
    with app.app_context():
        ids = {u.email: u.id for u in db.session.scalars(select(User))}
        return {"branch_id": db.session.scalar(select(Branch.id)), "ids": ids}


@pytest.fixture
def client_for(app, login):
    def client_for_(email: str):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return client_for_


def _flag(client, kind: str, target_id: int, reason: str = "wrong"):
    path = f"/flag/{kind}/{target_id}"
    page = client.get(path)
    if page.status_code != 200:
        return page
    token = CSRF_RE.search(text(page)).group(1)
    return client.post(path, data={"reason": reason, "note": "", "csrf_token": token})


def test_a_requester_reports_a_branch_lesson_which_is_queued_as_ai(app, world, client_for):
    ada = client_for("ada@example.org")
    page = text(ada.get(f"/branches/{world['branch_id']}"))
    assert f"/flag/branch/{world['branch_id']}" in page and "Report this branch lesson" in page
    response = _flag(ada, "branch", world["branch_id"])
    assert response.status_code == 200 and "Lessons stay readable" in text(response)
    with app.app_context():
        item = db.session.scalar(select(ModerationItem))
        assert (item.target_kind, item.target_id, item.source, item.flag_count,
                item.ai_generated, item.hidden) == ("branch", world["branch_id"], "flags", 1,
                                                    True, False)
        assert db.session.get(Branch, world["branch_id"]).status == "ready"


def test_a_branch_nobody_showed_you_cannot_be_flagged(app, world, client_for):
    bob = client_for("bob@example.org")
    assert bob.get(f"/flag/branch/{world['branch_id']}").status_code == 404
    for bad in ("/flag/branch/999999", "/flag/branch/99999999999999999999",
                "/flag/profile/0", "/flag/profile/99999999999999999999", "/flag/people/1"):
        assert bob.get(bad).status_code == 404, bad


def test_a_profile_is_reported_from_its_page(app, world, client_for):
    bob = client_for("bob@example.org")
    ada_id = world["ids"]["ada@example.org"]
    page = text(bob.get(f"/people/{ada_id}"))
    assert "Member since" in page and f"/flag/profile/{ada_id}" in page
    response = _flag(bob, "profile", ada_id, "abuse")
    assert response.status_code == 200 and "The profile stays as it is" in text(response)
    with app.app_context():
        item = db.session.scalar(select(ModerationItem))
        assert (item.target_kind, item.target_id, item.author_id, item.hidden,
                item.course_id) == ("profile", ada_id, ada_id, False, None)
    # One flag per person; the second is refused with a message.
    assert _flag(bob, "profile", ada_id, "abuse").status_code == 409
    assert "You flagged this profile" in text(bob.get(f"/flag/profile/{ada_id}"))


def test_your_own_profile_has_no_report_link_and_cannot_be_flagged(app, world, client_for):
    ada = client_for("ada@example.org")
    ada_id = world["ids"]["ada@example.org"]
    page = text(ada.get(f"/people/{ada_id}"))
    assert "This is how other members see you" in page and "/flag/profile/" not in page
    response = _flag(ada, "profile", ada_id)
    assert response.status_code == 400 and "This is your own profile" in text(response)


def test_closed_banned_and_unknown_profiles_are_404_and_anonymous_visitors_sign_in(
        app, world, client_for):
    bob = client_for("bob@example.org")
    cy_id = world["ids"]["cy@example.org"]
    assert bob.get(f"/people/{cy_id}").status_code == 404
    assert bob.get(f"/flag/profile/{cy_id}").status_code == 404
    assert bob.get("/people/999999").status_code == 404
    assert bob.get("/people/99999999999999999999").status_code == 404
    anonymous = app.test_client().get(f"/people/{world['ids']['ada@example.org']}")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
