"""Exporting everything Tangent holds about a person, and closing their account."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from tests.factories import (
    DEFAULT_PASSWORD,
    make_branch_course,
    make_course,
    make_quiz,
    make_user,
)
from webapp.extensions import db
from webapp.models import (
    AnswerChoice,
    AuditEvent,
    Base,
    BranchProgress,
    Certificate,
    Course,
    Note,
    SecurityEvent,
    User,
    UserSession,
)
from webapp.models.users import LearnerRow
from webapp.services import (
    account_data,
    accounts,
    branches,
    notification_prefs,
    progress,
    quizzes,
    sessions,
)
from webapp.services.authoring.editors import invite_editor
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.settings import get_settings

pytestmark = pytest.mark.usefixtures("app_ctx")


def _user_tables() -> dict[str, set[str]]:
    """Every table with a column that references ``user.id``, with those columns."""
    found: dict[str, set[str]] = {}
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(fk.column.table.name == "user" for fk in column.foreign_keys):
                found.setdefault(table.name, set()).add(column.name)
    return found


def _learner_tables() -> set[str]:
    return {m.class_.__tablename__ for m in Base.registry.mappers
            if issubclass(m.class_, LearnerRow)}


def test_every_table_with_a_user_id_is_in_the_export():
    with_user_id = {name for name, columns in _user_tables().items() if "user_id" in columns}
    assert _learner_tables() <= with_user_id
    missing = with_user_id - account_data.EXPORTED_TABLES
    assert not missing, f"add these tables to account_data.SECTIONS: {sorted(missing)}"


def test_closing_an_account_has_a_rule_for_every_table_that_points_at_a_user():
    deleted = {m.__tablename__ for m in account_data.DELETED_WITH_ACCOUNT}
    assert _learner_tables() <= deleted
    without_rule = set(_user_tables()) - deleted - set(account_data.KEPT_WITH_PSEUDONYM)
    assert not without_rule, f"say what closing an account does to: {sorted(without_rule)}"


def _world(app: Flask) -> dict:
    """A learner with a row in every table a learner has rows in, and a bystander."""
    editor = make_user("owner@example.org", role="editor")
    ada = make_user("ada@example.org", display_name="Ada Lovelace")
    bystander = make_user("bob@example.org")
    course = make_branch_course("Engines", owner=editor, sections=2)
    module = course.modules[0]
    quiz = make_quiz(module)
    lesson = module.lessons[0]
    for learner in (ada, bystander):
        progress.enroll(learner, course)
        progress.complete_section(learner, lesson.sections[0].id)
        progress.save_note(learner, lesson, f"Notes of {learner.display_name}")
        progress.toggle_bookmark(learner, lesson)
        attempt = quizzes.start_attempt(learner, quiz)
        question = quiz.questions[0]
        right = next(c for c in question.choices if c.is_correct)
        quizzes.submit_attempt(learner, attempt.id, {f"q{question.id}": [str(right.id)]})
        db.session.add(Certificate(user_id=learner.id, course_id=course.id,
                                   code=f"code-{learner.id}", learner_name=learner.display_name,
                                   course_title=course.title))
        sessions.start_session(learner, user_agent="Mozilla/5.0 (X11; Linux) Firefox/133.0",
                               ip="192.0.2.7")
        notification_prefs.set_preferences(learner, {"mention": "off"}, actor=learner)
    branch, _job = branches.request_branch(ada, lesson, "Wild yeast",
                                           settings=get_settings(app))
    db.session.add(BranchProgress(branch_id=branch.id, user_id=ada.id))
    db.session.commit()
    return {"ada": ada, "bob": bystander, "editor": editor, "course": course,
            "branch": branch}


def _learner_rows(user_id: int) -> dict[str, int]:
    counts = {}
    for model in account_data.DELETED_WITH_ACCOUNT:
        counts[model.__tablename__] = db.session.scalar(
            select(func.count()).select_from(model).where(model.user_id == user_id))
    return counts


def test_the_export_holds_every_section_and_no_secret(app):
    w = _world(app)
    ada = w["ada"]
    document = account_data.export_user(ada, actor=ada, ip="192.0.2.1")
    db.session.commit()
    text = json.dumps(document)  # JSON-ready as it is
    assert document["format"] == "tangent-account-export" and document["version"] == 1
    assert document["profile"]["email"] == "ada@example.org"
    assert "password_hash" not in document["profile"] and "scrypt" not in text
    token_hashes = db.session.scalars(select(UserSession.token_hash)).all()
    assert not any(h in text for h in token_hashes)
    assert document["sessions"][0]["ip"] == "192.0.2.7"
    assert "token_hash" not in document["sessions"][0]
    assert [e["course_title"] for e in document["enrollments"]] == ["Engines"]
    assert document["notes"][0]["source"] == "Notes of Ada Lovelace"
    assert document["bookmarks"][0]["lesson_title"]
    assert document["section_progress"] and document["lesson_progress"]
    attempt = document["quiz_attempts"][0]
    assert attempt["passed"] is True and attempt["answers"][0]["chosen"][0]["text"] == "True"
    assert attempt["answers"][0]["question_prompt"] == "Tests are useful."
    assert document["certificates"][0]["code"] == f"code-{ada.id}"
    assert document["branch_lessons"][0]["topic"] == "Wild yeast"
    assert document["branch_lessons"][0]["completed_at"]
    assert document["notification_preferences"]["mention"] == "off"
    assert document["notification_preferences"]["announcement"] == "email"
    assert {e["kind"] for e in document["security_events"]} >= {"registered"}
    assert "Notes of Bob" not in text and "bob@example.org" not in text
    event = db.session.scalars(select(SecurityEvent).where(
        SecurityEvent.kind == "account_exported")).one()
    assert (event.user_id, event.actor_id, event.ip) == (ada.id, ada.id, "192.0.2.1")


def test_the_export_file_name_has_the_date(app):
    from datetime import date

    ada = make_user("ada@example.org")
    assert account_data.export_filename(ada, date(2026, 12, 5)) == \
        f"tangent-account-{ada.id}-2026-12-05.json"


def test_closing_deletes_the_persons_rows_and_anonymizes_the_account(app):
    w = _world(app)
    ada, bob, editor = w["ada"], w["bob"], w["editor"]
    ada_id = ada.id
    bob_before = _learner_rows(bob.id)
    assert all(_learner_rows(ada_id)[t] for t in (
        "user_session", "notification_preference", "enrollment", "section_progress",
        "lesson_progress", "note", "bookmark", "attempt", "certificate", "branch_request",
        "branch_progress"))
    before_events = db.session.scalar(select(func.count()).select_from(SecurityEvent)
                                      .where(SecurityEvent.user_id == ada_id))

    deleted = account_data.close_account(ada, actor=ada, password=DEFAULT_PASSWORD,
                                         ip="192.0.2.9")
    db.session.commit()
    db.session.expire_all()

    assert deleted["attempt"] == 1 and deleted["user_session"] == 1
    assert set(_learner_rows(ada_id).values()) == {0}
    assert _learner_rows(bob.id) == bob_before  # nobody else's rows
    # Answers went with their attempts.
    assert db.session.scalar(select(func.count()).select_from(AnswerChoice)) == 1
    user = db.session.get(User, ada_id)
    assert user.email == f"deleted-{ada_id}@deleted.invalid"
    assert user.display_name == f"Deleted user {ada_id}"
    assert (user.status, user.role, user.time_zone) == ("deleted", "learner", None)
    assert not check_password_hash(user.password_hash, DEFAULT_PASSWORD)
    # The trail keeps pointing at the pseudonym, and says who closed it.
    assert db.session.scalar(select(func.count()).select_from(SecurityEvent)
                             .where(SecurityEvent.user_id == ada_id)) == before_events + 1
    event = db.session.scalars(select(SecurityEvent).where(
        SecurityEvent.kind == "account_deleted")).one()
    assert (event.user_id, event.actor_id) == (ada_id, ada_id)
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.close")).one()
    assert "ada@example.org" not in json.dumps(audit.delta)
    # What the person made for others stays: the branch other learners may share.
    assert db.session.get(type(w["branch"]), w["branch"].id) is not None
    assert db.session.get(Course, w["course"].id).owner_id == editor.id


def test_a_closed_account_cannot_sign_in_and_its_address_can_register_again(app):
    ada = make_user("ada@example.org")
    account_data.close_account(ada, actor=ada, password=DEFAULT_PASSWORD)
    db.session.commit()
    assert accounts.authenticate("ada@example.org", DEFAULT_PASSWORD) is None
    pseudonym = db.session.get(User, ada.id)
    assert accounts.authenticate(pseudonym.email, DEFAULT_PASSWORD) is None
    assert accounts.authenticate(pseudonym.email, "!closed") is None
    assert not pseudonym.is_active
    again = accounts.create_user("ada@example.org", DEFAULT_PASSWORD)
    db.session.commit()
    assert again.id != ada.id


def test_courses_of_a_closed_editor_stay_with_the_pseudonym(app):
    owner = make_user("owner@example.org", role="editor")
    helper = make_user("helper@example.org", role="editor")
    course = make_course("Looms", owner=owner)
    invite_editor(owner, course, "helper@example.org")
    db.session.commit()
    account_data.close_account(owner, actor=owner, password=DEFAULT_PASSWORD)
    account_data.close_account(helper, actor=None)  # an admin's console or the CLI
    db.session.commit()
    course = db.session.get(Course, course.id)
    assert course.owner_id == owner.id and course.status == "published"
    assert db.session.get(User, owner.id).display_name == f"Deleted user {owner.id}"


def test_the_password_is_checked_when_people_close_their_own_account(app):
    ada = make_user("ada@example.org")
    with pytest.raises(ValidationFailed) as caught:
        account_data.close_account(ada, actor=ada, password="not my password")
    assert caught.value.field == "password"
    db.session.rollback()
    assert db.session.get(User, ada.id).status == "active"


def test_the_last_active_admin_cannot_close_their_account(app):
    boss = make_user("boss@example.org", role="admin")
    make_user("gone@example.org", role="admin", status="suspended")
    with pytest.raises(Conflict):
        account_data.close_account(boss, actor=boss, password=DEFAULT_PASSWORD)
    db.session.rollback()
    make_user("deputy@example.org", role="admin")
    account_data.close_account(boss, actor=boss, password=DEFAULT_PASSWORD)
    db.session.commit()
    assert db.session.get(User, boss.id).status == "deleted"


def test_a_closed_account_cannot_be_closed_twice(app):
    ada = make_user("ada@example.org")
    account_data.close_account(ada, actor=None)
    db.session.commit()
    with pytest.raises(Conflict):
        account_data.close_account(ada, actor=None)


def test_closing_is_all_or_nothing(app, monkeypatch):
    w = _world(app)
    ada_id = w["ada"].id
    before = _learner_rows(ada_id)

    def fail(*_args, **_kwargs):
        raise RuntimeError("the database went away half-way")

    monkeypatch.setattr(account_data, "record_security_event", fail)
    with pytest.raises(RuntimeError):
        account_data.close_account(w["ada"], actor=None)
    db.session.rollback()
    assert _learner_rows(ada_id) == before
    user = db.session.get(User, ada_id)
    assert (user.email, user.status) == ("ada@example.org", "active")
    assert db.session.scalar(select(func.count()).select_from(Note)) == 2


def test_notification_preferences_default_store_changes_only_and_are_audited(app):
    ada = make_user("ada@example.org")
    assert notification_prefs.preferences(ada) == notification_prefs.DEFAULTS
    assert notification_prefs.preference(ada, "mention") == "email"
    changed = notification_prefs.set_preferences(
        ada, {"mention": "digest", "branch_ready": "in_app"}, actor=ada)
    db.session.commit()
    assert changed == {"mention": ["email", "digest"]}
    assert notification_prefs.preference(ada, "mention") == "digest"
    notification_prefs.set_preferences(ada, {"mention": "email", "thread_reply": "off"},
                                       actor=ada)
    db.session.commit()
    from webapp.models import NotificationPreference

    rows = db.session.execute(select(NotificationPreference.kind,
                                     NotificationPreference.channel)).all()
    assert rows == [("thread_reply", "off")]  # back to the default: no row
    audits = db.session.scalars(select(AuditEvent.delta).where(
        AuditEvent.action == "user.notifications").order_by(AuditEvent.id)).all()
    assert audits == [{"mention": ["email", "digest"]},
                      {"mention": ["digest", "email"], "thread_reply": ["in_app", "off"]}]


@pytest.mark.parametrize("mapping", [{"mention": "pigeon"}, {"gossip": "email"},
                                     {"mention": "off", "thread_reply": "sms"}])
def test_unknown_kinds_and_channels_are_refused_before_any_write(app, mapping):
    ada = make_user("ada@example.org")
    with pytest.raises(ValidationFailed):
        notification_prefs.set_preferences(ada, mapping, actor=ada)
    db.session.rollback()
    assert notification_prefs.preferences(ada) == notification_prefs.DEFAULTS
