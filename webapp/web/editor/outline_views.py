"""The course outline on the authoring pages: modules and lessons added, renamed, moved
and deleted.

Every button is a real form (post/redirect/get back to the course page); htmx
enhances it by swapping just the outline. Deleting asks first, on a page that
says what goes with the module or lesson.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from webapp import htmx
from webapp.extensions import db
from webapp.services import authoring
from webapp.services.exceptions import ValidationFailed
from webapp.web.editor import bp
from webapp.web.editor.common import check_action, user
from webapp.web.editor.forms import MoveForm, TitleForm
from webapp.web.forms import ActionForm, submitted


def _outline_response(course_id: int, message: str | None = None):
    """The outline partial for htmx; otherwise back to the course page (post/redirect/get)."""
    db.session.commit()
    if htmx.is_partial():
        course = authoring.get_course_for_edit(user(), course_id)
        return htmx.render(
            "editor/_outline.html", course=course, action_form=ActionForm(),
            title_form=TitleForm(formdata=None), outline_message=message,
        )
    if message:
        flash(message, "success")
    return redirect(url_for("editor.course", course_id=course_id) + "#outline", 303)


def _title_or_400(form: TitleForm, what: str) -> str:
    if not submitted(form):
        raise ValidationFailed(f"Give the {what} a title of at most 160 characters.",
                               field="title")
    return form.title.data


@bp.post("/courses/<int:course_id>/modules")
def add_module(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    module = authoring.add_module(user(), course, _title_or_400(TitleForm(), "module"))
    return _outline_response(course.id, f"Module “{module.title}” added.")


@bp.post("/modules/<int:module_id>/rename")
def rename_module(module_id: int):
    module = authoring.get_module_for_edit(user(), module_id)
    authoring.rename_module(user(), module, _title_or_400(TitleForm(), "module"))
    return _outline_response(module.course_id, "Module renamed.")


@bp.post("/modules/<int:module_id>/move")
def move_module(module_id: int):
    module = authoring.get_module_for_edit(user(), module_id)
    form = check_action(MoveForm)
    authoring.move_module(user(), module, form.direction.data or "")
    return _outline_response(module.course_id, f"Module “{module.title}” moved "
                                               f"{form.direction.data}.")


@bp.route("/modules/<int:module_id>/delete", methods=["GET", "POST"])
def delete_module(module_id: int):
    module = authoring.get_module_for_edit(user(), module_id)
    return _confirm_then_delete(module, "module", authoring.module_delete_impact,
                                authoring.delete_module)


def _confirm_then_delete(row, what: str, impact, delete):
    """GET: a page saying what goes with ``row``, whose button posts back to the same
    address; POST: delete it and show the outline."""
    if request.method == "GET":
        return render_template("editor/delete.html", course=row.course, tab=None, what=what,
                               name=row.title, impact=impact(row), action_form=ActionForm(),
                               action=url_for(request.endpoint, **request.view_args))
    check_action()
    course_id, title = row.course_id, row.title
    delete(user(), row)
    return _outline_response(course_id, f"{what.capitalize()} “{title}” deleted.")


@bp.post("/modules/<int:module_id>/lessons")
def add_lesson(module_id: int):
    module = authoring.get_module_for_edit(user(), module_id)
    lesson = authoring.add_lesson(user(), module, _title_or_400(TitleForm(), "lesson"))
    db.session.commit()
    flash(f"Lesson “{lesson.title}” added; write it here.", "success")
    return htmx.redirect(url_for("editor.lesson", lesson_id=lesson.id))


@bp.post("/lessons/<int:lesson_id>/move")
def move_lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    form = check_action(MoveForm)
    if form.module_id.data:
        target = authoring.get_module_for_edit(user(), form.module_id.data)
        authoring.move_lesson_to_module(user(), lesson, target)
        message = f"Lesson “{lesson.title}” moved to “{target.title}”."
    else:
        authoring.move_lesson(user(), lesson, form.direction.data or "")
        message = f"Lesson “{lesson.title}” moved {form.direction.data}."
    return _outline_response(lesson.course_id, message)


@bp.route("/lessons/<int:lesson_id>/delete", methods=["GET", "POST"])
def delete_lesson(lesson_id: int):
    lesson = authoring.get_lesson_for_edit(user(), lesson_id)
    return _confirm_then_delete(lesson, "lesson", authoring.lesson_delete_impact,
                                authoring.delete_lesson)
