"""The course catalog: search, filters, keyset pagination, the learner's badges."""

from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user

from webapp import htmx
from webapp.models.courses import LEVELS
from webapp.services import courses, progress

bp = Blueprint("catalog", __name__, url_prefix="/courses")


def catalog_context(page: courses.CatalogPage, after: str | None = None) -> dict:
    """What a page of course cards needs: the page plus the signed-in learner's badges."""
    ids = [course.id for course in page.courses]
    enrolled = progress.enrolled_course_ids(current_user, ids)
    filters = page.filter
    return {
        "results": page,
        "after": after,
        "enrolled": enrolled,
        "progress_map": progress.course_progress_map(
            current_user, [i for i in ids if i in enrolled]
        ),
        "filtering": bool(filters.q or filters.tag or filters.level),
        "filter_args": {k: v for k, v in (("q", filters.q), ("tag", filters.tag),
                                          ("level", filters.level)) if v},
    }


@bp.get("/")
def index():
    filters = courses.CatalogFilter.from_args(
        request.args.get("q"), request.args.get("tag"), request.args.get("level")
    )
    after = request.args.get("after") or None
    context = catalog_context(courses.list_catalog(filters, after=after), after)
    if htmx.is_partial():
        # "More courses" asks for the next page; the search form for fresh results.
        partial = "catalog/_page.html" if after else "catalog/_results.html"
        return htmx.render("catalog/index.html", partial, **context)
    return htmx.render("catalog/index.html", "catalog/_results.html",
                       tags=courses.list_tags(), levels=LEVELS, **context)
