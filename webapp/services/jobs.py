"""Background generation jobs as the domain sees them: requesting (with quotas and one
active job per subject), reading, cancelling, and the provider-call cost ledger.

The ``generation_job`` table is the source of truth. Running jobs (claiming,
heartbeats, one commit per step, recovery of jobs whose worker died) and handing
them to the queue belong to the job runner, ``webapp.jobs.runner``: a caller
commits the requested job and then enqueues it there. Each step's ledger rows
(``record_usage``) are committed with its output, so a job resumed after a crash
never counts a cost twice.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Course, GenerationJob, Lesson, ProviderCall, User
from webapp.models.base import utcnow
from webapp.models.courses import LEVELS
from webapp.models.jobs import ACTIVE_STATUSES
from webapp.services.audit import record_audit
from webapp.services.exceptions import (
    Conflict,
    DomainError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from webapp.settings import Settings

TOPIC_MIN, TOPIC_MAX = 3, 120


class QuotaExceeded(DomainError):
    """A generation request over a rate limit, daily cap or budget: nothing is queued."""

    status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


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


def check_quota(actor: User, course_id: int | None = None, *, settings: Settings) -> None:
    """Raise QuotaExceeded when ``actor`` may not start another generation now
    (the limits and budgets come from ``settings``)."""
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
    actor: User, *, kind: str, subject_key: str, params: dict[str, Any], settings: Settings,
    course_id: int | None = None, lesson_id: int | None = None,
) -> tuple[GenerationJob, bool]:
    """The active job for ``subject_key``, or a new queued one: ``(job, created)``.

    Two requests racing for one subject (in any processes) create one job: the
    partial unique index refuses the second insert, which then returns the first.
    Quotas (from ``settings``) are checked only when a job would be created.
    Flushes only; the caller commits and then enqueues the job (``webapp.jobs.runner``).
    """
    existing = _active_job(subject_key)
    if existing is not None:
        return existing, False
    check_quota(actor, course_id, settings=settings)
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


def retry_job(actor: User, failed: GenerationJob, *, settings: Settings,
              ) -> tuple[GenerationJob, bool]:
    """A new queued job doing what ``failed`` was asked to do (same kind, subject and
    request, for the same requester), or the job already active for that subject:
    ``(job, created)``. The failed job stays as it was, for the record; only failed jobs
    are retried. Quotas apply as for any request. Flushes; the caller commits, then
    enqueues."""
    if failed.status != "failed":
        raise Conflict("Only a failed job can be retried.")
    existing = _active_job(failed.subject_key)
    if existing is not None:
        return existing, False
    check_quota(actor, failed.course_id, settings=settings)
    job = GenerationJob(kind=failed.kind, subject_key=failed.subject_key,
                        params=dict(failed.params), requester_id=failed.requester_id,
                        course_id=failed.course_id, lesson_id=failed.lesson_id,
                        status="queued", cost=Decimal(0))
    try:
        with db.session.begin_nested():
            db.session.add(job)
    except IntegrityError:
        existing = _active_job(failed.subject_key)
        if existing is None:
            raise
        return existing, False
    record_audit(actor, "job.retry", "generation_job", job.id,
                 {"retry_of": [None, failed.id], "kind": [None, job.kind]})
    return job, True


def request_course_draft(actor: User, *, topic: str, level: str,
                         settings: Settings) -> tuple[GenerationJob, bool]:
    """Ask for an AI draft of a new course on ``topic`` (one active draft per topic)."""
    if not actor.is_editor:
        raise PermissionDenied("Only editors can draft courses.")
    topic = check_topic(topic)
    if level not in LEVELS:
        raise ValidationFailed(f"Level must be one of {', '.join(LEVELS)}.", field="level")
    return request_job(actor, kind="course_draft",
                       subject_key=f"course:{normalize_topic(topic)}",
                       params={"topic": topic, "level": level}, settings=settings)


def request_lesson_job(actor: User, lesson: Lesson, *, kind: str, subject: str,
                       audit_action: str, settings: Settings) -> tuple[GenerationJob, bool]:
    """A job of ``kind`` about the lesson's current version (one active job per version,
    keyed ``<subject>:<lesson id>:<version>``), audited as ``audit_action`` when created.
    The caller checks permissions."""
    job, created = request_job(
        actor, kind=kind, subject_key=f"{subject}:{lesson.id}:{lesson.version}",
        params={"lesson_id": lesson.id, "version": lesson.version}, settings=settings,
        course_id=lesson.course_id, lesson_id=lesson.id,
    )
    if created:
        record_audit(actor, audit_action, "lesson", lesson.id,
                     {"version": [None, lesson.version]})
    return job, created


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
        finish_job(job, "cancelled")
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


def finish_job(job: GenerationJob, status: str, error: str = "") -> None:
    """End ``job`` with ``status`` (and an error message for a failure)."""
    job.status = status
    job.error = error[:2000]
    job.finished_at = utcnow()
    job.cancel_requested = False


# --- the ledger -------------------------------------------------------------------------


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


def heartbeat_age(job: GenerationJob) -> int | None:
    if job.heartbeat_at is None:
        return None
    return int((datetime.now(UTC) - job.heartbeat_at).total_seconds())
