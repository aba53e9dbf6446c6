"""Background generation jobs: requesting (with quotas and one active job per subject),
claiming, running steps, heartbeats, cancelling, and recovering jobs whose worker died.

The ``generation_job`` table is the source of truth; the queue (huey, see
``webapp.jobs``) only carries "run job N". A job is claimed with a conditional
UPDATE, so two workers never run it at once; each step commits its output, its
progress and its provider-call ledger rows in one transaction, so a job resumed
after a crash skips finished steps and never counts a cost twice.
"""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Course, GenerationJob, ProviderCall, User
from webapp.models.base import utcnow
from webapp.models.courses import LEVELS
from webapp.models.jobs import ACTIVE_STATUSES
from webapp.services.audit import record_audit
from webapp.services.exceptions import DomainError, NotFound, ValidationFailed

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 15
STEP_RETRIES = 3
TOPIC_MIN, TOPIC_MAX = 3, 120


class QuotaExceeded(DomainError):
    """A generation request over a rate limit, daily cap or budget: nothing is queued."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _settings():
    from webapp.settings import get_settings

    return get_settings(current_app)


# --- requesting --------------------------------------------------------------------------


def normalize_topic(topic: str) -> str:
    """The subject form of a topic: NFKC, lower-case, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", topic or "").casefold().split())


def check_topic(topic: str, field: str = "topic") -> str:
    topic = " ".join((topic or "").split())
    if len(topic) < TOPIC_MIN:
        raise ValidationFailed(f"Describe the topic in at least {TOPIC_MIN} characters.",
                               field=field)
    if len(topic) > TOPIC_MAX:
        raise ValidationFailed(f"Keep the topic under {TOPIC_MAX} characters.", field=field)
    if any(unicodedata.category(ch).startswith("C") for ch in topic):
        raise ValidationFailed("The topic contains control characters.", field=field)
    return topic


def month_start(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _spent_since(since: datetime, course_id: int | None = None) -> Decimal:
    stmt = select(func.coalesce(func.sum(ProviderCall.cost), 0)).where(
        ProviderCall.created_at >= since)
    if course_id is not None:
        stmt = stmt.where(ProviderCall.course_id == course_id)
    return Decimal(str(db.session.scalar(stmt) or 0))


def check_quota(actor: User, course_id: int | None = None) -> None:
    """Raise QuotaExceeded when ``actor`` may not start another generation now."""
    settings = _settings()
    now = utcnow()
    recent = db.session.scalars(
        select(GenerationJob.created_at).where(
            GenerationJob.requester_id == actor.id,
            GenerationJob.created_at >= now - timedelta(days=1),
        ).order_by(GenerationJob.created_at)
    ).all()
    last_minute = [t for t in recent if t >= now - timedelta(minutes=1)]
    if len(last_minute) >= settings.ai_requests_per_minute:
        wait = 60 - int((now - last_minute[0]).total_seconds())
        raise QuotaExceeded(
            f"You can start {settings.ai_requests_per_minute} generations a minute; "
            f"try again in {max(wait, 1)} seconds.", retry_after=max(wait, 1))
    if len(recent) >= settings.ai_daily_requests:
        wait = int((recent[0] + timedelta(days=1) - now).total_seconds())
        raise QuotaExceeded(
            f"You have reached today's limit of {settings.ai_daily_requests} generations; "
            f"it frees up in about {max(wait // 3600, 1)} hour(s).", retry_after=max(wait, 60))
    next_month = (month_start(now) + timedelta(days=32)).replace(day=1)
    until_next_month = int((next_month - now).total_seconds())
    budget = settings.ai_monthly_budget
    if budget > 0 and _spent_since(month_start(now)) >= budget:
        raise QuotaExceeded(f"This site's AI budget for the month ({budget}) is used up; "
                            "an admin can raise TANGENT_AI_MONTHLY_BUDGET.",
                            retry_after=until_next_month)
    course_budget = settings.ai_course_monthly_budget
    if course_id is not None and course_budget > 0 and \
            _spent_since(month_start(now), course_id) >= course_budget:
        raise QuotaExceeded(f"This course's AI budget for the month ({course_budget}) is used "
                            "up.", retry_after=until_next_month)


def _active_job(subject_key: str) -> GenerationJob | None:
    return db.session.scalar(select(GenerationJob).where(
        GenerationJob.subject_key == subject_key,
        GenerationJob.status.in_(ACTIVE_STATUSES)))


def request_job(
    actor: User, *, kind: str, subject_key: str, params: dict[str, Any],
    course_id: int | None = None, lesson_id: int | None = None,
) -> tuple[GenerationJob, bool]:
    """The active job for ``subject_key``, or a new queued one: ``(job, created)``.

    Two requests racing for one subject (in any processes) create one job: the
    partial unique index refuses the second insert, which then returns the first.
    Quotas are checked only when a job would be created. Flushes only.
    """
    existing = _active_job(subject_key)
    if existing is not None:
        return existing, False
    check_quota(actor, course_id)
    job = GenerationJob(kind=kind, subject_key=subject_key[:300], params=params,
                        requester_id=actor.id, course_id=course_id, lesson_id=lesson_id,
                        status="queued", cost=Decimal(0))
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        existing = _active_job(subject_key)
        if existing is None:  # the other job already finished: nothing to share
            raise
        return existing, False
    record_audit(actor, "job.request", "generation_job", job.id,
                 {"kind": [None, kind], "subject": [None, job.subject_key]})
    return job, True


def request_course_draft(actor: User, *, topic: str, level: str) -> tuple[GenerationJob, bool]:
    """Ask for an AI draft of a new course on ``topic`` (one active draft per topic)."""
    if actor.role not in ("editor", "admin"):
        from webapp.services.exceptions import PermissionDenied

        raise PermissionDenied("Only editors can draft courses.")
    topic = check_topic(topic)
    if level not in LEVELS:
        raise ValidationFailed(f"Level must be one of {', '.join(LEVELS)}.", field="level")
    return request_job(actor, kind="course_draft",
                       subject_key=f"course:{normalize_topic(topic)}",
                       params={"topic": topic, "level": level})


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


# --- reading and cancelling -----------------------------------------------------------------


def get_job_for(actor: User, job_id: int) -> GenerationJob:
    """A job its requester, an editor of its course or an admin may see."""
    job = db.session.get(GenerationJob, job_id)
    if job is None:
        raise NotFound("There is no such job.")
    if actor.role == "admin" or job.requester_id == actor.id:
        return job
    if job.course_id is not None:
        from webapp.services.authoring import can_edit

        course = db.session.get(Course, job.course_id)
        if course is not None and can_edit(actor, course):
            return job
    raise NotFound("There is no such job.")


def cancel_job(actor: User, job: GenerationJob) -> None:
    """Cancel now if queued; a running job stops before its next step."""
    if not job.active:
        raise ValidationFailed("This job has already finished.")
    if job.status == "queued":
        _finish(job, "cancelled")
    else:
        job.cancel_requested = True
    record_audit(actor, "job.cancel", "generation_job", job.id, {"status": [job.status, None]})
    db.session.flush()


def list_jobs(*, status: str | None = None, before: int | None = None,
              page_size: int = 50, requester: User | None = None,
              ) -> tuple[list[GenerationJob], int | None]:
    """Jobs newest first (keyset by id)."""
    stmt = select(GenerationJob).order_by(GenerationJob.id.desc()).limit(page_size + 1)
    if status:
        stmt = stmt.where(GenerationJob.status == status)
    if before is not None:
        stmt = stmt.where(GenerationJob.id < before)
    if requester is not None:
        stmt = stmt.where(GenerationJob.requester_id == requester.id)
    rows = list(db.session.scalars(stmt))
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, rows[-1].id
    return rows, None


# --- running -------------------------------------------------------------------------------------


class Pipeline(Protocol):
    """What a job kind does: its steps (which may grow as it learns more) and each step."""

    def steps(self, job: GenerationJob) -> Sequence[str]: ...

    def run_step(self, job: GenerationJob, step: str) -> None: ...


PIPELINES: dict[str, Callable[[], Pipeline]] = {}


def register_pipeline(kind: str, factory: Callable[[], Pipeline]) -> None:
    PIPELINES[kind] = factory


def _finish(job: GenerationJob, status: str, error: str = "") -> None:
    job.status = status
    job.error = error[:2000]
    job.finished_at = utcnow()
    job.cancel_requested = False


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

    def __init__(self, app, job_id: int, interval: float) -> None:
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


def record_usage(job: GenerationJob, usages: Sequence[Any], step: str,
                 tag: str = "") -> Decimal:
    """Ledger rows for a step's provider calls, in the step's transaction; adds to job.cost.

    The call key (step, claim number, position) is unique per job, so replaying
    a committed step can never record its calls twice.
    """
    total = Decimal(0)
    for n, usage in enumerate(usages):
        db.session.add(ProviderCall(
            job_id=job.id, course_id=job.course_id, job_kind=job.kind,
            call_key=f"{step}#{job.attempts}{tag}.{n}"[:120],
            kind=getattr(usage, "kind", "text"),
            provider=usage.provider, model=usage.model, prompt_version=usage.prompt_version,
            input_tokens=getattr(usage, "input_tokens", 0),
            output_tokens=getattr(usage, "output_tokens", 0),
            characters=getattr(usage, "characters", 0),
            cost=usage.cost, cost_source=usage.cost_source,
        ))
        total += usage.cost
        job.provider, job.model = usage.provider, usage.model
        job.prompt_version = usage.prompt_version or job.prompt_version
    job.cost = (job.cost or Decimal(0)) + total
    return total


def run_job(job_id: int, *, sleep: Callable[[float], None] = time.sleep) -> str | None:
    """Run (or resume) a job to its end; returns the final status, or None if not claimed."""
    from webapp.providers.text import ProviderError, TransientProviderError
    from webapp.providers.tts import SpeechError, TransientSpeechError

    transient = (TransientProviderError, TransientSpeechError)
    # Domain errors (a conflict with someone's edit, bad input) end the job with their message.
    permanent = (ProviderError, SpeechError, DomainError)

    settings = _settings()
    if not claim(job_id, settings.job_stale_seconds):
        return None
    job = db.session.get(GenerationJob, job_id)
    factory = PIPELINES.get(job.kind)
    if factory is None:
        _finish(job, "failed", f"No pipeline for jobs of kind {job.kind!r}.")
        db.session.commit()
        return job.status
    pipeline = factory()
    # Beat well within the stale limit, so only a dead worker's job looks stale.
    interval = max(1.0, min(HEARTBEAT_SECONDS, settings.job_stale_seconds / 3))
    with _Heartbeat(current_app._get_current_object(), job_id, interval):
        failures = 0
        while True:
            db.session.refresh(job)
            if job.cancel_requested:
                _finish(job, "cancelled")
                db.session.commit()
                return job.status
            steps = list(pipeline.steps(job))
            job.step_count = len(steps)
            if job.step_index >= len(steps):
                _finish(job, "succeeded")
                db.session.commit()
                return job.status
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
            except transient as exc:
                db.session.rollback()
                failures += 1
                _record_failed_calls(job, exc, step, failures)
                if failures >= STEP_RETRIES:
                    return _fail(job, f"{step}: the provider kept failing ({exc}).")
                sleep(min(2 ** failures, 30))
            except permanent as exc:
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


def _fail(job: GenerationJob, message: str) -> str:
    db.session.refresh(job)
    _finish(job, "failed", message)
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


def heartbeat_age(job: GenerationJob) -> int | None:
    if job.heartbeat_at is None:
        return None
    return int((datetime.now(UTC) - job.heartbeat_at).total_seconds())
