"""A course's activity per week: enrollments, active learners, completions."""

from __future__ import annotations

from flask import g, render_template

from webapp.services.insight import activity
from webapp.web.insight import bp


@bp.get("/activity", endpoint="activity")
def activity_page():
    course = g.insight_course
    weeks = activity.course_activity(course)
    return render_template("insight/activity.html", course=course, tab="insight",
                           insight_tab="activity", weeks=weeks, weeks_count=activity.WEEKS)
