"""The lesson editor: editing with live preview (and editing an AI rewrite before
publishing it), narration, edit conflicts, and the revision history of lessons and
course details with restore. Asking for and reviewing AI rewrites: ``proposal_views``.

A stale save answers 409 with a page that shows both texts and a merge, so an
editor's work is never silently lost.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from webapp import htmx
from webapp.content.diff import readable_diff
from webapp.extensions import db
from webapp.models import Lesson, LessonProposal
from webapp.services import authoring
from webapp.services.exceptions import NotFound, ValidationFailed
from webapp.web.edge import id_arg
from webapp.web.editor import bp
from webapp.web.editor.common import check_action, form_error, queue_lesson_job, user
from webapp.web.editor.forms import LessonForm, VersionedActionForm
from webapp.web.forms import ActionForm, submitted

# --- the lesson editor ------------------------------------------------------------------------


def _preview(lesson: Lesson, title: str, source: str):
    try:
        return authoring.preview_lesson(lesson.course_id, title, source), None
    except ValidationFailed as exc:
        return None, exc.message


def _lesson_page(lesson: Lesson, form: LessonForm, *, status: int = 200,
                 editing: LessonProposal | None = None):
    """The editor; ``editing`` is the AI rewrite loaded into the form (not saved yet)."""
    from webapp.services import regeneration
    from webapp.services.audio import latest_asset

    preview, preview_error = _preview(lesson, form.title.data or lesson.title,
                                      form.source.data or "")
    waiting = None if editing is not None else regeneration.pending_proposal(lesson)
    return render_template(
        "editor/lesson.html", course=lesson.course, lesson=lesson, form=form, tab=None,
        preview=preview, preview_error=preview_error,
        narration=latest_asset(lesson), action_form=ActionForm(),
        editing=editing, waiting=waiting,
        rewriting=regeneration.active_regeneration(lesson) if waiting is None else None,
    ), status


@bp.post("/lessons/<int:lesson_id>/narrate")
def narrate_lesson(lesson_id: int):
    """Queue narration of the lesson's current version; show the job's progress."""
    from webapp.services import narration

    return queue_lesson_job(
        lesson_id, narration.request_narration, refused_to="editor.lesson",
        already="Narration of this version was already asked for; here is that job.")


@bp.get("/lessons/<int:lesson_id>")
def lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    form = LessonForm(formdata=None, title=lesson.title, source=lesson.source,
                      version=lesson.version)
    return _lesson_page(lesson, form)


def _proposal_of(lesson: Lesson, proposal_id: int | None) -> LessonProposal | None:
    """The AI rewrite a posted lesson form started from (one of this lesson's), if any."""
    from webapp.services import regeneration

    if proposal_id is None:
        return None
    proposal = regeneration.get_proposal_for(user(), proposal_id)
    if proposal.lesson_id != lesson.id:
        raise NotFound("There is no such AI rewrite.")
    return proposal


@bp.post("/lessons/<int:lesson_id>")
def save_lesson(lesson_id: int):
    from webapp.services import regeneration

    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    form = LessonForm()
    valid = submitted(form)
    editing = _proposal_of(lesson, form.proposal.data)
    if not valid:
        return _lesson_page(lesson, form, status=400, editing=editing)
    if form.preview.data:
        return _lesson_page(lesson, form, editing=editing)
    try:
        if editing is not None:
            regeneration.publish_proposal(user(), editing, title=form.title.data,
                                          source=form.source.data or "",
                                          base_version=form.version.data)
        else:
            authoring.save_lesson(user(), lesson, base_version=form.version.data,
                                  title=form.title.data, source=form.source.data or "")
        db.session.commit()
    except regeneration.ProposalDecided as exc:
        db.session.rollback()
        # Whoever decided it, the text on this page is the editor's own work: keep it,
        # and let the next Save be an ordinary one.
        form.proposal.data = None
        form_error(form, exc, "source")
        form.source.errors.append("Nothing was saved; press Save lesson to save this text "
                                  "as an ordinary edit.")
        return _lesson_page(authoring.get_lesson_for_edit(user(), lesson_id), form, status=409)
    except ValidationFailed as exc:
        db.session.rollback()
        form_error(form, exc, "source")
        return _lesson_page(authoring.get_lesson_for_edit(user(), lesson_id), form, status=400,
                            editing=editing)
    except authoring.EditConflict as conflict:
        db.session.rollback()
        return _lesson_conflict(lesson_id, conflict, proposal=editing)
    if editing is not None:
        flash(f"The AI rewrite, as you edited it, is published as version {lesson.version}.",
              "success")
    else:
        flash(f"Saved as version {lesson.version}." if lesson.version != form.version.data
              else "No changes to save.", "success")
    _keep_narration_current(lesson, form.version.data)
    return redirect(url_for("editor.lesson", lesson_id=lesson.id), 303)


def _keep_narration_current(lesson: Lesson, previous_version: int) -> None:
    """A narrated lesson that changed gets new narration (a job), after the save committed."""
    from flask import current_app

    from webapp.jobs import runner
    from webapp.services import jobs, narration
    from webapp.settings import get_settings

    try:
        job = narration.renarrate_if_narrated(user(), lesson, previous_version,
                                              settings=get_settings(current_app))
        job_id = job.id if job is not None else None
        db.session.commit()
    except jobs.QuotaExceeded as exc:
        db.session.rollback()
        flash(f"The narration was not updated: {exc.message}", "error")
        return
    if job_id is not None:
        runner.enqueue(job_id)
        flash("The lesson was narrated before, so its new version is being narrated.", "info")


def _lesson_conflict(lesson_id: int, conflict: authoring.EditConflict,
                     proposal: LessonProposal | None = None):
    """409: someone saved the lesson since this text's version; ``proposal`` when the text
    is an AI rewrite (the merge form then still publishes it)."""
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    merged = conflict.merged_source if conflict.merged_source is not None \
        else conflict.yours["source"]
    form = LessonForm(formdata=None, title=conflict.yours["title"], source=merged,
                      version=conflict.current_version,
                      proposal=proposal.id if proposal is not None else None)
    return render_template(
        "editor/lesson_conflict.html", course=lesson.course, lesson=lesson, tab=None,
        conflict=conflict, form=form, proposal=proposal,
        changes=readable_diff(conflict.current["source"], conflict.yours["source"]),
    ), 409


@bp.post("/lessons/<int:lesson_id>/preview")
def preview_lesson(lesson_id: int):
    """The live preview (htmx, debounced as the editor types): nothing is saved."""
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    form = LessonForm()
    submitted(form)  # the preview shows whatever was typed, valid or not
    preview, preview_error = _preview(lesson, form.title.data or lesson.title,
                                      form.source.data or "")
    return htmx.render("editor/_preview.html", preview=preview, preview_error=preview_error)


# --- history ------------------------------------------------------------------------------


@bp.get("/lessons/<int:lesson_id>/history")
def lesson_history(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    page = authoring.lesson_revisions(lesson, before=request.args.get("before", type=id_arg))
    counts = {
        revision.version: (sum(len(h[3]) for h in revision.delta.get("source", [])),
                           sum(len(h[2]) for h in revision.delta.get("source", [])))
        for revision in page.revisions
    }
    return render_template("editor/lesson_history.html", course=lesson.course, lesson=lesson,
                           page=page, counts=counts, tab=None)


@bp.get("/lessons/<int:lesson_id>/history/<int:version>")
def lesson_revision(lesson_id: int, version: int):
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    revision = authoring.get_lesson_revision(lesson, version)
    title, source = authoring.lesson_text_at(lesson, version)
    try:
        previous_title, previous = authoring.lesson_text_at(lesson, version - 1) \
            if version > 1 else ("", "")
        changes = readable_diff(previous, source)
    except NotFound:
        previous_title, changes = None, None
    against_current = readable_diff(source, lesson.source or "")
    return render_template(
        "editor/lesson_revision.html", course=lesson.course, lesson=lesson, tab=None,
        revision=revision, title=title, source=source, previous_title=previous_title,
        changes=changes, against_current=against_current,
        restore_form=VersionedActionForm(formdata=None, version=lesson.version),
    )


def _restore(restore, row, version: int):
    """Restore ``version`` of ``row`` as posted from a history page: (the form, the
    ``EditConflict`` when the row changed since the page was shown, else None)."""
    form = check_action(VersionedActionForm)
    try:
        restore(user(), row, version, base_version=form.version.data)
        db.session.commit()
    except authoring.EditConflict as conflict:
        db.session.rollback()
        return form, conflict
    return form, None


@bp.post("/lessons/<int:lesson_id>/history/<int:version>/restore")
def restore_lesson(lesson_id: int, version: int):
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    form, conflict = _restore(authoring.restore_lesson, lesson, version)
    if conflict is not None:
        return _lesson_conflict(lesson_id, conflict)
    flash(f"Version {version} restored as version {lesson.version}.", "success")
    _keep_narration_current(lesson, form.version.data)
    return redirect(url_for("editor.lesson", lesson_id=lesson.id), 303)


@bp.get("/courses/<int:course_id>/history")
def course_history(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    page = authoring.course_revisions(course, before=request.args.get("before", type=id_arg))
    return render_template("editor/course_history.html", course=course, page=page,
                           tab="history",
                           restore_form=VersionedActionForm(formdata=None,
                                                            version=course.version))


@bp.post("/courses/<int:course_id>/history/<int:version>/restore")
def restore_course(course_id: int, version: int):
    course = authoring.get_course_for_edit(user(), course_id)
    _form, conflict = _restore(authoring.restore_course, course, version)
    if conflict is not None:
        flash("The course changed since you opened the history; check it and try again.",
              "error")
        return redirect(url_for("editor.course_history", course_id=course_id), 303)
    flash(f"Course details of version {version} restored.", "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)
