"""The admin console's services: the last active admin is kept, suspensions end by
themselves, the audit trail is append-only for the ORM as for raw SQL, and the audit and
security logs filter and page correctly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from tests.factories import make_user
from webapp.extensions import db
from webapp.models import AuditEvent, SecurityEvent, User
from webapp.models.base import utcnow
from webapp.services import accounts, audit_log, user_admin
from webapp.services.exceptions import Conflict, ValidationFailed

pytestmark = pytest.mark.usefixtures("app_ctx")


# --- the last admin ------------------------------------------------------------------------


@pytest.mark.parametrize("change", [
    lambda admin: accounts.set_role(admin, "editor", actor=admin),
    lambda admin: accounts.set_role(admin, "learner", actor=None),
    lambda admin: accounts.set_status(admin, "suspended", actor=admin, reason="r"),
    lambda admin: accounts.set_status(admin, "banned", actor=None, reason="r"),
], ids=["demote-self", "demote-cli", "suspend", "ban"])
def test_the_only_active_admin_is_kept(change):
    admin = make_user(role="admin")
    make_user(role="admin", status="banned")  # not active: does not count
    with pytest.raises(Conflict, match="only active admin"):
        change(admin)
    db.session.rollback()
    assert (admin.role, admin.status) == ("admin", "active")


def test_with_two_admins_one_may_step_down_but_not_both():
    first, second = make_user(role="admin"), make_user(role="admin")
    accounts.set_role(first, "learner", actor=second)
    db.session.commit()
    with pytest.raises(Conflict):
        accounts.set_status(second, "suspended", actor=second, reason="r")
    # Changing nothing about a non-admin, or keeping the admin active, is never refused.
    accounts.set_role(second, "admin", actor=second)
    accounts.set_role(first, "editor", actor=second)
    db.session.commit()


# --- suspensions ----------------------------------------------------------------------------


def test_a_suspension_records_its_end_and_reason_and_can_be_changed():
    admin, user = make_user(role="admin"), make_user()
    end = utcnow() + timedelta(days=7)
    accounts.set_status(user, "suspended", actor=admin, reason=" Spam\x00 again ", until=end,
                        require_reason=True)
    db.session.commit()
    assert (user.status, user.suspended_until, user.status_reason) == (
        "suspended", end, "Spam again")
    version = user.session_version
    accounts.set_status(user, "suspended", actor=admin, reason="Spam again", until=None)
    db.session.commit()
    assert user.suspended_until is None and user.session_version == version
    audits = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "user.status").order_by(AuditEvent.id)).all()
    assert audits[-1].delta == {"suspended_until": [end.isoformat(), None]}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"status": "suspended", "reason": "", "require_reason": True}, "reason"),
    ({"status": "suspended", "reason": "x" * 501}, "reason"),
    ({"status": "suspended", "reason": "r", "until": utcnow() - timedelta(seconds=1)}, "until"),
    ({"status": "banned", "reason": "r", "until": utcnow() + timedelta(days=1)}, "until"),
    ({"status": "frozen"}, "status"),
])
def test_bad_suspensions_are_refused(kwargs, field):
    user = make_user()
    with pytest.raises(ValidationFailed) as caught:
        accounts.set_status(user, actor=None, **kwargs)
    assert caught.value.field == field
    db.session.rollback()


def test_an_ended_suspension_is_lifted_once_and_recorded_as_automatic():
    user = make_user()
    accounts.set_status(user, "suspended", actor=None, reason="r",
                        until=utcnow() + timedelta(hours=1))
    db.session.commit()
    assert not accounts.lift_expired_suspension(user)
    assert accounts.lift_expired_suspension(user, now=utcnow() + timedelta(hours=2))
    db.session.commit()
    assert (user.status, user.suspended_until, user.status_reason) == ("active", None, "")
    assert not accounts.lift_expired_suspension(user, now=utcnow() + timedelta(hours=3))
    event = db.session.scalars(select(SecurityEvent).where(
        SecurityEvent.kind == "status_changed").order_by(SecurityEvent.id.desc())).first()
    assert event.detail == {"before": "suspended", "after": "active",
                            "reason": "suspension ended", "automatic": True}


def test_a_suspension_until_lifted_and_a_ban_never_end_by_themselves():
    suspended, banned = make_user(), make_user()
    accounts.set_status(suspended, "suspended", actor=None, reason="r")
    accounts.set_status(banned, "banned", actor=None, reason="r")
    db.session.commit()
    later = utcnow() + timedelta(days=3650)
    assert not accounts.lift_expired_suspension(suspended, now=later)
    assert not accounts.lift_expired_suspension(banned, now=later)


# --- the audit trail is append-only -----------------------------------------------------------


def test_no_orm_or_raw_statement_can_change_audit_rows():
    user = make_user()
    row_id = db.session.scalar(select(AuditEvent.id).where(AuditEvent.target_id == user.id))
    attempts = [
        lambda: db.session.execute(update(AuditEvent).values(action="forged")),
        lambda: db.session.execute(delete(AuditEvent).where(AuditEvent.id == row_id)),
        lambda: db.session.execute(text("UPDATE audit_event SET delta = '{}'")),
        lambda: db.session.execute(text("DELETE FROM audit_event")),
    ]
    for attempt in attempts:
        with pytest.raises(DBAPIError, match="append-only"):
            attempt()
            db.session.flush()
        db.session.rollback()
    row = db.session.get(AuditEvent, row_id)
    row.action = "forged"
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEvent, row_id).action == "user.create"


# --- reading the logs ----------------------------------------------------------------------


def test_audit_filters_and_keyset_pages():
    admin, other = make_user(role="admin"), make_user()
    for n in range(7):
        accounts.update_profile(other if n % 2 else admin, display_name=f"Name {n}")
        db.session.commit()
    everything = db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id.desc())).all()
    seen, before = [], None
    while True:
        rows, before = audit_log.list_audit(audit_log.audit_filter(), before=before,
                                            page_size=3)
        seen += [row.id for row in rows]
        if before is None:
            break
    assert seen == everything
    by_admin = audit_log.audit_filter(actor=admin.email.upper(), action="user.update")
    rows, _ = audit_log.list_audit(by_admin)
    assert len(rows) == 4 and {row.actor_id for row in rows} == {admin.id}
    rows, _ = audit_log.list_audit(audit_log.audit_filter(target_type="user",
                                                          target_id=str(other.id)))
    assert {row.target_id for row in rows} == {other.id}
    assert audit_log.list_audit(audit_log.audit_filter(actor="nobody@example.org"))[0] == []
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    assert audit_log.list_audit(audit_log.audit_filter(start=tomorrow))[0] == []
    for bad in ({"start": "2026-02-30"}, {"target_id": "-1"}, {"actor": "x" * 300},
                {"start": "2026-02-02", "end": "2026-02-01"}, {"target_id": str(2**31)}):
        with pytest.raises(ValidationFailed):
            audit_log.audit_filter(**bad)


def test_delta_lines_read_as_field_before_after():
    assert audit_log.delta_lines({"role": ["learner", "editor"], "tags": [None, ["a"]],
                                  "odd": "x"}) == [
        ("odd", "—", "x"), ("role", "learner", "editor"), ("tags", "—", '["a"]')]


def test_user_search_escapes_like_wildcards():
    make_user("a_b@example.org", display_name="Percent 100%")
    make_user("axb@example.org", display_name="Plain")
    assert [u.email for u in user_admin.search_users(query="a_b")[0]] == ["a_b@example.org"]
    assert [u.email for u in user_admin.search_users(query="100%")[0]] == ["a_b@example.org"]
    assert len(user_admin.search_users(query="")[0]) == 2


def test_console_counts():
    make_user(role="admin")
    db.session.add(SecurityEvent(kind="login_failed", email="x@example.org"))
    db.session.add(SecurityEvent(kind="login_failed", email="x@example.org",
                                 created_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    counts = user_admin.console_counts()
    assert (counts.users, counts.failed_sign_ins, counts.failed_jobs) == (1, 1, 0)
    assert db.session.scalar(select(User.id)) is not None


def test_a_date_range_pages_through_exactly_its_rows():
    from datetime import UTC, datetime

    day = datetime(2026, 3, 1, tzinfo=UTC)
    for n in range(30):
        db.session.add(AuditEvent(action="x.y", target_type="t", target_id=n,
                                  created_at=day + timedelta(hours=12 * n)))
    # One row written later but stamped earlier (committed out of order).
    db.session.add(AuditEvent(action="x.y", target_type="t", target_id=99,
                              created_at=day + timedelta(days=3, hours=1)))
    db.session.commit()
    f = audit_log.audit_filter(start="2026-03-03", end="2026-03-05")
    seen, before = [], None
    while True:
        rows, before = audit_log.list_audit(f, before=before, page_size=2)
        seen += [row.target_id for row in rows]
        if before is None:
            break
    assert seen == [99, 9, 8, 7, 6, 5, 4]
    assert audit_log.list_audit(audit_log.audit_filter(start="2027-01-01"))[0] == []
    assert audit_log.list_audit(audit_log.audit_filter(end="2026-02-01"))[0] == []
    make_user()
    today = utcnow().date().isoformat()
    events, _ = audit_log.list_security_events(audit_log.security_filter(start=today))
    assert [event.kind for event in events] == ["registered"]
    assert audit_log.list_security_events(audit_log.security_filter(end="2026-03-01"))[0] == []
