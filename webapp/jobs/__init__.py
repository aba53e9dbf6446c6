"""The job queue: huey carries "run job N" to consumers; ``generation_job`` rows are the truth.

The runner (``webapp.jobs.runner``) claims and runs a job; the registry of what
each job kind runs is ``webapp.jobs.pipelines``.

Storage: huey's SQLite storage in the instance folder by default (one machine),
Redis when ``REDIS_URL`` is set (many machines), and immediate mode in tests
(the job runs synchronously when enqueued). Consumers are ``tangent worker``
or the in-process thread that ``tangent serve`` starts. On start-up, and every
minute, consumers re-enqueue queued jobs and running jobs whose heartbeat went
stale (their worker died); claiming is a conditional UPDATE, so a job enqueued
twice still runs once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

log = logging.getLogger(__name__)
QUEUE_NAME = "tangent"
QUEUE_FILE = "jobs-queue.db"


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

    @huey.periodic_task(crontab(minute="*"), name="tangent.recover_jobs")
    def recover_jobs() -> None:
        recover(app)

    app.extensions["tangent.huey"] = huey
    app.extensions["tangent.run_job"] = run_job
    return huey


def enqueue_job(app: Flask, job_id: int) -> None:
    app.extensions["tangent.run_job"](job_id)


def recover(app: Flask) -> list[int]:
    """Enqueue every queued job and every running job whose worker stopped beating."""
    from webapp.extensions import db
    from webapp.jobs.runner import stale_job_ids
    from webapp.settings import get_settings

    with app.app_context():
        try:
            ids = stale_job_ids(get_settings(app).job_stale_seconds)
        finally:
            db.session.remove()
    for job_id in ids:
        enqueue_job(app, job_id)
    if ids:
        log.info("re-enqueued jobs %s", ids)
    return ids


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
