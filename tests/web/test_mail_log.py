"""The admins' outgoing-mail log (/admin/mail): filter, keyset pages, errors, Retry."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, OutgoingMail
from webapp.web.jobs import mail_views


@pytest.fixture
def as_role(app, login):
    def as_role_(role: str):
        email = f"{role}@example.org"
        with app.app_context():
            make_user(email, role=role)
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return as_role_


def _rows(app, *statuses: str, error: str = "554 Mailbox unavailable") -> list[int]:
    with app.app_context():
        rows = [OutgoingMail(recipient=f"r{n}@example.org", subject=f"Subject {n}",
                             template="password_changed", text_body="t", html_body="<p>h</p>",
                             status=status, attempts=1,
                             last_error=error if status == "failed" else None)
                for n, status in enumerate(statuses)]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def _csrf(client, path="/admin/mail") -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                     client.get(path).get_data(as_text=True)).group(1)


@pytest.mark.parametrize("role, status", [("learner", 403), ("editor", 403)])
def test_only_admins_see_the_mail_log(app, as_role, client, role, status):
    assert client.get("/admin/mail").status_code == 302
    assert as_role(role).get("/admin/mail").status_code == status


def test_the_log_lists_messages_with_the_error_of_a_failed_one(app, as_role):
    _rows(app, "sent", "failed", "queued")
    page = as_role("admin").get("/admin/mail").get_data(as_text=True)
    assert page.index("Subject 2") < page.index("Subject 1") < page.index("Subject 0")
    assert "554 Mailbox unavailable" in page
    assert page.count(">Retry<") == 1


def test_filter_by_status(app, as_role):
    _rows(app, "sent", "failed")
    admin = as_role("admin")
    page = admin.get("/admin/mail?status=failed").get_data(as_text=True)
    assert "Subject 1" in page and "Subject 0" not in page
    assert admin.get("/admin/mail?status=lost").status_code == 400


def test_keyset_pages(app, as_role, monkeypatch):
    monkeypatch.setattr(mail_views, "PAGE_SIZE", 2)
    ids = _rows(app, "sent", "sent", "sent")
    admin = as_role("admin")
    first = admin.get("/admin/mail").get_data(as_text=True)
    assert f'before={ids[1]}' in first and "Subject 0" not in first
    second = admin.get(f"/admin/mail?before={ids[1]}").get_data(as_text=True)
    assert "Subject 0" in second and "Older messages" not in second
    assert admin.get("/admin/mail?before=99999999999999").status_code == 200


def test_retry_sends_a_failed_message_again(app, as_role, smtp_server):
    [failed] = _rows(app, "failed")
    admin = as_role("admin")
    response = admin.post(f"/admin/mail/{failed}/retry", data={"csrf_token": _csrf(admin)})
    assert response.status_code == 303
    assert [m["To"] for m in smtp_server.messages] == ["r0@example.org"]
    with app.app_context():
        assert db.session.get(OutgoingMail, failed).status == "sent"
        assert db.session.scalar(select(AuditEvent.action).where(
            AuditEvent.action == "mail.retry")) == "mail.retry"


def test_retry_of_a_sent_or_unknown_message_is_refused(app, as_role):
    [sent] = _rows(app, "sent")
    admin = as_role("admin")
    token = _csrf(admin, "/account/")
    assert admin.post(f"/admin/mail/{sent}/retry", data={"csrf_token": token}).status_code == 400
    assert admin.post("/admin/mail/999999/retry", data={"csrf_token": token}).status_code == 404
    assert admin.post("/admin/mail/99999999999/retry",
                      data={"csrf_token": token}).status_code == 404


def test_a_failed_message_with_a_link_offers_no_retry(app, as_role):
    with app.app_context():
        db.session.add(OutgoingMail(recipient="r@example.org", subject="Reset",
                                    template="password_reset", text_body="x", html_body="x",
                                    status="failed", attempts=5, last_error="554 No"))
        db.session.commit()
    page = as_role("admin").get("/admin/mail").get_data(as_text=True)
    assert ">Retry<" not in page and "asks for a new one" in page
