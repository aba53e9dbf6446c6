"""The job queue: huey carries "run job N" to consumers; ``generation_job`` rows are the truth.

The runner (``webapp.jobs.runner``) claims and runs a job; the registry of what
each job kind runs is ``webapp.jobs.pipelines``.

Storage: huey's SQLite storage in the instance folder by default (one machine),
Redis when ``REDIS_URL`` is set (many machines), and immediate mode in tests
(the job runs synchronously when enqueued). Consumers are ``tangent worker``
or the in-process thread that ``tangent serve`` starts. On start-up, and every
minute, consumers re-enqueue queued jobs and running jobs whose heartbeat went
stale (their worker died); claiming is a conditional UPDATE, so a job enqueued
twice still runs once. The periodic tasks (stale-job recovery among them) are the
scheduled maintenance of ``webapp.jobs.maintenance``, registered here from its registry.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.exceptions import RetryTask
from sqlalchemy import event

log = logging.getLogger(__name__)
QUEUE_NAME = "tangent"
QUEUE_FILE = "jobs-queue.db"
# Seconds between tries of a message the mail server refused for now.
MAIL_RETRY_DELAY = 120


def init_queue(app: Flask, settings) -> Huey:
    """Create this app's queue and register its tasks (``app.extensions``)."""
    if settings.testing:
        huey: Huey = MemoryHuey(QUEUE_NAME, immediate=True)
    elif settings.redis_url:
        huey = RedisHuey(QUEUE_NAME, url=settings.redis_url)
    else:
        Path(settings.instance_path).mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(QUEUE_NAME, filename=str(Path(settings.instance_path) / QUEUE_FILE))

    @huey.task(name="tangent.run_job")
    def run_job(job_id: int) -> None:
        from webapp.jobs import runner

        with app.app_context():
            try:
                runner.run_job(job_id)
            finally:
                from webapp.extensions import db

                db.session.remove()

    @huey.task(name="tangent.send_mail")
    def send_mail(mail_id: int) -> None:
        from webapp.extensions import db
        from webapp.services import mail
        from webapp.settings import get_settings

        with app.app_context():
            try:
                claimed = mail.claim(mail_id)
                db.session.commit()
                outcome = mail.deliver(mail_id, get_settings(app)) if claimed else "skipped"
                db.session.commit()
            finally:
                db.session.remove()
        if outcome == "retry":
            # huey runs the task again this much later; the row counts the tries and is
            # marked failed after mail.MAX_ATTEMPTS.
            raise RetryTask(delay=MAIL_RETRY_DELAY)

    _register_maintenance(app, huey)
    app.extensions["tangent.huey"] = huey
    app.extensions["tangent.run_job"] = run_job
    app.extensions["tangent.send_mail"] = send_mail
    _listen_for_mail()
    return huey


def _register_maintenance(app: Flask, huey: Huey) -> None:
    """One periodic huey task per scheduled maintenance task (``webapp.jobs.maintenance``),
    named ``tangent.<name>``; every consumer fires each, and the task's lease lets one
    run it. Plus the "Run now" task the admin jobs page enqueues."""
    from webapp.jobs import maintenance

    def periodic(name: str):
        def run() -> None:
            maintenance.run_task(app, name)

        return run

    for task in maintenance.TASKS.values():
        huey.periodic_task(task.crontab(), name=f"tangent.{task.name}")(periodic(task.name))

    @huey.task(name="tangent.run_maintenance")
    def run_maintenance(name: str) -> None:
        maintenance.run_task(app, name, forced=True)

    app.extensions["tangent.run_maintenance"] = run_maintenance


def enqueue_job(app: Flask, job_id: int) -> None:
    app.extensions["tangent.run_job"](job_id)


def _send_committed_mail(session) -> None:
    """After a commit, hand the mail its transaction queued to the queue (never before:
    a rolled-back change sends nothing, and no request waits on a mail server)."""
    from flask import current_app, has_app_context

    from webapp.services.mail import pending_ids

    if session.in_nested_transaction():
        # A savepoint was released (SQLAlchemy fires after_commit for those too): the
        # mail's row is not committed until the outer transaction is.
        return
    ids = pending_ids(session)
    if not ids or not has_app_context():
        return
    task = current_app.extensions.get("tangent.send_mail")
    if task is None:
        return
    for mail_id in ids:
        task(mail_id)


def _forget_rolled_back_mail(session) -> None:
    from webapp.services.mail import discard_pending

    if session.in_nested_transaction():
        return  # only a savepoint rolled back: mail queued before it still commits
    discard_pending(session)


def _listen_for_mail() -> None:
    from flask_sqlalchemy.session import Session

    if not event.contains(Session, "after_commit", _send_committed_mail):
        event.listen(Session, "after_commit", _send_committed_mail)
        event.listen(Session, "after_rollback", _forget_rolled_back_mail)


def recover(app: Flask) -> list[int]:
    """Enqueue every queued job and every running job whose worker stopped beating (their
    ids), and mail whose enqueue was lost."""
    from webapp.extensions import db
    from webapp.jobs.runner import stale_job_ids
    from webapp.services.mail import unsent_ids
    from webapp.settings import get_settings

    with app.app_context():
        try:
            ids = stale_job_ids(get_settings(app).job_stale_seconds)
            mail_ids = unsent_ids()
        finally:
            db.session.remove()
    for job_id in ids:
        enqueue_job(app, job_id)
    if ids:
        log.info("re-enqueued jobs %s", ids)
    for mail_id in mail_ids:
        app.extensions["tangent.send_mail"](mail_id)
    if mail_ids:
        log.info("re-enqueued mail %s", mail_ids)
    return ids


def mail_context_for(app: Flask):
    """What notification emails sent from a job need: the site's address (TANGENT_BASE_URL,
    else the development address) and the key that signs unsubscribe links."""
    from webapp.services.community.notifications import MailContext
    from webapp.services.mail import DEFAULT_BASE_URL
    from webapp.settings import get_settings

    return MailContext(site_url=get_settings(app).base_url or DEFAULT_BASE_URL,
                       secret=app.secret_key or "")


class EmbeddedConsumer(Consumer):
    """A consumer inside another server's process: worker threads only, and no signal
    handlers (the host process, e.g. a gunicorn worker, owns its signals)."""

    def _set_signal_handlers(self) -> None:
        return None


def start_embedded_consumer(app: Flask, workers: int) -> EmbeddedConsumer:
    """Start consumer threads in this process (``tangent serve``); stop() them on exit."""
    huey: Huey = app.extensions["tangent.huey"]
    consumer = EmbeddedConsumer(huey, workers=workers, worker_type="thread", periodic=True)
    consumer.start()
    recover(app)
    return consumer
