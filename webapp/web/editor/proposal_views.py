"""AI rewrites of a lesson: asking for one (after a confirmation page), and reviewing the
proposal it produces — publish it, edit it before publishing, or discard it.

Nothing here changes what learners read until an editor presses Publish (or saves the
edited rewrite). Every step is a plain form and a redirect, so it all works without
JavaScript; the services check who may do what.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for

from webapp.content.diff import readable_diff
from webapp.content.placeholders import placeholder_lines
from webapp.extensions import db
from webapp.models import LessonProposal
from webapp.services import authoring, regeneration
from webapp.services.exceptions import ValidationFailed
from webapp.settings import get_settings
from webapp.web.editor import bp
from webapp.web.editor.common import check_action, queue_lesson_job, user
from webapp.web.editor.forms import LessonForm
from webapp.web.editor.views import _keep_narration_current, _lesson_conflict, _lesson_page
from webapp.web.forms import ActionForm

# --- asking for a rewrite ---------------------------------------------------------------------


@bp.get("/lessons/<int:lesson_id>/regenerate")
def confirm_regeneration(lesson_id: int):
    """What a rewrite does, before it starts: a proposal to review; with the offline
    scaffold, prompts to fill in rather than a text."""
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    settings = get_settings(current_app)
    return render_template(
        "editor/regenerate.html", course=lesson.course, lesson=lesson, tab=None,
        action_form=ActionForm(), scaffold=settings.ai_provider == "scaffold",
        model=settings.ai_model, waiting=regeneration.pending_proposal(lesson),
        rewriting=regeneration.active_regeneration(lesson),
    )


@bp.post("/lessons/<int:lesson_id>/regenerate")
def regenerate_lesson(lesson_id: int):
    """Queue an AI rewrite of the lesson; its job card shows how it goes."""
    return queue_lesson_job(
        lesson_id, regeneration.request_regeneration, refused_to="editor.confirm_regeneration",
        already="A rewrite of this lesson was already asked for; here is that job.")


# --- reviewing the proposal -------------------------------------------------------------------


def _review_page(proposal: LessonProposal, *, error: str | None = None, status: int = 200):
    lesson = regeneration.proposal_lesson(proposal)
    preview, preview_error = None, None
    try:
        preview = authoring.preview_lesson(lesson.course_id, proposal.title, proposal.source)
    except ValidationFailed as exc:
        preview_error = exc.message
    lines = proposal.source.splitlines()
    # Each line as the editor will find it in the box, less its Markdown quote and bold.
    placeholders = [(n, lines[n - 1].strip().lstrip("> ").strip("*"))
                    for n in placeholder_lines(proposal.source)]
    return render_template(
        "editor/proposal.html", course=lesson.course, lesson=lesson, tab=None,
        proposal=proposal, preview=preview, preview_error=preview_error,
        placeholders=placeholders, error=error, action_form=ActionForm(),
        changes=readable_diff(lesson.source or "", proposal.source),
    ), status


@bp.get("/proposals/<int:proposal_id>")
def proposal(proposal_id: int):
    return _review_page(regeneration.get_proposal_for(user(), proposal_id))


@bp.post("/proposals/<int:proposal_id>/publish")
def publish_proposal(proposal_id: int):
    """Publish the rewrite as it is: the lesson's next version (or a 409 with a merge when
    the lesson changed since the rewrite started)."""
    proposal = regeneration.get_proposal_for(user(), proposal_id)
    check_action()
    lesson_id = proposal.lesson_id
    try:
        lesson = regeneration.publish_proposal(user(), proposal)
        db.session.commit()
    except authoring.EditConflict as conflict:
        db.session.rollback()
        return _lesson_conflict(lesson_id, conflict,
                                proposal=regeneration.get_proposal_for(user(), proposal_id))
    except ValidationFailed as exc:
        db.session.rollback()
        return _review_page(regeneration.get_proposal_for(user(), proposal_id),
                            error=exc.message, status=exc.status)
    flash(f"The AI rewrite is published as version {lesson.version}.", "success")
    _keep_narration_current(lesson, proposal.base_version)
    return redirect(url_for("editor.lesson", lesson_id=lesson_id), 303)


@bp.get("/proposals/<int:proposal_id>/edit")
def edit_proposal(proposal_id: int):
    """The lesson editor with the rewrite in it, not saved: saving publishes the edit."""
    proposal = regeneration.get_proposal_for(user(), proposal_id)
    lesson = regeneration.proposal_lesson(proposal)
    if proposal.status != "pending":
        flash(f"This AI rewrite was already {proposal.status}.", "info")
        return redirect(url_for("editor.proposal", proposal_id=proposal_id), 303)
    form = LessonForm(formdata=None, title=proposal.title, source=proposal.source,
                      version=proposal.base_version, proposal=proposal.id)
    return _lesson_page(lesson, form, editing=proposal)


@bp.get("/proposals/<int:proposal_id>/discard")
def confirm_discard(proposal_id: int):
    proposal = regeneration.get_proposal_for(user(), proposal_id)
    lesson = regeneration.proposal_lesson(proposal)
    return render_template("editor/proposal_discard.html", course=lesson.course, lesson=lesson,
                           tab=None, proposal=proposal, action_form=ActionForm())


@bp.post("/proposals/<int:proposal_id>/discard")
def discard_proposal(proposal_id: int):
    proposal = regeneration.get_proposal_for(user(), proposal_id)
    check_action()
    lesson_id = proposal.lesson_id
    try:
        regeneration.discard_proposal(user(), proposal)
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "info")
        return redirect(url_for("editor.proposal", proposal_id=proposal_id), 303)
    flash("The AI rewrite was discarded; the lesson is unchanged.", "success")
    return redirect(url_for("editor.lesson", lesson_id=lesson_id), 303)
