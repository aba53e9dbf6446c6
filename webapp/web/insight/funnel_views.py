"""Where a course's learners stop: the completion funnel over its lessons and sections."""

from __future__ import annotations

from flask import g, render_template

from webapp.services.insight import funnel, snapshots
from webapp.web.insight import bp


@bp.get("/funnel", endpoint="funnel")
def funnel_page():
    course = g.insight_course
    kept = snapshots.figures(course, "funnel", lambda: funnel.course_funnel(course),
                             encode=funnel.to_json, decode=funnel.from_json)
    return render_template("insight/funnel.html", course=course, tab="insight",
                           insight_tab="funnel", funnel=kept.value, kept=kept,
                           figures_name="funnel")
