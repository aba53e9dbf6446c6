"""Editor pages: my courses, course details and outline, the lesson editor with live
preview, revision history and restore, edit conflicts, publishing and co-editors.

Writes follow post/redirect/get; outline buttons are real forms that htmx
enhances by swapping just the outline. A stale save answers 409 with a page that
shows both texts and a merge, so an editor's work is never silently lost.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from webapp import htmx
from webapp.content.diff import readable_diff
from webapp.extensions import db
from webapp.models import Course, Lesson
from webapp.services import authoring
from webapp.services.costs import course_costs
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed
from webapp.web.editor import bp
from webapp.web.editor.forms import (
    ActionForm,
    CourseForm,
    InviteForm,
    LessonForm,
    MoveForm,
    TitleForm,
    VersionedActionForm,
)


def _user():
    return current_user._get_current_object()


def _form_error(form, exc: ValidationFailed, default_field: str) -> None:
    field = getattr(form, exc.field or default_field, None) or getattr(form, default_field)
    field.errors = [*field.errors, exc.message]


def _valid_or_400(form) -> None:
    """Validate; field errors stay on the form, a bad CSRF token is a 400 like elsewhere."""
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400, "The form expired; reload the page and try again.")


# --- my courses -------------------------------------------------------------------------


@bp.get("/")
def index():
    after = request.args.get("after", type=int)
    page = authoring.editable_courses(_user(), after=after)
    return render_template("editor/index.html", page=page, course=None, after=after)


@bp.route("/courses/new", methods=["GET", "POST"])
def new_course():
    form = CourseForm()
    status = 200
    if request.method == "POST":
        _valid_or_400(form)
        if not form.errors:
            try:
                course = authoring.create_course(
                    _user(), title=form.title.data, summary=form.summary.data or "",
                    level=form.level.data, tags=authoring.parse_tags(form.tags.data or ""),
                )
                db.session.commit()
                flash("Course created as a draft. Add modules and lessons, then publish it.",
                      "success")
                return redirect(url_for("editor.course", course_id=course.id), 303)
            except ValidationFailed as exc:
                db.session.rollback()
                _form_error(form, exc, "title")
        status = 400
    return render_template("editor/new_course.html", form=form, course=None), status


# --- one course: details, outline, publishing -------------------------------------------


def _course_page(course: Course, *, form: CourseForm | None = None, status: int = 200,
                 problems: list[str] | None = None):
    if form is None:
        form = CourseForm(formdata=None, title=course.title, summary=course.summary,
                          level=course.level, tags=", ".join(t.name for t in course.tags),
                          version=course.version)
    return render_template(
        "editor/course.html", course=course, form=form, tab="outline",
        problems=problems if problems is not None else (
            authoring.publish_problems(course) if course.status != "published" else []),
        action_form=ActionForm(), title_form=TitleForm(formdata=None),
        learners=authoring.enrolled_count(course), costs=course_costs(course.id),
    ), status


@bp.get("/courses/<int:course_id>")
def course(course_id: int):
    return _course_page(authoring.get_course_for_edit(_user(), course_id))


@bp.post("/courses/<int:course_id>")
def save_course(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    form = CourseForm()
    _valid_or_400(form)
    if form.errors:
        return _course_page(course, form=form, status=400)
    try:
        authoring.update_course(
            _user(), course, base_version=form.version.data or course.version,
            title=form.title.data, summary=form.summary.data or "", level=form.level.data,
            tags=authoring.parse_tags(form.tags.data or ""),
        )
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        _form_error(form, exc, "title")
        return _course_page(authoring.get_course_for_edit(_user(), course_id), form=form,
                            status=400)
    except authoring.EditConflict as conflict:
        db.session.rollback()
        course = authoring.get_course_for_edit(_user(), course_id)
        mine = CourseForm(formdata=None, title=conflict.yours["title"],
                          summary=conflict.yours["summary"], level=conflict.yours["level"],
                          tags=", ".join(conflict.yours["tags"]),
                          version=conflict.current_version)
        return render_template("editor/course_conflict.html", course=course, form=mine,
                               conflict=conflict, tab=None), 409
    flash("Course details saved.", "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


@bp.post("/courses/<int:course_id>/publish")
def publish(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    _check_action()
    try:
        authoring.publish(_user(), course)
        db.session.commit()
    except ValidationFailed:
        db.session.rollback()
        course = authoring.get_course_for_edit(_user(), course_id)
        flash("The course cannot be published yet; see the checklist.", "error")
        return _course_page(course, status=400)
    flash("Published: learners can now find the course in the catalog.", "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


@bp.get("/courses/<int:course_id>/unpublish")
def confirm_unpublish(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    return render_template("editor/unpublish.html", course=course, tab=None,
                           learners=authoring.enrolled_count(course), action_form=ActionForm())


@bp.post("/courses/<int:course_id>/unpublish")
def unpublish(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    _check_action()
    authoring.unpublish(_user(), course)
    db.session.commit()
    flash("The course is a draft again: learners no longer see it. Their progress is kept.",
          "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


def _check_action(form_class=ActionForm):
    form = form_class()
    if not form.validate_on_submit():
        abort(400, "The form expired; reload the page and try again.")
    return form


# --- outline ------------------------------------------------------------------------------


def _outline_response(course_id: int, message: str | None = None):
    """The outline partial for htmx; otherwise back to the course page (post/redirect/get)."""
    db.session.commit()
    if htmx.is_partial():
        course = authoring.get_course_for_edit(_user(), course_id)
        return htmx.vary(make_response(render_template(
            "editor/_outline.html", course=course, action_form=ActionForm(),
            title_form=TitleForm(formdata=None), outline_message=message,
        )))
    if message:
        flash(message, "success")
    return redirect(url_for("editor.course", course_id=course_id) + "#outline", 303)


def _title_or_400(form: TitleForm, what: str) -> str:
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400, "The form expired; reload the page and try again.")
        raise ValidationFailed(f"Give the {what} a title of at most 160 characters.",
                               field="title")
    return form.title.data


@bp.post("/courses/<int:course_id>/modules")
def add_module(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    module = authoring.add_module(_user(), course, _title_or_400(TitleForm(), "module"))
    return _outline_response(course.id, f"Module “{module.title}” added.")


@bp.post("/modules/<int:module_id>/rename")
def rename_module(module_id: int):
    module = authoring.get_module_for_edit(_user(), module_id)
    authoring.rename_module(_user(), module, _title_or_400(TitleForm(), "module"))
    return _outline_response(module.course_id, "Module renamed.")


@bp.post("/modules/<int:module_id>/move")
def move_module(module_id: int):
    module = authoring.get_module_for_edit(_user(), module_id)
    form = _check_action(MoveForm)
    authoring.move_module(_user(), module, form.direction.data or "")
    return _outline_response(module.course_id, f"Module “{module.title}” moved "
                                               f"{form.direction.data}.")


@bp.route("/modules/<int:module_id>/delete", methods=["GET", "POST"])
def delete_module(module_id: int):
    module = authoring.get_module_for_edit(_user(), module_id)
    return _confirm_then_delete(
        module, "module", authoring.module_delete_impact, authoring.delete_module,
        url_for("editor.delete_module", module_id=module.id))


def _confirm_then_delete(row, what: str, impact, delete, action: str):
    """GET: a page saying what goes with ``row``; POST: delete it and show the outline."""
    if request.method == "GET":
        return render_template("editor/delete.html", course=row.course, tab=None, what=what,
                               name=row.title, impact=impact(row), action_form=ActionForm(),
                               action=action)
    _check_action()
    course_id, title = row.course_id, row.title
    delete(_user(), row)
    return _outline_response(course_id, f"{what.capitalize()} “{title}” deleted.")


@bp.post("/modules/<int:module_id>/lessons")
def add_lesson(module_id: int):
    module = authoring.get_module_for_edit(_user(), module_id)
    lesson = authoring.add_lesson(_user(), module, _title_or_400(TitleForm(), "lesson"))
    db.session.commit()
    flash(f"Lesson “{lesson.title}” added; write it here.", "success")
    return htmx.redirect(url_for("editor.lesson", lesson_id=lesson.id))


@bp.post("/lessons/<int:lesson_id>/move")
def move_lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    form = _check_action(MoveForm)
    if form.module_id.data:
        target = authoring.get_module_for_edit(_user(), form.module_id.data)
        authoring.move_lesson_to_module(_user(), lesson, target)
        message = f"Lesson “{lesson.title}” moved to “{target.title}”."
    else:
        authoring.move_lesson(_user(), lesson, form.direction.data or "")
        message = f"Lesson “{lesson.title}” moved {form.direction.data}."
    return _outline_response(lesson.course_id, message)


@bp.route("/lessons/<int:lesson_id>/delete", methods=["GET", "POST"])
def delete_lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    return _confirm_then_delete(
        lesson, "lesson", authoring.lesson_delete_impact, authoring.delete_lesson,
        url_for("editor.delete_lesson", lesson_id=lesson.id))


# --- the lesson editor ------------------------------------------------------------------------


def _preview(lesson: Lesson, title: str, source: str):
    try:
        return authoring.preview_lesson(lesson.course_id, title, source), None
    except ValidationFailed as exc:
        return None, exc.message


def _lesson_page(lesson: Lesson, form: LessonForm, *, status: int = 200):
    from webapp.services.audio import latest_asset

    preview, preview_error = _preview(lesson, form.title.data or lesson.title,
                                      form.source.data or "")
    return render_template(
        "editor/lesson.html", course=lesson.course, lesson=lesson, form=form, tab=None,
        preview=preview, preview_error=preview_error,
        narration=latest_asset(lesson), action_form=ActionForm(),
    ), status


@bp.post("/lessons/<int:lesson_id>/regenerate")
def regenerate_lesson(lesson_id: int):
    """Queue an AI rewrite of the lesson (a new, restorable revision; progress is kept)."""
    from flask import current_app

    from webapp.jobs import runner
    from webapp.services import regeneration
    from webapp.settings import get_settings

    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    _check_action()
    job, created = regeneration.request_regeneration(_user(), lesson,
                                                     settings=get_settings(current_app))
    job_id = job.id
    db.session.commit()
    if created:
        runner.enqueue(job_id)
    flash("Regeneration started: the new text will be saved as the next version."
          if created else "This version is already being regenerated.", "success")
    return redirect(url_for("jobs.show", job_id=job_id), 303)


@bp.post("/lessons/<int:lesson_id>/narrate")
def narrate_lesson(lesson_id: int):
    """Queue narration of the lesson's current version; show the job's progress."""
    from flask import current_app

    from webapp.jobs import runner
    from webapp.services import narration
    from webapp.settings import get_settings

    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    _check_action()
    try:
        job, created = narration.request_narration(_user(), lesson,
                                                   settings=get_settings(current_app))
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("editor.lesson", lesson_id=lesson_id), 303)
    job_id = job.id
    db.session.commit()
    if created:
        runner.enqueue(job_id)
    flash("Narration started." if created else "This version is already being narrated.",
          "success")
    return redirect(url_for("jobs.show", job_id=job_id), 303)


@bp.get("/lessons/<int:lesson_id>")
def lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    form = LessonForm(formdata=None, title=lesson.title, source=lesson.source,
                      version=lesson.version)
    return _lesson_page(lesson, form)


@bp.post("/lessons/<int:lesson_id>")
def save_lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    form = LessonForm()
    _valid_or_400(form)
    if form.errors:
        return _lesson_page(lesson, form, status=400)
    if form.preview.data:
        return _lesson_page(lesson, form)
    try:
        authoring.save_lesson(_user(), lesson, base_version=form.version.data,
                              title=form.title.data, source=form.source.data or "")
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        _form_error(form, exc, "source")
        return _lesson_page(authoring.get_lesson_for_edit(_user(), lesson_id), form, status=400)
    except authoring.EditConflict as conflict:
        db.session.rollback()
        return _lesson_conflict(lesson_id, conflict)
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
        job = narration.renarrate_if_narrated(_user(), lesson, previous_version,
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


def _lesson_conflict(lesson_id: int, conflict: authoring.EditConflict):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    merged = conflict.merged_source if conflict.merged_source is not None \
        else conflict.yours["source"]
    form = LessonForm(formdata=None, title=conflict.yours["title"], source=merged,
                      version=conflict.current_version)
    return render_template(
        "editor/lesson_conflict.html", course=lesson.course, lesson=lesson, tab=None,
        conflict=conflict, form=form,
        changes=readable_diff(conflict.current["source"], conflict.yours["source"]),
    ), 409


@bp.post("/lessons/<int:lesson_id>/preview")
def preview_lesson(lesson_id: int):
    """The live preview (htmx, debounced as the editor types): nothing is saved."""
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    form = LessonForm()
    if not form.validate_on_submit() and "csrf_token" in form.errors:
        abort(400, "The form expired; reload the page and try again.")
    preview, preview_error = _preview(lesson, form.title.data or lesson.title,
                                      form.source.data or "")
    return htmx.vary(make_response(render_template(
        "editor/_preview.html", preview=preview, preview_error=preview_error)))


# --- history ------------------------------------------------------------------------------


@bp.get("/lessons/<int:lesson_id>/history")
def lesson_history(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    page = authoring.lesson_revisions(lesson, before=request.args.get("before", type=int))
    counts = {
        revision.version: (sum(len(h[3]) for h in revision.delta.get("source", [])),
                           sum(len(h[2]) for h in revision.delta.get("source", [])))
        for revision in page.revisions
    }
    return render_template("editor/lesson_history.html", course=lesson.course, lesson=lesson,
                           page=page, counts=counts, tab=None)


@bp.get("/lessons/<int:lesson_id>/history/<int:version>")
def lesson_revision(lesson_id: int, version: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
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


@bp.post("/lessons/<int:lesson_id>/history/<int:version>/restore")
def restore_lesson(lesson_id: int, version: int):
    lesson = authoring.get_lesson_for_edit(_user(), lesson_id)
    form = _check_action(VersionedActionForm)
    try:
        authoring.restore_lesson(_user(), lesson, version, base_version=form.version.data)
        db.session.commit()
    except authoring.EditConflict as conflict:
        db.session.rollback()
        return _lesson_conflict(lesson_id, conflict)
    flash(f"Version {version} restored as version {lesson.version}.", "success")
    _keep_narration_current(lesson, form.version.data)
    return redirect(url_for("editor.lesson", lesson_id=lesson.id), 303)


@bp.get("/courses/<int:course_id>/history")
def course_history(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    page = authoring.course_revisions(course, before=request.args.get("before", type=int))
    return render_template("editor/course_history.html", course=course, page=page,
                           tab="history",
                           restore_form=VersionedActionForm(formdata=None,
                                                            version=course.version))


@bp.post("/courses/<int:course_id>/history/<int:version>/restore")
def restore_course(course_id: int, version: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    form = _check_action(VersionedActionForm)
    try:
        authoring.restore_course(_user(), course, version, base_version=form.version.data)
        db.session.commit()
    except authoring.EditConflict:
        db.session.rollback()
        flash("The course changed since you opened the history; check it and try again.",
              "error")
        return redirect(url_for("editor.course_history", course_id=course_id), 303)
    flash(f"Course details of version {version} restored.", "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


# --- co-editors -----------------------------------------------------------------------------


@bp.route("/courses/<int:course_id>/people", methods=["GET", "POST"])
def people(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    form = InviteForm()
    status = 200
    if request.method == "POST":
        _valid_or_400(form)
        if not form.errors:
            try:
                entry = authoring.invite_editor(_user(), course, form.email.data)
                db.session.commit()
                flash(f"{entry.user.email} can now edit this course.", "success")
                return redirect(url_for("editor.people", course_id=course.id), 303)
            except (ValidationFailed, Conflict) as exc:
                db.session.rollback()
                course = authoring.get_course_for_edit(_user(), course_id)
                _form_error(form, exc, "email")
                status = 409 if isinstance(exc, Conflict) else 400
        else:
            status = 400
    owner = db.session.get(type(_user()), course.owner_id) if course.owner_id else None
    return render_template(
        "editor/people.html", course=course, tab="people", form=form, owner=owner,
        editors=authoring.co_editors(course), can_manage=authoring.can_manage(_user(), course),
        action_form=ActionForm(),
    ), status


@bp.post("/courses/<int:course_id>/people/<int:user_id>/remove")
def remove_editor(course_id: int, user_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    _check_action()
    authoring.remove_editor(_user(), course, user_id)
    db.session.commit()
    flash("Co-editor removed.", "success")
    return redirect(url_for("editor.people", course_id=course.id), 303)



