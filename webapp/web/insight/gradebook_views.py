"""The gradebook of a course (learners by quizzes) and its CSV download."""

from __future__ import annotations

from flask import Response, g, render_template, request, stream_with_context

from webapp.services.insight import gradebook
from webapp.web.edge import id_arg
from webapp.web.insight import bp


@bp.get("/gradebook", endpoint="gradebook")
def gradebook_page():
    course = g.insight_course
    q = gradebook.clean_search(request.args.get("q", ""))
    after = request.args.get("after", type=id_arg)
    page = gradebook.gradebook_page(course, q=q, after=after)
    return render_template("insight/gradebook.html", course=course, tab="insight",
                           insight_page="gradebook", page=page, q=q, after=after,
                           attempts_text=gradebook.attempts_text)


@bp.get("/gradebook.csv", endpoint="gradebook_csv")
def gradebook_csv():
    course = g.insight_course
    q = gradebook.clean_search(request.args.get("q", ""))
    response = Response(stream_with_context(gradebook.gradebook_csv(course, q=q)),
                        mimetype="text/csv", content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = (
        f"attachment; filename={course.slug}-gradebook.csv")
    response.headers["Cache-Control"] = "no-store"
    return response
