"""Job pages: the course-draft request form, the job status page and its polling card,
cancelling, "your drafts", and the admin job list and cost ledger.

The card polls with htmx while its job is active (``webapp.web.polling``: less
often as the job ages, 286 once it is finished). Without JavaScript the card
links to the status page.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp import htmx
from webapp.extensions import db
from webapp.jobs import maintenance, runner
from webapp.models import GenerationJob, Lesson, User
from webapp.models.base import utcnow
from webapp.models.jobs import JOB_STATUSES
from webapp.security import role_required
from webapp.services import costs, jobs, regeneration
from webapp.services.exceptions import ValidationFailed
from webapp.settings import get_settings
from webapp.web.edge import id_arg
from webapp.web.forms import ActionForm
from webapp.web.jobs import bp
from webapp.web.jobs.forms import DraftForm, RetryForm
from webapp.web.polling import add_card_views, poll_seconds

PAGE_SIZE = 50
KIND_LABELS = {
    "course_draft": "Course draft",
    "branch": "Branch lesson",
    "lesson_regeneration": "Lesson regeneration",
    "narration": "Narration",
}
STATUS_LABELS = {
    "queued": "Waiting",
    "running": "Running",
    "succeeded": "Done",
    "failed": "Failed",
    "cancelled": "Cancelled",
}


def _user() -> User:
    return current_user._get_current_object()


# --- template helpers ------------------------------------------------------------------------


@bp.app_template_filter("money")
def money(value: Decimal | None) -> str:
    """A cost in the providers' currency (``costs.format_money``)."""
    return costs.format_money(value, get_settings(current_app).cost_currency)


@bp.app_template_filter("job_step")
def job_step(step: str) -> str:
    """A pipeline step name for people: ``lesson:0:1`` → ``module 1, lesson 2``."""
    if step.startswith("lesson:"):
        parts = step.split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            return f"module {int(parts[1]) + 1}, lesson {int(parts[2]) + 1}"
    return {"outline": "outline", "quiz": "starter quiz"}.get(step, step.replace("_", " "))


@bp.app_template_filter("seconds_ago")
def seconds_ago(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(seconds, 0)  # a worker's clock may run slightly ahead
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


@bp.app_context_processor
def _job_labels() -> dict:
    return {"job_kind_labels": KIND_LABELS, "job_status_labels": STATUS_LABELS}


def _requesters(rows: list[GenerationJob]) -> dict[int, User]:
    """The requesters of ``rows`` in one query (a list page must not query per row)."""
    ids = {job.requester_id for job in rows if job.requester_id is not None}
    if not ids:
        return {}
    return {user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))}


# --- requesting a draft ----------------------------------------------------------------------


@bp.route("/edit/drafts/new", methods=["GET", "POST"])
@role_required("editor")
def new_draft():
    form = DraftForm()
    if request.method == "GET":
        return render_template("jobs/new_draft.html", form=form, course=None)
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, "The form expired; reload the page and try again.")
        return render_template("jobs/new_draft.html", form=form, course=None), 400
    try:
        job, created = jobs.request_course_draft(_user(), topic=form.topic.data,
                                                 level=form.level.data,
                                                 settings=get_settings(current_app))
        # Read before commit: touching the expired row afterwards would open a new
        # transaction, and in tests the job runs inside ``enqueue`` on its own session.
        job_id = job.id
        db.session.commit()
    except jobs.QuotaExceeded as exc:
        db.session.rollback()
        response = make_response(render_template("jobs/new_draft.html", form=form, course=None,
                                                 quota_message=exc.message), 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except ValidationFailed as exc:
        db.session.rollback()
        field = getattr(form, exc.field or "topic", None) or form.topic
        field.errors = [*field.errors, exc.message]
        return render_template("jobs/new_draft.html", form=form, course=None), 400
    # No "started" flash: the job page's live card says how the draft is going, where a
    # flash would still say "started" after the draft had finished.
    if created:
        runner.enqueue(job_id)
    else:
        flash("A draft for this topic was already asked for; here it is.", "info")
    return redirect(url_for("jobs.show", job_id=job_id), 303)


# --- one job: page, polling card, cancel -----------------------------------------------------


def _card_context(job: GenerationJob) -> dict:
    # What the job is about, in words: the topic asked for, else the lesson's title
    # (looked up only then: the card polls every few seconds).
    subject = job.params.get("topic")
    if not subject and job.lesson_id:
        title = db.session.scalar(select(Lesson.title).where(Lesson.id == job.lesson_id))
        subject = f"“{title}”" if title else None
    # A finished rewrite: what became of its proposal (waiting, published, discarded).
    proposal = (regeneration.proposal_state(job.id)
                if job.kind == "lesson_regeneration" and job.status == "succeeded" else None)
    return {"job": job, "poll_seconds": poll_seconds(job), "job_subject": subject,
            "proposal": proposal}


add_card_views(
    bp, "/jobs/<int:job_id>", what="job", load=lambda job_id: jobs.get_job_for(_user(), job_id),
    page="jobs/show.html", card="jobs/_card.html", page_context=_card_context,
    finished=lambda job: not job.active,
)


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel(job_id: int):
    job = jobs.get_job_for(_user(), job_id)
    jobs.cancel_job(_user(), job)
    db.session.commit()
    if not htmx.is_partial():
        if job.active:
            flash("Cancelling: the job stops after the step it is working on.", "info")
        else:
            flash("Cancelled.", "success")
    return htmx.partial_or_redirect("jobs/_card.html", url_for("jobs.show", job_id=job.id),
                                    **_card_context(job))


# --- lists -------------------------------------------------------------------------------------


@bp.get("/edit/drafts")
@role_required("editor")
def drafts():
    """The signed-in editor's jobs (an admin's list has everyone's), active ones first."""
    user = _user()
    requester = None if user.is_admin else user
    before = request.args.get("before", type=id_arg)
    active: list[GenerationJob] = []
    more_active = False
    if before is None:
        for status in ("running", "queued"):
            rows, cursor = jobs.list_jobs(status=status, requester=requester,
                                          page_size=PAGE_SIZE)
            active += rows
            more_active = more_active or cursor is not None
    page, next_before = jobs.list_jobs(requester=requester, before=before, page_size=PAGE_SIZE)
    # Active jobs are listed above; the page cursor still comes from the full page.
    finished = [job for job in page if not job.active]
    return render_template(
        "jobs/drafts.html", course=None, active=active, more_active=more_active,
        finished=finished, before=before, next_before=next_before,
        requesters=_requesters(active + finished), everyone=requester is None,
    )


# --- admin -------------------------------------------------------------------------------------


@bp.get("/admin/jobs")
@role_required("admin")
def admin_jobs():
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in JOB_STATUSES:
        raise ValidationFailed(f"Status must be one of {', '.join(JOB_STATUSES)}.")
    before = request.args.get("before", type=id_arg)
    rows, next_before = jobs.list_jobs(status=status, before=before, page_size=PAGE_SIZE)
    return render_template(
        "jobs/admin_jobs.html", jobs=rows, status=status, statuses=JOB_STATUSES,
        before=before, next_before=next_before, requesters=_requesters(rows),
        heartbeat_age=jobs.heartbeat_age, maintenance_tasks=maintenance.states(),
        maintenance_form=ActionForm(),
    )


@bp.route("/admin/jobs/<int:job_id>/retry", methods=["GET", "POST"])
@role_required("admin")
def retry_job(job_id: int):
    """Run a failed job again (a new job with the same request), after a confirmation."""
    job = db.session.get(GenerationJob, job_id)
    if job is None:
        abort(404)
    form = RetryForm()
    if request.method == "GET" or job.status != "failed":
        status = 200 if request.method == "GET" else 409
        return render_template("jobs/retry.html", job=job, form=form), status
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    try:
        retry, created = jobs.retry_job(_user(), job, settings=get_settings(current_app))
        retry_id = retry.id
        db.session.commit()
    except jobs.QuotaExceeded as exc:
        db.session.rollback()
        response = make_response(render_template("jobs/retry.html", job=job, form=form,
                                                 quota_message=exc.message), 429)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if created:
        runner.enqueue(retry_id)
        flash(f"Job {job_id} is running again as job {retry_id}.", "success")
    else:
        flash("This job is already running again; here it is.", "info")
    return redirect(url_for("jobs.show", job_id=retry_id), 303)


def _month_arg(required: bool) -> date | None:
    raw = request.args.get("month", "").strip()
    if not raw:
        if required:
            raise ValidationFailed("Choose a month, as ?month=2025-03 (year-month).")
        return None
    try:
        return costs.parse_month(raw)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None


@bp.get("/admin/costs")
@role_required("admin")
def admin_costs():
    months = costs.months_with_costs()
    month = _month_arg(required=False)
    if month is None:
        month = months[0] if months else costs.month_start(utcnow().date())
    rows = costs.cost_totals(month=month)
    return render_template(
        "jobs/admin_costs.html", month=month, rows=rows,
        months=sorted({*months, month}, reverse=True),
        total=sum((row.cost for row in rows), Decimal(0)),
    )


@bp.get("/admin/costs.csv")
@role_required("admin")
def admin_costs_csv():
    month = _month_arg(required=True)
    response = make_response(costs.csv_for_month(month))
    response.mimetype = "text/csv"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=tangent-costs-{month:%Y-%m}.csv")
    response.headers["Cache-Control"] = "no-store"
    return response
