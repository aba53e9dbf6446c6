"""Where a course's learners stop: the completion funnel over its lessons and sections."""

from __future__ import annotations

from flask import g, render_template

from webapp.services.insight import funnel
from webapp.web.insight import bp


@bp.get("/funnel", endpoint="funnel")
def funnel_page():
    course = g.insight_course
    return render_template("insight/funnel.html", course=course, tab="insight",
                           insight_tab="funnel", funnel=funnel.course_funnel(course))
