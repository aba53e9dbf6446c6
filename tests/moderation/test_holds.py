"""Automatic holds: a newcomer's question, answer or channel message with a link waits
hidden in the moderation queue (rule "hold_links_from_newcomers" 1) or is refused (0);
a newcomer's "Go deeper" request waits for a moderator (rule "hold_branch_requests" 1),
and approve_held / reject_held decide it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import (
    AuditEvent,
    Branch,
    ChannelMessage,
    GenerationJob,
    ModerationAction,
    ModerationItem,
    Notification,
    QaQuestion,
    SiteSetting,
    User,
)
from webapp.models.base import utcnow
from webapp.services import branches
from webapp.services.exceptions import Conflict, PermissionDenied
from webapp.settings import get_settings

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LESSON = "/courses/bread/lessons/lesson-1-1"


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, make_user, make_learner, make_branch_course):
    """"Bread" (a lesson suggesting "Wild yeast"); Nel a newcomer, Old a member for a
    month, both enrolled; its editor; a moderator."""
    with app.app_context():
        course = make_branch_course("Bread", owner=make_user("ed@example.org", role="editor"))
        make_learner("nel@example.org", enrolled_in=course)
        old = make_learner("old@example.org", enrolled_in=course)
        old.created_at = utcnow() - timedelta(days=30)
        db.session.add(SiteSetting(key="newcomer_posts", value="0"))
        make_user("mod@example.org", role="moderator")
        db.session.commit()
        return {"course_id": course.id, "lesson_id": course.modules[0].lessons[0].id}


@pytest.fixture
def client_for(app, login):
    def client_for_(email: str):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return client_for_


def _token(client, path: str) -> str:
    return CSRF_RE.search(text(client.get(path))).group(1)


def ask(client, course_id: int, body: str):
    path = "/courses/bread/questions/ask"
    return client.post(path, data={"title": "How do I feed a starter?", "body": body,
                                   "csrf_token": _token(client, path)})


def _set_rule(app, key: str, value: int) -> None:
    with app.app_context():
        db.session.add(SiteSetting(key=key, value=str(value)))
        db.session.commit()


def test_a_newcomers_question_with_a_link_waits_for_a_moderator(app, world, client_for):
    nel = client_for("nel@example.org")
    response = ask(nel, world["course_id"], "See https://spam.example for details")
    assert response.status_code == 303
    with app.app_context():
        question = db.session.scalar(select(QaQuestion))
        assert question.status == "hidden"
        item = db.session.scalar(select(ModerationItem))
        assert (item.target_kind, item.target_id, item.source, item.status, item.hidden) == \
            ("question", question.id, "held", "open", True)
        assert item.author_id == question.author_id and item.course_id == world["course_id"]
        action = db.session.scalar(select(ModerationAction))
        assert action.automated and action.action == "hide" and action.item_id == item.id
        question_id = question.id
    page = text(nel.get(response.headers["Location"]))
    assert "Your post waits for a moderator because it contains a link" in page
    assert "Your question waits for a moderator" in page
    # Another learner does not see it at all.
    assert client_for("old@example.org").get(f"/questions/{question_id}").status_code == 404


def test_a_members_link_and_a_newcomers_plain_post_are_not_held(app, world, client_for):
    assert ask(client_for("old@example.org"), world["course_id"],
               "See https://docs.example").status_code == 303
    assert ask(client_for("nel@example.org"), world["course_id"],
               "No link in this one").status_code == 303
    with app.app_context():
        assert set(db.session.scalars(select(QaQuestion.status))) == {"visible"}
        assert db.session.scalar(select(func.count()).select_from(ModerationItem)) == 0


def test_with_the_rule_off_a_newcomers_link_is_refused_as_before(app, world, client_for):
    _set_rule(app, "hold_links_from_newcomers", 0)
    response = ask(client_for("nel@example.org"), world["course_id"], "https://spam.example")
    assert response.status_code == 400 and "New members cannot post links" in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(QaQuestion)) == 0
        assert db.session.scalar(select(func.count()).select_from(ModerationItem)) == 0


def test_a_held_channel_message_shows_to_its_author_only(app, world, client_for):
    nel = client_for("nel@example.org")
    channel = f"/channels/course-{world['course_id']}"
    response = nel.post(f"{channel}/messages", data={
        "body": "Great recipe at www.bread.example", "csrf_token": _token(nel, channel)})
    assert response.status_code == 303
    page = text(nel.get(channel))
    assert "Your post waits for a moderator because it contains a link" in page
    assert "Your message waits for a moderator" in page and "www.bread.example" in page
    other = text(client_for("old@example.org").get(channel))
    assert "www.bread.example" not in other
    assert "This message is hidden until a moderator reviews it" in other
    with app.app_context():
        message = db.session.scalar(select(ChannelMessage))
        item = db.session.scalar(select(ModerationItem))
        assert message.status == "hidden"
        assert (item.target_kind, item.target_id, item.source) == ("message", message.id,
                                                                   "held")


@pytest.fixture
def paused(monkeypatch):
    monkeypatch.setattr(runner, "enqueue", lambda job_id: None)


def _request(client, lesson_id: int):
    return client.post(f"/lessons/{lesson_id}/branches", data={
        "topic": "Wild yeast", "csrf_token": _token(client, LESSON)})


def test_a_newcomers_branch_request_waits_and_a_moderator_approves_it(app, world, client_for,
                                                                      paused):
    _set_rule(app, "hold_branch_requests", 1)
    nel = client_for("nel@example.org")
    response = _request(nel, world["lesson_id"])
    assert response.status_code == 303
    page = text(nel.get(response.headers["Location"]))
    assert "Your request waits for a moderator" in page
    with app.app_context():
        branch = db.session.scalar(select(Branch))
        assert branch.status == "held" and branch.job_id is None
        assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 0
        item = db.session.scalar(select(ModerationItem))
        assert (item.target_kind, item.source, item.ai_generated) == ("branch", "held", True)
        # Another learner asking the same joins the held request; nothing is generated.
        old = db.session.scalar(select(User).where(User.email == "old@example.org"))
        lesson = branch.parent_lesson
        again, job = branches.request_branch(old, lesson, "Wild yeast",
                                             settings=get_settings(app))
        assert again.id == branch.id and job is None and again.status == "held"
        learner = db.session.scalar(select(User).where(User.email == "nel@example.org"))
        with pytest.raises(PermissionDenied):
            branches.approve_held(branch, learner, settings=get_settings(app))
        mod = db.session.scalar(select(User).where(User.email == "mod@example.org"))
        job = branches.approve_held(branch, mod, settings=get_settings(app))
        db.session.commit()
        assert branch.status == "pending" and branch.job_id == job.id
        assert job.requester_id == learner.id and job.status == "queued"
        assert branches.branch_state(branch, job) == "pending"
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.action == "branch.approve_held")) is not None
        with pytest.raises(Conflict):
            branches.approve_held(branch, mod, settings=get_settings(app))


def test_a_rejected_branch_request_is_failed_hidden_and_told(app, world, client_for, paused):
    _set_rule(app, "hold_branch_requests", 1)
    _request(client_for("nel@example.org"), world["lesson_id"])
    with app.app_context():
        branch = db.session.scalar(select(Branch))
        mod = db.session.scalar(select(User).where(User.email == "mod@example.org"))
        branches.reject_held(branch, mod)
        db.session.commit()
        assert (branch.status, branch.job_id, branch.visibility) == ("failed", None, "hidden")
        assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 0
        notice = db.session.scalar(select(Notification).where(
            Notification.kind == "moderation"))
        assert "declined your request" in notice.title
    # Asking again is refused with a message, not written.
    response = _request(client_for("nel@example.org"), world["lesson_id"])
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 0


def test_members_branch_requests_are_not_held(app, world, client_for, paused):
    _set_rule(app, "hold_branch_requests", 1)
    _request(client_for("old@example.org"), world["lesson_id"])
    with app.app_context():
        branch = db.session.scalar(select(Branch))
        assert branch.status == "pending" and branch.job_id is not None
        assert db.session.scalar(select(func.count()).select_from(ModerationItem)) == 0


def test_with_the_branch_rule_off_newcomers_are_not_held(app, world, client_for, paused):
    _request(client_for("nel@example.org"), world["lesson_id"])
    with app.app_context():
        assert db.session.scalar(select(Branch.status)) == "pending"
