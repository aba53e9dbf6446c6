"""A course's activity per week: enrollments, active learners, completions."""

from __future__ import annotations

from flask import g, render_template

from webapp.services.insight import activity, snapshots
from webapp.web.insight import bp


@bp.get("/activity", endpoint="activity")
def activity_page():
    course = g.insight_course
    kept = snapshots.figures(course, "activity", lambda: activity.course_activity(course),
                             encode=activity.to_json, decode=activity.from_json)
    return render_template("insight/activity.html", course=course, tab="insight",
                           insight_tab="activity", weeks=kept.value,
                           weeks_count=activity.WEEKS, kept=kept, figures_name="activity")
