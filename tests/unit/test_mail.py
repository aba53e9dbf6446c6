"""Outgoing mail end to end: queued in the caller's transaction, sent by the job queue to a
real SMTP server on 127.0.0.1 (aiosmtpd), retried after transient failures, written to a
file without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import OutgoingMail
from webapp.services import mail
from webapp.settings import get_settings

SITE = "http://tangent.test"


def _queue(user, **extra):
    return mail.queue_mail("password_reset", user.email, user=user, site_url=SITE,
                           link=f"{SITE}/reset-password/abc", hours=1, **extra)


def _notice(user):
    return mail.queue_mail("password_changed", user.email, user=user, site_url=SITE,
                           how="changed", forgot_link=f"{SITE}/forgot-password")


def _run_scheduled(app) -> None:
    """Run the retries huey scheduled (immediate mode keeps them for their time)."""
    huey = app.extensions["tangent.huey"]
    db.session.commit()  # the task writes; this session must not hold SQLite's lock
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)
    for task in huey.read_schedule(later):
        huey.execute(task, timestamp=later)


def test_mail_arrives_with_a_text_and_an_html_part(app_ctx, make_user, smtp_server):
    user = make_user("ada@example.org")
    row = _queue(user)
    assert smtp_server.messages == []  # nothing leaves before the commit
    db.session.commit()
    [message] = smtp_server.messages
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Reset your Tangent password"
    assert "tangent@localhost" in message["From"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert f"{SITE}/reset-password/abc" in text
    assert f'href="{SITE}/reset-password/abc"' in html
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.sent_at is not None


def test_a_rolled_back_change_sends_nothing(app_ctx, make_user, smtp_server):
    user = make_user()
    _queue(user)
    db.session.rollback()
    db.session.commit()
    assert smtp_server.messages == []
    assert db.session.scalar(select(OutgoingMail)) is None


def test_mail_queued_in_a_savepoint_leaves_when_the_outer_transaction_commits(
        app_ctx, make_user, smtp_server):
    """Releasing or rolling back a savepoint is no commit: the mail waits for the outer one
    (it used to be handed to the queue while the outer transaction still held the lock)."""
    user = make_user()
    db.session.commit()
    before = _notice(user)
    with pytest.raises(RuntimeError), db.session.begin_nested():
        _queue(user, extra="rolled back")
        raise RuntimeError("undo the savepoint only")
    with db.session.begin_nested():
        inside = _queue(user)
    assert smtp_server.messages == []  # savepoints came and went; nothing left yet
    db.session.commit()
    assert sorted(m["Subject"] for m in smtp_server.messages) == sorted(
        [before.subject, inside.subject])
    db.session.refresh(before)
    db.session.refresh(inside)
    assert before.status == inside.status == "sent"


def test_a_refused_message_is_retried_and_then_sent(app, app_ctx, make_user, smtp_server):
    user = make_user()
    smtp_server.sink.refuse_with = "451 Try again later"
    row = _queue(user)
    db.session.commit()
    db.session.refresh(row)
    assert (row.status, row.attempts) == ("queued", 1)
    assert row.last_error.startswith("451")
    smtp_server.sink.refuse_with = None
    _run_scheduled(app)
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(smtp_server.messages) == 1


def test_a_server_that_is_down_then_up_gets_the_message(app, app_ctx, make_user, smtp_server):
    user = make_user()
    smtp_server.stop()
    row = _queue(user)
    db.session.commit()
    db.session.refresh(row)
    assert row.status == "queued" and "Connection" in row.last_error
    smtp_server.start()
    _run_scheduled(app)
    db.session.refresh(row)
    assert row.status == "sent"
    assert len(smtp_server.messages) == 1


def test_after_the_last_try_the_message_is_failed_with_the_error(app, app_ctx, make_user,
                                                                 smtp_server):
    user = make_user()
    smtp_server.sink.refuse_with = "451 Mailbox busy"
    row = _queue(user)
    db.session.commit()
    for _ in range(mail.MAX_ATTEMPTS):
        _run_scheduled(app)
    db.session.refresh(row)
    assert (row.status, row.attempts) == ("failed", mail.MAX_ATTEMPTS)
    assert row.last_error == "451 Mailbox busy"
    assert smtp_server.messages == []


def test_a_permanent_refusal_fails_at_once(app_ctx, make_user, smtp_server):
    user = make_user()
    smtp_server.sink.refuse_with = "554 No such mailbox"
    row = _queue(user)
    db.session.commit()
    db.session.refresh(row)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "554 No such mailbox")


def test_a_failed_message_can_be_retried(app_ctx, make_user, smtp_server):
    admin = make_user(role="admin")
    smtp_server.sink.refuse_with = "554 Not now"
    row = _notice(admin)
    db.session.commit()
    smtp_server.sink.refuse_with = None
    mail.retry_mail(row.id, actor=admin)
    db.session.commit()
    db.session.refresh(row)
    assert row.status == "sent"
    assert len(smtp_server.messages) == 1


def test_without_a_mail_server_each_message_is_a_file_in_the_instance(app, app_ctx, make_user,
                                                                      settings_override):
    settings_override(mail_backend=None, mail_host=None)
    folder = Path(get_settings(app).instance_path) / mail.MAIL_FOLDER
    before = set(folder.glob("*.eml")) if folder.exists() else set()
    user = make_user("file@example.org")
    row = _queue(user)
    db.session.commit()
    [written] = set(folder.glob("*.eml")) - before
    content = written.read_text()
    assert "To: file@example.org" in content
    assert "text/html" in content and "text/plain" in content
    db.session.refresh(row)
    assert row.status == "sent"


def test_file_backend_is_the_default_without_a_host():
    from webapp.settings import load_settings

    assert load_settings({}, {"secret_key": "x" * 40}).mail_transport == "file"
    assert load_settings({"TANGENT_MAIL_HOST": "smtp.example.org"},
                         {"secret_key": "x" * 40}).mail_transport == "smtp"


@pytest.mark.parametrize("var, value", [("TANGENT_MAIL_FROM", "no address"),
                                        ("TANGENT_BASE_URL", "ftp://x"),
                                        ("TANGENT_MAIL_SECURITY", "ssl3"),
                                        ("TANGENT_EMAIL_VERIFICATION", "maybe")])
def test_mail_settings_are_validated(var, value):
    from webapp.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match=var):
        load_settings({var: value}, {"secret_key": "x" * 40})


def test_a_message_enqueued_twice_is_sent_once(app, app_ctx, make_user, smtp_server):
    user = make_user()
    mail_id = _queue(user).id
    db.session.commit()
    app.extensions["tangent.send_mail"](mail_id)
    assert len(smtp_server.messages) == 1
    row = db.session.get(OutgoingMail, mail_id)
    db.session.refresh(row)
    assert row.attempts == 1


def test_consumers_enqueue_mail_whose_enqueue_was_lost(app, app_ctx, make_user, smtp_server):
    from webapp.jobs import recover

    user = make_user()
    old = OutgoingMail(recipient="lost@example.org", subject="s", template="password_reset",
                       text_body="t", html_body="h", status="queued", attempts=0,
                       created_at=datetime.now(UTC) - timedelta(hours=1), user_id=user.id)
    db.session.add(old)
    db.session.flush()
    db.session.info.pop(mail.PENDING_KEY, None)  # as if the process stopped here
    db.session.commit()
    assert smtp_server.messages == []
    recover(app)
    assert [m["To"] for m in smtp_server.messages] == ["lost@example.org"]


def test_a_sent_link_is_removed_from_the_database(app_ctx, make_user, smtp_server):
    user = make_user()
    row = _queue(user)
    db.session.commit()
    assert "/reset-password/abc" in smtp_server.messages[0].get_body(("plain",)).get_content()
    db.session.refresh(row)
    assert row.text_body == row.html_body == mail.REDACTED


def test_a_failed_link_is_removed_and_cannot_be_retried(app_ctx, make_user, smtp_server):
    from webapp.services.exceptions import ValidationFailed

    admin = make_user(role="admin")
    smtp_server.sink.refuse_with = "554 No such mailbox"
    row = _queue(admin)
    db.session.commit()
    db.session.refresh(row)
    assert row.status == "failed" and row.text_body == mail.REDACTED
    assert not mail.can_retry(row)
    with pytest.raises(ValidationFailed, match="single-use link"):
        mail.retry_mail(row.id, actor=admin)


def test_other_messages_keep_their_text(app_ctx, make_user, smtp_server):
    user = make_user()
    row = _notice(user)
    db.session.commit()
    db.session.refresh(row)
    assert "/forgot-password" in row.text_body
