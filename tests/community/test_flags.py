"""Flags: the form page (no JavaScript needed), one flag per person and item, the threshold
that hides an item (never a lesson), who may flag what (only what they can see), the rate
limit, and the community rules on the admin's site settings page. Items are rows made
directly in the database (their pages are built elsewhere)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import (
    Announcement,
    AuditEvent,
    Channel,
    ChannelMessage,
    Event,
    Flag,
    QaAnswer,
    QaQuestion,
    SiteSetting,
)
from webapp.models.base import utcnow
from webapp.services.community import flags, rules
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(app, make_user, make_course, make_learner):
    """A published course with a question, an answer, a course-channel message, a course
    event and an announcement by its author; a general-channel message and a site event;
    a draft course's question. Learners: two enrolled, one not; an editor of another
    course; an admin."""
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Loops", owner=owner)
        draft = make_course("Secret", owner=owner, publish=False)
        make_user("other-ed@example.org", role="editor")
        make_user("admin@example.org", role="admin")
        author = make_learner("author@example.org", enrolled_in=[course])
        for email in ("ada@example.org", "bob@example.org", "cy@example.org",
                      "dee@example.org"):
            make_learner(email, enrolled_in=[course])
        make_learner("out@example.org")
        question = QaQuestion(course_id=course.id, author_id=author.id,
                              title="Why does my loop never end?", body="It runs forever.")
        hidden_q = QaQuestion(course_id=course.id, author_id=author.id, title="Hidden one",
                              status="hidden")
        draft_q = QaQuestion(course_id=draft.id, author_id=owner.id, title="Draft question")
        db.session.add_all([question, hidden_q, draft_q])
        db.session.flush()
        answer = QaAnswer(question_id=question.id, author_id=author.id, body="Use break.")
        # The general channel may come with the schema.
        general = db.session.scalar(select(Channel).where(Channel.slug == "general")) \
            or Channel(slug="general")
        channel = Channel(slug=f"course-{course.id}", course_id=course.id)
        db.session.add_all([answer, general, channel])
        db.session.flush()
        start = utcnow() + timedelta(days=3)
        rows = {
            "general_message": ChannelMessage(channel_id=general.id, author_id=author.id,
                                              body="Hello everyone " * 20),
            "message": ChannelMessage(channel_id=channel.id, author_id=author.id,
                                      body="Course chat"),
            "event": Event(course_id=course.id, author_id=author.id, title="Study night",
                           starts_at=start, ends_at=start + timedelta(hours=2)),
            "site_event": Event(course_id=None, author_id=author.id, title="Open day",
                                starts_at=start, ends_at=start + timedelta(hours=2)),
            "announcement": Announcement(course_id=course.id, author_id=owner.id,
                                         title="Exam on Friday", body="Bring a pen."),
        }
        db.session.add_all(rows.values())
        db.session.commit()
        return {"question": question.id, "hidden_question": hidden_q.id,
                "draft_question": draft_q.id, "answer": answer.id,
                "lesson": course.modules[0].lessons[0].id,
                "draft_lesson": draft.modules[0].lessons[0].id,
                **{key: row.id for key, row in rows.items()}}


@pytest.fixture
def signed_in(app, login):
    def signed_in_(email: str):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return signed_in_


def flag(client, kind: str, target_id: int, reason: str = "spam", note: str = "",
         **extra):
    page = client.get(f"/flag/{kind}/{target_id}")
    assert page.status_code == 200, text(page)
    token = CSRF_RE.search(text(page)).group(1)
    return client.post(f"/flag/{kind}/{target_id}",
                       data={"reason": reason, "note": note, "csrf_token": token, **extra})


def status_of(app, model, row_id: int) -> tuple[str, int]:
    with app.app_context():
        row = db.session.get(model, row_id)
        return row.status, row.flag_count


def test_flag_page_works_without_javascript(app, world, signed_in):
    ada = signed_in("ada@example.org")
    page = ada.get(f"/flag/question/{world['question']}?next=/courses/loops")
    body = text(page)
    assert page.status_code == 200
    assert "Why does my loop never end?" in body
    for label in flags.REASON_LABELS.values():
        assert label in body
    assert 'type="radio"' in body and "<textarea" in body and 'href="/courses/loops"' in body
    response = flag(ada, "question", world["question"], "abuse", "Rude \x07words",
                    next="/courses/loops")
    assert response.status_code == 200
    done = text(response)
    assert "the moderators will look at it" in done and 'href="/courses/loops"' in done
    with app.app_context():
        row = db.session.scalar(select(Flag))
        assert (row.target_kind, row.target_id, row.reason, row.note, row.status) == (
            "question", world["question"], "abuse", "Rude words", "open")
        course_id = db.session.get(QaQuestion, world["question"]).course_id
        assert row.course_id == course_id
    assert status_of(app, QaQuestion, world["question"]) == ("visible", 1)


def test_a_foreign_next_is_dropped(app, world, signed_in):
    ada = signed_in("ada@example.org")
    for bad in ("https://evil.example/", "//evil.example", "/\\evil.example"):
        body = text(ada.get(f"/flag/question/{world['question']}", query_string={"next": bad}))
        assert "evil.example" not in body


def test_a_second_flag_is_refused_clearly(app, world, signed_in):
    ada = signed_in("ada@example.org")
    assert flag(ada, "answer", world["answer"]).status_code == 200
    again = ada.get(f"/flag/answer/{world['answer']}")
    assert "You flagged this answer" in text(again)
    token = CSRF_RE.search(text(ada.get("/notifications"))).group(1)
    response = ada.post(f"/flag/answer/{world['answer']}",
                        data={"reason": "spam", "csrf_token": token})
    assert response.status_code == 409
    assert "You have already flagged this answer" in text(response)
    assert status_of(app, QaAnswer, world["answer"]) == ("visible", 1)


def test_the_service_refuses_a_duplicate_even_past_its_check(app, world, monkeypatch):
    """Two submissions at once: the unique constraint decides, with the same message."""
    with app.app_context():
        ada = db.session.scalar(select(flags.User).where(flags.User.email == "ada@example.org"))
        flags.flag_item(ada, "message", world["message"], "spam")
        db.session.commit()
        monkeypatch.setattr(flags, "existing_flag", lambda *_: None)
        with pytest.raises(Conflict, match="already flagged"):
            flags.flag_item(ada, "message", world["message"], "spam")
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Flag)) == 1
        assert db.session.get(ChannelMessage, world["message"]).flag_count == 1


def test_the_threshold_hides_the_item(app, world, signed_in):
    with app.app_context():
        db.session.add(SiteSetting(key="flag_hide_threshold", value="2"))
        db.session.commit()
    first = flag(signed_in("ada@example.org"), "message", world["message"])
    assert "now hidden" not in text(first)
    assert status_of(app, ChannelMessage, world["message"]) == ("visible", 1)
    second = flag(signed_in("bob@example.org"), "message", world["message"])
    assert "now hidden" in text(second)
    assert status_of(app, ChannelMessage, world["message"]) == ("hidden", 2)
    with app.app_context():
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.target_type == "message")) == "community.hide_by_flags"
        assert db.session.scalar(select(func.count()).select_from(Flag).where(
            Flag.status == "open")) == 2
    # Hidden, it is no longer there to flag.
    assert signed_in("cy@example.org").get(f"/flag/message/{world['message']}").status_code \
        == 404


def test_lessons_are_never_hidden_by_flags(app, world, signed_in):
    with app.app_context():
        db.session.add(SiteSetting(key="flag_hide_threshold", value="1"))
        db.session.commit()
    response = flag(signed_in("ada@example.org"), "lesson", world["lesson"], "wrong",
                    "The example is wrong.")
    assert response.status_code == 200
    assert "Lessons stay readable while they wait for review" in text(response)
    assert flag(signed_in("bob@example.org"), "lesson", world["lesson"]).status_code == 200
    assert signed_in("cy@example.org").get(
        "/courses/loops/lessons/lesson-1-1").status_code == 200
    with app.app_context():
        assert flags.open_flag_count("lesson", world["lesson"]) == 2


@pytest.mark.parametrize("email, kind, key, allowed", [
    # An outsider: questions of a published course yes; its members' places no.
    ("out@example.org", "question", "question", True),
    ("out@example.org", "answer", "answer", True),
    ("out@example.org", "message", "message", False),
    ("out@example.org", "message", "general_message", True),
    ("out@example.org", "event", "event", False),
    ("out@example.org", "event", "site_event", True),
    ("out@example.org", "announcement", "announcement", False),
    ("out@example.org", "lesson", "lesson", True),
    ("out@example.org", "lesson", "draft_lesson", False),
    ("out@example.org", "question", "draft_question", False),
    # Enrolled learners: their course, not what is hidden.
    ("ada@example.org", "message", "message", True),
    ("ada@example.org", "announcement", "announcement", True),
    ("ada@example.org", "event", "event", True),
    ("ada@example.org", "question", "hidden_question", False),
    # An editor of another course is an outsider here; admins see everything.
    ("other-ed@example.org", "message", "message", False),
    ("other-ed@example.org", "lesson", "draft_lesson", False),
    ("admin@example.org", "message", "message", True),
    ("admin@example.org", "lesson", "draft_lesson", True),
    ("owner@example.org", "question", "draft_question", True),
])
def test_only_what_you_can_see_can_be_flagged(app, world, signed_in, email, kind, key,
                                              allowed):
    client = signed_in(email)
    response = client.get(f"/flag/{kind}/{world[key]}")
    assert response.status_code == (200 if allowed else 404)
    if not allowed:
        token = CSRF_RE.search(text(client.get("/notifications"))).group(1)
        posted = client.post(f"/flag/{kind}/{world[key]}",
                             data={"reason": "spam", "csrf_token": token})
        assert posted.status_code == 404
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Flag)) == 0


@pytest.mark.parametrize("path", ["/flag/comment/1", "/flag/question/2147483648",
                                  "/flag/question/abc", "/flag/question/99999"])
def test_unknown_kinds_and_ids_are_404(app, world, signed_in, path):
    assert signed_in("ada@example.org").get(path).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(app, world):
    response = app.test_client().get(f"/flag/question/{world['question']}")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_bad_input_is_400_with_a_message(app, world, signed_in):
    ada = signed_in("ada@example.org")
    for reason, note, message in [("nonsense", "", "Not a valid choice"),
                                  ("other", "", "Say in the note what is wrong"),
                                  ("spam", "x" * 501, "500")]:
        response = flag(ada, "question", world["question"], reason, note)
        assert response.status_code == 400 and message in text(response), reason
    assert flag(ada, "question", world["question"], "spam", "a\x00b").status_code == 400
    author = signed_in("author@example.org")
    response = flag(author, "question", world["question"])
    assert response.status_code == 400 and "your own question" in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Flag)) == 0


def test_flagging_is_rate_limited(app, world, signed_in, monkeypatch):
    monkeypatch.setattr(rules, "posts_per_hour", lambda user: 1)
    ada = signed_in("ada@example.org")
    assert flag(ada, "question", world["question"]).status_code == 200
    response = flag(ada, "answer", world["answer"])
    assert response.status_code == 429 and "Try again in" in text(response)
    assert response.headers["Retry-After"]


def test_service_errors(app, world):
    with app.app_context():
        ada = db.session.scalar(select(flags.User).where(flags.User.email == "ada@example.org"))
        with pytest.raises(NotFound):
            flags.flag_item(ada, "comment", 1, "spam")
        with pytest.raises(ValidationFailed, match="Choose a reason"):
            flags.flag_item(ada, "question", world["question"], "bad")


def test_the_flag_link_macro_points_at_the_flag_page(app, world):
    with app.test_request_context("/courses/loops?sort=new"):
        template = app.jinja_env.from_string(
            '{% from "macros/community.html" import flag_link %}{{ flag_link("answer", 5) }}')
        html = template.render()
    assert 'href="/flag/answer/5?next=/courses/loops?sort%3Dnew"' in html
    assert "this answer for moderators" in html


# --- the rules on the admin's site settings page ------------------------------------------


def test_admins_edit_the_community_rules(app, world, signed_in):
    admin = signed_in("admin@example.org")
    page = text(admin.get("/admin/settings"))
    assert "Community rules" in page
    for rule in rules.RULES:
        assert rule.label in page and f'name="rule_{rule.key}"' in page
    token = CSRF_RE.search(page).group(1)
    form = {"csrf_token": token, "action": "save", "site_name": "", "institution_name": "",
            "support_email": "", "privacy": "", "terms": "", "accessibility": "",
            **{f"rule_{rule.key}": str(rule.default) for rule in rules.RULES}}
    bad = admin.post("/admin/settings", data={**form, "rule_flag_hide_threshold": "0"})
    assert bad.status_code == 400 and "Choose a number from 1 to 100" in text(bad)
    bad = admin.post("/admin/settings", data={**form, "rule_newcomer_days": "ten"})
    assert bad.status_code == 400
    with app.app_context():
        assert rules.current()["flag_hide_threshold"] == 3
    saved = admin.post("/admin/settings", data={**form, "rule_flag_hide_threshold": "5"})
    assert saved.status_code == 303
    with app.app_context():
        assert rules.current()["flag_hide_threshold"] == 5
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "site.rules"))
        assert audit.delta == {"flag_hide_threshold": [3, 5]}
    assert 'value="5"' in text(admin.get("/admin/settings"))
    assert signed_in("owner@example.org").get("/admin/settings").status_code in (403, 404)


def test_save_rules_checks_each_value(app, world):
    with app.app_context():
        admin = db.session.scalar(select(flags.User).where(
            flags.User.email == "admin@example.org"))
        with pytest.raises(ValidationFailed, match="no rule"):
            rules.save_rules(admin, {"nope": 1})
        with pytest.raises(ValidationFailed, match="from 7 to 3,650"):
            rules.save_rules(admin, {"notification_retention_days": 3})
        assert rules.save_rules(admin, {"newcomer_days": 3}) == {}
        assert rules.save_rules(admin, {"newcomer_days": "10"}) == {"newcomer_days": [3, 10]}
