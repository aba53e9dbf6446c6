"""Course packages on the authoring pages: export a course as a zip, import a zip as a
new draft, replace a draft from a zip.

Uploads are plain ``multipart/form-data`` forms (no JavaScript needed). A package
is checked completely before anything is written; when it is not valid the answer
is 400 with every problem listed, and the database is untouched.
"""

from __future__ import annotations

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from webapp.extensions import db
from webapp.models import Course
from webapp.services import authoring, packages
from webapp.services.exceptions import ValidationFailed
from webapp.services.packages import PackageInvalid
from webapp.web.editor import bp
from webapp.web.editor.common import user
from webapp.web.forms import submitted


class PackageForm(FlaskForm):
    package = FileField(
        "Course package (.zip)",
        validators=[FileRequired("Choose a .zip file exported from Tangent.")],
        render_kw={"accept": ".zip,application/zip"},
        description="A zip exported from Tangent (course.json, lessons/*.md, quizzes/*.json).",
    )


def _upload(form: PackageForm) -> bytes:
    # The request body is already capped (413); read no more than a package may be.
    return form.package.data.read(packages.MAX_PACKAGE_BYTES + 1)


def _report(exc: PackageInvalid, *, course: Course | None, back: str):
    db.session.rollback()
    return render_template("editor/import_report.html", problems=exc.problems,
                           message=exc.message, course=course,
                           tab="package" if course else None, back=back), 400


@bp.get("/courses/<int:course_id>/export.zip")
def export_course(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    response = make_response(packages.export_course(course))
    response.headers["Content-Type"] = "application/zip"
    response.headers["Content-Disposition"] = f'attachment; filename="{course.slug}.zip"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/import", methods=["GET", "POST"])
def import_package():
    form = PackageForm()
    if request.method == "GET" or not submitted(form):
        status = 400 if request.method == "POST" else 200
        return render_template("editor/import.html", form=form, course=None), status
    try:
        content = packages.read_package(_upload(form))
    except PackageInvalid as exc:
        return _report(exc, course=None, back=url_for("editor.import_package"))
    course = packages.import_new(user(), content)
    db.session.commit()
    message = f"Imported “{course.title}” as a new draft."
    if course.slug != content.slug:
        message += (f" Its address is /courses/{course.slug}, because “{content.slug}” "
                    "is taken.")
    flash(message, "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)


@bp.get("/courses/<int:course_id>/package")
def package(course_id: int):
    return _package_page(authoring.get_course_for_edit(user(), course_id))


def _package_page(course: Course, *, form: PackageForm | None = None, error: str | None = None,
                  status: int = 200):
    return render_template(
        "editor/package.html", course=course, tab="package",
        form=form or PackageForm(formdata=None), error=error,
        replace_problem=packages.replace_problem(course),
    ), status


@bp.post("/courses/<int:course_id>/import")
def replace_from_package(course_id: int):
    form = PackageForm()
    course = authoring.get_course_for_edit(user(), course_id)
    if not submitted(form):
        return _package_page(course, form=form, status=400)
    problem = packages.replace_problem(course)
    if problem:
        return _package_page(course, error=problem, status=400)
    try:
        content = packages.read_package(_upload(form))
    except PackageInvalid as exc:
        return _report(exc, course=course,
                       back=url_for("editor.package", course_id=course.id))
    try:
        packages.replace_draft(user(), course, content)
    except ValidationFailed as exc:
        db.session.rollback()
        return _package_page(authoring.get_course_for_edit(user(), course_id),
                             error=exc.message, status=400)
    db.session.commit()
    flash("The draft now matches the package.", "success")
    return redirect(url_for("editor.course", course_id=course.id), 303)
