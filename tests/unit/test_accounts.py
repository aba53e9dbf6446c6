"""Accounts service and the models behind it, on whichever backend the suite runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.security import check_password_hash

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, SecurityEvent, User
from webapp.services import accounts
from webapp.services.exceptions import Conflict, ValidationFailed

pytestmark = pytest.mark.usefixtures("app_ctx")


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _events(user_id: int, kind: str | None = None) -> list[SecurityEvent]:
    query = select(SecurityEvent).where(SecurityEvent.user_id == user_id)
    if kind:
        query = query.where(SecurityEvent.kind == kind)
    return list(db.session.scalars(query.order_by(SecurityEvent.id)))


def _audit(target_id: int, action: str) -> list[AuditEvent]:
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.target_id == target_id, AuditEvent.action == action)
    ))


# --- email uniqueness ---------------------------------------------------------------


def test_emails_are_stored_normalized():
    user = make_user("  Ada.Lovelace@Example.ORG ")
    assert user.email == "ada.lovelace@example.org"
    assert accounts.find_user_by_email("ADA.LOVELACE@example.org").id == user.id


@pytest.mark.parametrize("other", ["ada@example.org", "ADA@EXAMPLE.ORG", "Ada@Example.Org"])
def test_the_service_refuses_an_email_in_any_case(other):
    make_user("ada@example.org")
    with pytest.raises(Conflict) as caught:
        accounts.create_user(other, DEFAULT_PASSWORD)
    assert caught.value.field == "email"
    db.session.rollback()
    assert _count(User) == 1


def test_a_registration_racing_past_the_check_still_gets_a_conflict(monkeypatch):
    if db.engine.dialect.name == "sqlite":
        pytest.skip("on SQLite the check already holds the write lock (BEGIN IMMEDIATE): no race")
    real_hash = accounts.generate_password_hash

    def hash_while_someone_else_registers(password: str) -> str:
        # Between the service's check and its insert, another process commits.
        with db.engine.connect() as other:
            other.execute(insert(User).values(email="race@example.org", display_name="Other",
                                              password_hash="x"))
            other.commit()
        return real_hash(password)

    monkeypatch.setattr(accounts, "generate_password_hash", hash_while_someone_else_registers)
    with pytest.raises(Conflict):
        accounts.create_user("race@example.org", DEFAULT_PASSWORD)
    # The caller's transaction is still usable after the conflict.
    assert _count(User) == 1
    db.session.commit()


def test_the_database_refuses_a_duplicate_normalized_email():
    make_user("ada@example.org")
    db.session.add(User(email="ada@example.org", display_name="Ada 2", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_database_refuses_an_email_that_is_not_lower_case():
    db.session.add(User(email="Ada@example.org", display_name="Ada", password_hash="x"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", DEFAULT_PASSWORD, "email"),
        ("", DEFAULT_PASSWORD, "email"),
        ("ada@example.org", "short", "password"),
    ],
)
def test_create_user_validates_input(email, password, field):
    with pytest.raises(ValidationFailed) as caught:
        accounts.create_user(email, password)
    assert caught.value.field == field


def test_create_user_refuses_an_unknown_role():
    with pytest.raises(ValidationFailed):
        accounts.create_user("ada@example.org", DEFAULT_PASSWORD, role="superuser")


# --- one transaction for the write and its records ------------------------------------


def test_create_user_writes_audit_and_security_event_in_the_same_transaction():
    user = accounts.create_user("ada@example.org", DEFAULT_PASSWORD, display_name="Ada",
                                ip="203.0.113.9")
    db.session.rollback()
    assert (_count(User), _count(AuditEvent), _count(SecurityEvent)) == (0, 0, 0)

    user = accounts.create_user("ada@example.org", DEFAULT_PASSWORD, display_name="Ada",
                                ip="203.0.113.9")
    db.session.commit()
    db.session.expire_all()
    [audit] = _audit(user.id, "user.create")
    assert audit.actor_id == user.id
    assert audit.delta == {"email": [None, "ada@example.org"], "role": [None, "learner"]}
    [event] = _events(user.id)
    assert (event.kind, event.ip) == ("registered", "203.0.113.9")
    assert DEFAULT_PASSWORD not in repr(audit.delta)
    assert check_password_hash(user.password_hash, DEFAULT_PASSWORD)


def test_change_password_requires_the_current_one():
    user = make_user()
    with pytest.raises(ValidationFailed) as caught:
        accounts.change_password(user, "wrong password", "a brand new password")
    assert caught.value.field == "current_password"
    db.session.rollback()
    assert user.session_version == 1
    assert _events(user.id, "password_changed") == []


def test_change_password_ends_sessions_and_is_recorded():
    user = make_user()
    accounts.change_password(user, DEFAULT_PASSWORD, "a brand new password", ip="198.51.100.7")
    db.session.commit()
    db.session.expire_all()

    assert user.session_version == 2
    assert accounts.authenticate(user.email, "a brand new password").id == user.id
    assert accounts.authenticate(user.email, DEFAULT_PASSWORD) is None
    [event] = _events(user.id, "password_changed")
    assert (event.actor_id, event.ip) == (user.id, "198.51.100.7")
    [audit] = _audit(user.id, "user.password")
    assert "a brand new password" not in repr(audit.delta)


def test_change_password_refuses_the_same_or_a_weak_password():
    user = make_user()
    with pytest.raises(ValidationFailed):
        accounts.change_password(user, DEFAULT_PASSWORD, DEFAULT_PASSWORD)
    with pytest.raises(ValidationFailed):
        accounts.change_password(user, DEFAULT_PASSWORD, "short")


def test_set_role_records_audit_and_security_event():
    admin = make_user(role="admin")
    user = make_user()
    accounts.set_role(user, "editor", actor=admin)
    db.session.commit()
    db.session.expire_all()

    assert user.role == "editor"
    [audit] = _audit(user.id, "user.role")
    assert (audit.actor_id, audit.delta) == (admin.id, {"role": ["learner", "editor"]})
    [event] = _events(user.id, "role_changed")
    assert event.actor_id == admin.id
    assert event.detail == {"before": "learner", "after": "editor"}


@pytest.mark.parametrize("status", ["suspended", "banned"])
def test_suspension_and_ban_end_sessions_and_are_recorded(status):
    admin = make_user(role="admin")
    user = make_user()
    accounts.set_status(user, status, actor=admin, reason="spam")
    db.session.commit()
    db.session.expire_all()

    assert user.status == status
    assert user.session_version == 2
    assert not user.is_active
    [audit] = _audit(user.id, "user.status")
    assert audit.delta == {"status": ["active", status], "status_reason": ["", "spam"]}
    [event] = _events(user.id, "status_changed")
    assert event.detail == {"before": "active", "after": status, "reason": "spam", "until": None}

    accounts.set_status(user, "active", actor=admin)
    db.session.commit()
    assert user.is_active
    assert user.session_version == 2  # reactivating does not resurrect old sessions


def test_set_status_refuses_unknown_statuses():
    user = make_user()
    with pytest.raises(ValidationFailed):
        accounts.set_status(user, "frozen", actor=None)


# --- timestamps, deletes, versions ----------------------------------------------------


def test_timestamps_come_back_as_utc():
    before = datetime.now(UTC)
    user_id = make_user().id
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        # A server in another zone must not shift the values the app sees.
        db.session.execute(text("SET TIME ZONE 'America/New_York'"))
    user = db.session.get(User, user_id)
    for value in (user.created_at, user.updated_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert before - timedelta(seconds=1) <= value <= datetime.now(UTC)
    event = db.session.scalars(select(SecurityEvent)).one()
    assert event.created_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused():
    user = make_user()
    user.last_login_at = datetime(2026, 1, 1, 12, 0)  # naive on purpose
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.flush()
    db.session.rollback()


def test_deleting_a_user_row_is_refused_because_it_would_rewrite_the_audit_trail():
    """Accounts are closed by anonymizing them (status "deleted"), never by deleting the
    row: ``audit_event.actor_id`` is ON DELETE SET NULL, an UPDATE of audit rows, which
    the database refuses (migration 0015)."""
    admin = make_user(role="admin")
    user = make_user()
    accounts.set_role(user, "editor", actor=admin)
    db.session.commit()

    db.session.delete(admin)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert _count(User) == 2
    assert {a.actor_id for a in db.session.scalars(select(AuditEvent))} == {admin.id, user.id}


def test_a_stale_edit_gets_a_conflict_not_a_lost_update():
    user_id = make_user(display_name="Original").id
    db.session.remove()

    first = Session(db.engine, expire_on_commit=False)
    second = Session(db.engine)
    try:
        mine = first.get(User, user_id)
        first.commit()  # the page was rendered; its transaction is over

        theirs = second.get(User, user_id)
        theirs.display_name = "Saved first"
        second.commit()

        mine.display_name = "Saved second"
        with pytest.raises(StaleDataError):
            first.commit()
        first.rollback()
    finally:
        first.close()
        second.close()
    assert db.session.get(User, user_id).display_name == "Saved first"


def test_update_profile_records_only_real_changes():
    user = make_user(display_name="Ada")
    accounts.update_profile(user, display_name="Ada")
    accounts.update_profile(user, display_name=" Ada\u0000 Lovelace ")
    db.session.commit()
    assert user.display_name == "Ada Lovelace"
    [audit] = _audit(user.id, "user.update")
    assert audit.delta == {"display_name": ["Ada", "Ada Lovelace"]}
