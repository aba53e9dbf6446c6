"""Branch lesson pages: asking for a branch from a lesson page, the branch card that
polls while its job runs, the branch page (the no-JavaScript path and the permalink),
"Mark as done" and promotion.

The card polls like the job card (``webapp.web.polling``): every 2 s at first,
less often as the job ages, within the same per-user budget; the server answers
286 once the branch is ready or failed, and htmx swaps that last card in (the
finished branch itself) and stops. Without JavaScript the card's "Refresh status"
link reloads the branch page, which shows the branch once it is ready.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required

from webapp import htmx
from webapp.errors import render_error
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import Course, Lesson, User
from webapp.services import branches, courses, jobs
from webapp.services.authoring import can_edit
from webapp.services.branches import BranchItem
from webapp.services.exceptions import ValidationFailed
from webapp.settings import get_settings
from webapp.web.branches import bp
from webapp.web.polling import add_card_views, poll_seconds

STEP_LABELS = {"write": "writing the lesson", "render": "checking and formatting it"}


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.app_context_processor
def _branch_helpers() -> dict:
    # The lesson page lists cards too (templates/branches/_list.html).
    return {"branch_step_labels": STEP_LABELS, "branch_poll_seconds": _poll_seconds}


def _poll_seconds(item: BranchItem) -> int | None:
    return poll_seconds(item.job) if item.state == "pending" and item.job else None


def _card_context(item: BranchItem) -> dict:
    return {"item": item, "compact": False, "poll_seconds": _poll_seconds(item)}


def _page_context(item: BranchItem) -> dict:
    lesson: Lesson = item.branch.parent_lesson
    course: Course = lesson.course
    return {
        **_card_context(item), "branch": item.branch, "lesson": lesson, "course": course,
        "lesson_url": url_for("learn.lesson", course_slug=course.slug,
                              lesson_slug=lesson.slug),
        "may_promote": can_edit(_user(), course),
    }


@bp.post("/lessons/<int:lesson_id>/branches")
@login_required
def request_branch(lesson_id: int):
    """Start (or join) a branch: the lesson's branch list for htmx, else the branch page."""
    lesson = courses.get_published_lesson_by_id(lesson_id)
    user = _user()
    try:
        branch, job = branches.request_branch(user, lesson, request.form.get("topic", ""),
                                              settings=get_settings(current_app))
    except jobs.QuotaExceeded as exc:
        db.session.rollback()
        return render_error(429, exc.message, {"Retry-After": str(exc.retry_after)})
    except ValidationFailed as exc:
        db.session.rollback()
        if htmx.is_partial():
            # Under the field, where the learner is looking (the panel is far down the page).
            response = htmx.render("branches/_topic_error.html", message=exc.message,
                                   status_code=400)
            return htmx.retarget(response, "#branch-topic-error", "outerHTML")
        flash(exc.message, "error")
        return redirect(url_for("learn.lesson", course_slug=lesson.course.slug,
                                lesson_slug=lesson.slug) + "#branch-heading", 303)
    # Read before commit: in tests the job runs inside ``enqueue`` on its own session.
    branch_id, held = branch.id, branch.status == "held"
    enqueue_id = job.id if job is not None and job.status == "queued" else None
    db.session.commit()
    if enqueue_id is not None:
        runner.enqueue(enqueue_id)
    if not htmx.is_partial():
        if enqueue_id is not None:
            flash("Your branch lesson is being written. This page shows how far it got.",
                  "success")
        elif held:
            flash("Your request waits for a moderator: new members' requests are checked "
                  "before a branch lesson is written.", "info")
        return htmx.redirect(url_for("branches.show", branch_id=branch_id))
    return htmx.render("branches/_list.html",
                       branch_items=branches.visible_branches(user, lesson))


add_card_views(
    bp, "/branches/<int:branch_id>", what="branch",
    load=lambda branch_id: branches.get_branch_for(_user(), branch_id),
    page="branches/show.html", card="branches/_card.html", page_context=_page_context,
    card_context=_card_context, finished=lambda item: item.state != "pending",
)


@bp.post("/branches/<int:branch_id>/complete")
@login_required
def complete(branch_id: int):
    user = _user()
    item = branches.get_branch_for(user, branch_id)
    branches.complete_branch(user, item)
    db.session.commit()
    if not htmx.is_partial():
        flash("Marked as done.", "success")
    return htmx.partial_or_redirect("branches/_done.html",
                                    url_for("branches.show", branch_id=branch_id),
                                    item=BranchItem(item.branch, item.job, True))


@bp.post("/branches/<int:branch_id>/promote")
@login_required
def promote(branch_id: int):
    user = _user()
    item = branches.get_branch_for(user, branch_id)
    branches.promote(user, item.branch)
    db.session.commit()
    flash("Promoted: every learner of the course can now see this branch lesson.", "success")
    return htmx.redirect(url_for("branches.show", branch_id=branch_id))
