"""Home page and the health check."""

from __future__ import annotations

from flask import jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from webapp.database import current_revisions, head_revisions
from webapp.errors import RETRY_AFTER_503
from webapp.extensions import db
from webapp.services import courses, reading
from webapp.web.course_cards import catalog_context
from webapp.web.main import bp

HOME_COURSES = 6


@bp.get("/")
def index():
    page = reading.catalog(courses.CatalogFilter(), page_size=HOME_COURSES)
    return render_template("main/index.html", **catalog_context(page))


@bp.get("/healthz")
def healthz():
    """200 when the database answers and its schema is at head; 503 otherwise."""
    heads = sorted(head_revisions())
    body: dict = {"status": "ok", "database": "ok", "revision": None, "head": heads}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = sorted(current_revisions(connection))
    except DBAPIError as exc:
        body.update(status="unavailable", database="unreachable",
                    error=type(exc.orig).__name__)
        return _unhealthy(body)
    body["revision"] = current
    if current != heads:
        body.update(status="unavailable", database="behind")
        return _unhealthy(body)
    return jsonify(body)


def _unhealthy(body: dict):
    response = jsonify(body)
    response.status_code = 503
    response.headers["Retry-After"] = RETRY_AFTER_503
    response.headers["Cache-Control"] = "no-store"
    return response
