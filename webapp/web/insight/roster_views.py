"""A course's learners: the roster (search, sort, keyset pages), its CSV, one learner's
record, and removing a learner (a confirmation page, then the POST).

Also the insight pages' small navigation (``insight_nav`` in every insight template).
"""

from __future__ import annotations

from flask import (
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.services.insight import enrolling, roster
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.insight import bp

# The insight pages, in the order of the navigation.
NAV = (
    ("insight.roster", "Learners"),
    ("insight.gradebook", "Gradebook"),
    ("insight.funnel", "Where learners stop"),
    ("insight.difficulty", "What is hard"),
    ("insight.activity", "Activity"),
    ("insight.enroll", "Enroll people"),
)


@bp.context_processor
def _insight_nav() -> dict:
    return {"insight_nav": NAV}


def _query() -> roster.RosterQuery:
    return roster.roster_query(request.args.get("q", ""), request.args.get("sort", ""),
                               request.args.get("order", ""))


@bp.get("/learners", endpoint="roster")
def roster_list():
    query = _query()
    after = request.args.get("after", "") or None
    page = roster.roster_page(g.insight_course, query, after=after)
    return render_template("insight/roster.html", course=g.insight_course, tab="insight",
                           page=page, query=query, after=after, sorts=roster.SORTS,
                           orders=roster.ORDERS)


@bp.get("/learners.csv")
def roster_csv():
    course = g.insight_course
    query = _query()
    response = Response(stream_with_context(roster.roster_csv(course, query)),
                        mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f"attachment; filename={course.slug}-learners-{utcnow():%Y-%m-%d}.csv")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/learners/<int:user_id>")
def learner(user_id: int):
    record = roster.learner_record(g.insight_course, user_id)
    return render_template("insight/learner.html", course=g.insight_course, tab="insight",
                           record=record)


@bp.route("/learners/<int:user_id>/unenroll", methods=["GET", "POST"])
def unenroll(user_id: int):
    course = g.insight_course
    person, enrollment = roster.enrolled_learner(course, user_id)
    form = ActionForm()
    if request.method == "GET":
        return render_template("insight/unenroll.html", course=course, tab="insight",
                               person=person, enrollment=enrollment, form=form,
                               effect=enrolling.unenroll_effect(course, person.id))
    valid_or_400(form)
    enrolling.unenroll_learner(current_user._get_current_object(), course, person.id)
    db.session.commit()
    flash(f"{person.display_name} ({person.email}) is no longer enrolled in "
          f"“{course.title}”.", "success")
    return redirect(url_for("insight.roster"), 303)

