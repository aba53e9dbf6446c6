"""What the authoring views share: the acting editor, form errors, action buttons."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, flash, redirect, url_for
from flask_login import current_user

from webapp.extensions import db
from webapp.jobs import runner
from webapp.services import authoring
from webapp.services.exceptions import DomainError, ValidationFailed
from webapp.settings import Settings, get_settings
from webapp.web.forms import ActionForm, valid_or_400


def user():
    """The signed-in editor (a ``User``; the blueprint lets only editors in)."""
    return current_user._get_current_object()


def form_error(form, exc: DomainError, default_field: str) -> None:
    """Show a service's error next to the field it names (``default_field`` otherwise)."""
    name = exc.field if exc.field and exc.field in form else default_field
    form[name].errors = [*form[name].errors, exc.message]


def check_action(form_class=ActionForm):
    """The posted button form (CSRF token, maybe a version); a 400 when it is not valid."""
    return valid_or_400(form_class())


def queue_lesson_job(lesson_id: int, request_job: Callable, *, refused_to: str,
                     already: str):
    """Ask for a background job about a lesson (``request_job(editor, lesson, settings=…)``
    returns the job and whether it is new), commit, queue it and show its card. A refusal
    goes back to the ``refused_to`` page with its reason; a job already asked for is shown
    with the ``already`` message."""
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    check_action()
    settings: Settings = get_settings(current_app)
    try:
        job, created = request_job(user(), lesson, settings=settings)
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(refused_to, lesson_id=lesson_id), 303)
    job_id = job.id
    db.session.commit()
    if created:
        runner.enqueue(job_id)
    else:
        flash(already, "info")
    return redirect(url_for("jobs.show", job_id=job_id), 303)
