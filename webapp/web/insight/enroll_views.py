"""Enrolling people in a course: paste addresses or upload a CSV file, then a report of
what happened to each line. Nothing is enrolled unless the whole list went through (one
transaction)."""

from __future__ import annotations

from flask import g, render_template, request
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import TextAreaField

from webapp.extensions import db
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.insight import enrolling
from webapp.web.forms import submitted
from webapp.web.insight import bp


class EnrollForm(FlaskForm):
    addresses = TextAreaField(
        "Email addresses",
        description="One per line, or separated by commas or semicolons.",
        render_kw={"rows": 8, "autocomplete": "off", "spellcheck": "false"})
    file = FileField(
        "Or a CSV file",
        description=(f"UTF-8, at most 1 MB and {enrolling.MAX_LINES:,} lines: the column "
                     "headed “email”, or else the first column."),
        render_kw={"accept": ".csv,text/csv,text/plain"})


def _lines(form: EnrollForm) -> list[str]:
    upload = form.file.data
    if upload is not None and getattr(upload, "filename", ""):
        # The request body is already capped (413); read no more than a list may be, and
        # close the spooled file now (a large upload is a temporary file).
        try:
            data = upload.read(enrolling.MAX_BYTES + 1)
        finally:
            upload.close()
        return enrolling.parse_csv(data)
    return enrolling.parse_pasted(form.addresses.data)


def _form_page(form: EnrollForm, status: int = 200):
    course = g.insight_course
    return render_template("insight/enroll.html", course=course, tab="insight", form=form,
                           published=course.status == "published",
                           not_published=enrolling.NOT_PUBLISHED), status


@bp.route("/enroll", methods=["GET", "POST"])
def enroll():
    form = EnrollForm()
    if request.method == "GET" or not submitted(form):
        return _form_page(form, 200 if request.method == "GET" else 400)
    course = g.insight_course
    if course.status != "published":
        form.form_errors.append(enrolling.NOT_PUBLISHED)
        return _form_page(form, 409)
    try:
        report = enrolling.enroll_addresses(current_user._get_current_object(), course,
                                            _lines(form))
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        target = form.file if exc.field == "file" else form.addresses
        target.errors = [*target.errors, exc.message]
        return _form_page(form, exc.status)
    return render_template("insight/enroll_report.html", course=course, tab="insight",
                           report=report, outcomes=enrolling.OUTCOMES)
