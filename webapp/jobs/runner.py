"""The job runner: claiming a job, running its pipeline's steps with a heartbeat, recording
failures, finding jobs to (re)enqueue, and handing jobs to the queue.

A job is claimed with a conditional UPDATE, so two workers never run it at once;
each step commits its output, its progress and its provider-call ledger rows in
one transaction, so a job resumed after a crash skips finished steps and never
counts a cost twice. This is the one place that commits inside a job: pipelines
and the services they call only flush.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from flask import Flask, current_app
from sqlalchemy import func, or_, select, update

from webapp.extensions import db
from webapp.jobs.pipelines import PIPELINES
from webapp.models import GenerationJob
from webapp.models.base import utcnow
from webapp.providers.text import ProviderError, TransientProviderError
from webapp.providers.tts import SpeechError, TransientSpeechError
from webapp.services.community.notifications import notify_job_finished
from webapp.services.exceptions import DomainError
from webapp.services.jobs import finish_job, record_usage
from webapp.settings import ConfigError, get_settings

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 15
STEP_RETRIES = 3
TRANSIENT = (TransientProviderError, TransientSpeechError)
# Domain errors (a conflict with someone's edit, bad input) end the job with their message.
PERMANENT = (ProviderError, SpeechError, DomainError)


def enqueue(job_id: int) -> None:
    """Hand the job to the queue; call after the job row is committed.

    In immediate mode (tests) the job runs right here in a session of its own;
    the caller's session may have begun a new transaction since its commit (by
    reading an expired attribute), which on SQLite would hold the lock the job
    needs, so that transaction ends first. It has no writes: the contract is to
    enqueue after committing.
    """
    from webapp.jobs import enqueue_job

    app = current_app._get_current_object()
    if app.extensions["tangent.huey"].immediate:
        db.session.commit()
    enqueue_job(app, job_id)


def claim(job_id: int, stale_seconds: int) -> bool:
    """Take a queued job, or a running one whose worker stopped beating; False if taken."""
    now = utcnow()
    result = db.session.execute(
        update(GenerationJob)
        .where(GenerationJob.id == job_id, or_(
            GenerationJob.status == "queued",
            (GenerationJob.status == "running")
            & (GenerationJob.heartbeat_at < now - timedelta(seconds=stale_seconds)),
        ))
        .values(status="running", attempts=GenerationJob.attempts + 1, heartbeat_at=now,
                started_at=func.coalesce(GenerationJob.started_at, now))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


class _Heartbeat:
    """Beats for a running job from a thread of its own, so a long provider call does not
    make the job look dead; stops when the job ends."""

    def __init__(self, app: Flask, job_id: int, interval: float) -> None:
        self.app, self.job_id, self.interval = app, job_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}",
                                       daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.interval):
            with self.app.app_context():
                try:
                    db.session.execute(
                        update(GenerationJob)
                        .where(GenerationJob.id == self.job_id,
                               GenerationJob.status == "running")
                        .values(heartbeat_at=utcnow())
                        .execution_options(synchronize_session=False))
                    db.session.commit()
                except Exception:  # a missed beat is retried next time; logged
                    db.session.rollback()
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
                finally:
                    db.session.remove()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join(timeout=self.interval + 5)


def run_job(job_id: int, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Run (or resume) a job to its end, inside the app's context; returns the final
    status, or None if another worker has it (or it has ended)."""
    app = current_app._get_current_object()
    settings = get_settings(app)
    if not claim(job_id, settings.job_stale_seconds):
        return None
    job = db.session.get(GenerationJob, job_id)
    factory = PIPELINES.get(job.kind)
    if factory is None:
        return _fail(job, f"No pipeline for jobs of kind {job.kind!r}.")
    try:
        pipeline = factory(settings)
    except (*PERMANENT, ConfigError) as exc:
        return _fail(job, f"{job.kind}: {exc}")
    # Beat well within the stale limit, so only a dead worker's job looks stale.
    interval = max(1.0, min(HEARTBEAT_SECONDS, settings.job_stale_seconds / 3))
    with _Heartbeat(app, job_id, interval):
        failures = 0
        while True:
            db.session.refresh(job)
            if job.cancel_requested:
                return _end(job, "cancelled")
            steps = list(pipeline.steps(job))
            job.step_count = len(steps)
            if job.step_index >= len(steps):
                return _end(job, "succeeded")
            step = steps[job.step_index]
            job.step = step[:40]
            job.heartbeat_at = utcnow()
            db.session.commit()
            try:
                pipeline.run_step(job, step)
                job.step_index += 1
                job.heartbeat_at = utcnow()
                db.session.commit()
                failures = 0
            except TRANSIENT as exc:
                db.session.rollback()
                failures += 1
                _record_failed_calls(job, exc, step, failures)
                if failures >= STEP_RETRIES:
                    return _fail(job, f"{step}: the provider kept failing ({exc}).")
                sleep(min(2 ** failures, 30))
            except PERMANENT as exc:
                db.session.rollback()
                _record_failed_calls(job, exc, step, failures + 1)
                return _fail(job, f"{step}: {exc}")
            except Exception:  # the job fails with a message; details are logged
                db.session.rollback()
                log.exception("job %s failed in step %s", job_id, step)
                return _fail(job, f"{step}: an internal error stopped the job (see the logs).")


def _record_failed_calls(job: GenerationJob, exc: Exception, step: str, failure: int) -> None:
    """Calls answered before a step failed (e.g. invalid JSON) cost money too: record them."""
    usages = getattr(exc, "usage", None) or []
    if usages:
        db.session.refresh(job)
        record_usage(job, usages, step, tag=f"-failed{failure}")
        db.session.commit()


def _end(job: GenerationJob, status: str) -> str:
    finish_job(job, status)
    _notify_finished(job)
    db.session.commit()
    return job.status


def _notify_finished(job: GenerationJob) -> None:
    """Tell whoever waits on the job ("branch_ready", "draft_finished"), in the transaction
    that ends it; a failure to notify never fails the finished job."""
    from webapp.jobs import mail_context_for

    try:
        with db.session.begin_nested():
            notify_job_finished(job, mail_context=mail_context_for(
                current_app._get_current_object()))
    except Exception:  # the job's work is done; the notice is lost, and logged
        log.exception("could not notify the end of job %s", job.id)


def _fail(job: GenerationJob, message: str) -> str:
    db.session.refresh(job)
    finish_job(job, "failed", message)
    db.session.commit()
    return job.status


def stale_job_ids(stale_seconds: int) -> list[int]:
    """Queued jobs, and running jobs whose worker stopped beating: to (re)enqueue."""
    cutoff = utcnow() - timedelta(seconds=stale_seconds)
    return list(db.session.scalars(
        select(GenerationJob.id).where(or_(
            GenerationJob.status == "queued",
            (GenerationJob.status == "running") & or_(GenerationJob.heartbeat_at < cutoff,
                                                      GenerationJob.heartbeat_at.is_(None)),
        )).order_by(GenerationJob.id)
    ))
