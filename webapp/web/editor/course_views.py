"""Editor pages for whole courses: my courses, a new course, course details and
publishing, co-editors, and the branch lessons learners asked for.

Writes follow post/redirect/get. A stale save of the course details answers 409
with a page that shows both versions, so an editor's work is never silently lost.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from webapp.extensions import db
from webapp.models import Course
from webapp.services import authoring, branches
from webapp.services.costs import course_costs
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.web.edge import id_arg
from webapp.web.editor import bp
from webapp.web.editor.common import check_action, form_error, user
from webapp.web.editor.forms import CourseForm, InviteForm, TitleForm
from webapp.web.forms import ActionForm, submitted

# --- my courses -------------------------------------------------------------------------


@bp.get("/")
def index():
    after = request.args.get("after", type=id_arg)
    page = authoring.editable_courses(user(), after=after)
    return render_template("editor/index.html", page=page, course=None, after=after)


@bp.route("/courses/new", methods=["GET", "POST"])
def new_course():
    form = CourseForm()
    status = 200
    if request.method == "POST":
        if submitted(form):
            try:
                course = authoring.create_course(
                    user(), title=form.title.data, summary=form.summary.data or "",
                    level=form.level.data, tags=authoring.parse_tags(form.tags.data or ""),
                )
                db.session.commit()
                flash("Course created as a draft. Add modules and lessons, then publish it.",
                      "success")
                return redirect(url_for("editor.course", course_id=course.id), 303)
            except ValidationFailed as exc:
                db.session.rollback()
                form_error(form, exc, "title")
        status = 400
    return render_template("editor/new_course.html", form=form, course=None), status


# --- one course: details, publishing -----------------------------------------------------


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
    return _course_page(authoring.get_course_for_edit(user(), course_id))


@bp.post("/courses/<int:course_id>")
def save_course(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    form = CourseForm()
    if not submitted(form):
        return _course_page(course, form=form, status=400)
    try:
        authoring.update_course(
            user(), course, base_version=form.version.data or course.version,
            title=form.title.data, summary=form.summary.data or "", level=form.level.data,
            tags=authoring.parse_tags(form.tags.data or ""),
        )
        db.session.commit()
    except ValidationFailed as exc:
        db.session.rollback()
        form_error(form, exc, "title")
        return _course_page(authoring.get_course_for_edit(user(), course_id), form=form,
                            status=400)
    except authoring.EditConflict as conflict:
        db.session.rollback()
        course = authoring.get_course_for_edit(user(), course_id)
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
    course = authoring.get_course_for_edit(user(), course_id)
    check_action()
    try:
        authoring.publish(user(), course)
        db.session.commit()
    except ValidationFailed:
        db.session.rollback()
        course = authoring.get_course_for_edit(user(), course_id)
        flash("The course cannot be published yet; see the checklist.", "error")
        return _course_page(course, status=400)
    flash("Published: learners can now find the course in the catalog.", "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


@bp.get("/courses/<int:course_id>/unpublish")
def confirm_unpublish(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    return render_template("editor/unpublish.html", course=course, tab=None,
                           learners=authoring.enrolled_count(course), action_form=ActionForm())


@bp.post("/courses/<int:course_id>/unpublish")
def unpublish(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    check_action()
    authoring.unpublish(user(), course)
    db.session.commit()
    flash("The course is a draft again: learners no longer see it. Their progress is kept.",
          "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


# --- co-editors -----------------------------------------------------------------------------


@bp.route("/courses/<int:course_id>/people", methods=["GET", "POST"])
def people(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    form = InviteForm()
    status = 200
    if request.method == "POST":
        if submitted(form):
            try:
                entry = authoring.invite_editor(user(), course, form.email.data)
                db.session.commit()
                flash(f"{entry.user.email} can now edit this course.", "success")
                return redirect(url_for("editor.people", course_id=course.id), 303)
            except (ValidationFailed, Conflict) as exc:
                db.session.rollback()
                course = authoring.get_course_for_edit(user(), course_id)
                form_error(form, exc, "email")
                status = 409 if isinstance(exc, Conflict) else 400
        else:
            status = 400
    owner = db.session.get(type(user()), course.owner_id) if course.owner_id else None
    return render_template(
        "editor/people.html", course=course, tab="people", form=form, owner=owner,
        editors=authoring.co_editors(course), can_manage=authoring.can_manage(user(), course),
        action_form=ActionForm(),
    ), status


@bp.post("/courses/<int:course_id>/people/<int:user_id>/remove")
def remove_editor(course_id: int, user_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    check_action()
    authoring.remove_editor(user(), course, user_id)
    db.session.commit()
    flash("Co-editor removed.", "success")
    return redirect(url_for("editor.people", course_id=course.id), 303)


# --- branch lessons learners asked for ------------------------------------------------------

VISIBILITY_DONE = {"course": "Every learner of the course now sees this branch lesson.",
                   "hidden": "The branch lesson is hidden: only the course's editors see it.",
                   "requesters": "Only the learners who asked for it see the branch lesson."}


@bp.get("/courses/<int:course_id>/branches")
def course_branches(course_id: int):
    """What learners asked to go deeper into, with who sees each branch lesson."""
    course = authoring.get_course_for_edit(user(), course_id)
    rows, next_before = branches.course_branches(
        course, before=request.args.get("before", type=id_arg))
    return render_template("editor/branches.html", course=course, tab="branches", rows=rows,
                           next_before=next_before, action_form=ActionForm())


@bp.post("/branches/<int:branch_id>/visibility")
def branch_visibility(branch_id: int):
    item = branches.get_branch_for(user(), branch_id)
    check_action()
    visibility = request.form.get("visibility", "")
    if visibility == "course":
        branches.promote(user(), item.branch)
    else:
        branches.set_visibility(user(), item.branch, visibility)
    db.session.commit()
    flash(VISIBILITY_DONE[visibility], "success")
    return redirect(url_for("editor.course_branches", course_id=item.branch.course_id), 303)
