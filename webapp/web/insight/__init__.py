"""Teaching insight (``/edit/courses/<id>/insight/…``): a course's learners, gradebook,
funnel, what is hard, activity per week and enrolling people — for the course's editors
and admins only; anyone else gets a 404 (another editor too). Every view takes the
course from ``g.insight_course``, checked once here.
"""

from flask import Blueprint, g
from flask_login import current_user

from webapp.security import require_role
from webapp.services.insight import access

bp = Blueprint("insight", __name__, url_prefix="/edit/courses/<int:course_id>/insight")


@bp.before_request
def _course_editors_only():
    refused = require_role("editor", "The teaching pages are for the course's editors.")
    if refused is not None:
        return refused
    # Flask runs the URL value preprocessors first: the id is kept in ``g`` there.
    course_id = g.pop("insight_course_id", None)
    g.insight_course = access.course_for(current_user._get_current_object(), course_id)
    return None


@bp.url_value_preprocessor
def _drop_course_id(_endpoint, values):
    # Views read the checked course from ``g.insight_course``.
    if values is not None:
        g.insight_course_id = values.pop("course_id", None)


@bp.url_defaults
def _keep_course_id(endpoint, values):
    # Links between insight pages keep the course they are on.
    if "course_id" not in values and g.get("insight_course") is not None:
        values["course_id"] = g.insight_course.id


# Views register themselves on ``bp``; import them after it exists.
from webapp.web.insight import views  # noqa: E402, F401
