"""Scheduled maintenance on the admin jobs page: "Run now" for one task (the page's
table is rendered by ``views.admin_jobs`` from ``maintenance.states``)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, url_for

from webapp.extensions import db
from webapp.jobs import maintenance
from webapp.security import role_required
from webapp.web.forms import ActionForm
from webapp.web.jobs import bp

OUTCOME_LABELS = {"ok": "Done", "failed": "Failed", "skipped": "Skipped"}


@bp.app_template_filter("duration_ms")
def duration_ms(value: int | None) -> str:
    """How long a run took: ``850 ms``, ``12.3 s``, ``4 min 5 s``."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    seconds = round(value / 1000)
    return f"{seconds // 60} min {seconds % 60} s"


def _state(name: str) -> maintenance.TaskState:
    [state] = [s for s in maintenance.states() if s.task.name == name]
    return state


@bp.post("/admin/jobs/maintenance/<name>/run")
@role_required("admin")
def run_maintenance(name: str):
    """Run one maintenance task now, through the queue and the task's lease."""
    task = maintenance.TASKS.get(name)
    if task is None:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    back = url_for("jobs.admin_jobs", _anchor="maintenance")
    before = _state(name)
    started_before = before.row.last_started_at if before.row else None
    # End this request's transaction: the run (immediate in tests) takes its own.
    db.session.commit()
    if before.running:
        flash(f"“{task.title}” is already running in another process; its outcome "
              "shows here when it finishes.", "info")
        return redirect(back, 303)
    maintenance.enqueue_run(current_app._get_current_object(), name)
    after = _state(name)
    db.session.commit()
    row = after.row
    if row is not None and not after.running and row.last_finished_at is not None \
            and row.last_started_at != started_before:
        label = OUTCOME_LABELS.get(row.last_outcome or "", row.last_outcome)
        flash(f"“{task.title}”: {label} — {row.last_detail}.",
              "error" if row.last_outcome == "failed" else "success")
    else:
        flash(f"“{task.title}” is queued; a worker runs it in a moment. Reload this page "
              "to see its outcome.", "info")
    return redirect(back, 303)


@bp.app_context_processor
def _maintenance_labels() -> dict:
    return {"maintenance_outcome_labels": OUTCOME_LABELS}
