"""The course catalog: search, filters, keyset pagination, the learner's badges."""

from __future__ import annotations

from flask import request

from webapp import htmx
from webapp.models.courses import LEVELS
from webapp.services import courses, reading
from webapp.web.catalog import bp
from webapp.web.course_cards import catalog_context


@bp.get("/")
def index():
    filters = courses.CatalogFilter.from_args(
        request.args.get("q"), request.args.get("tag"), request.args.get("level")
    )
    after = request.args.get("after") or None
    context = catalog_context(reading.catalog(filters, after=after), after)
    if htmx.is_partial():
        # "More courses" asks for the next page; the search form for fresh results.
        partial = "catalog/_page.html" if after else "catalog/_results.html"
        return htmx.render("catalog/index.html", partial, **context)
    return htmx.render("catalog/index.html", "catalog/_results.html",
                       tags=reading.catalog_tags(), levels=LEVELS, **context)
