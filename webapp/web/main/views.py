"""Home page and the health checks (/healthz, /readyz)."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, jsonify, render_template
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from webapp.database import current_revisions, head_revisions
from webapp.errors import RETRY_AFTER_503
from webapp.extensions import db
from webapp.models import GenerationJob
from webapp.models.base import utcnow
from webapp.services import courses, reading
from webapp.settings import get_settings
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
    body = _database_status()
    if body["status"] != "ok":
        return _unhealthy(body)
    return jsonify(body)


@bp.get("/readyz")
def readyz():
    """For load balancers: /healthz's checks plus Redis (when ``REDIS_URL`` is set) and the
    job queue (its storage answers; how many messages wait there, and how many jobs are
    queued, running and running with a stale heartbeat). 200 when all answer, else 503."""
    body = _database_status()
    settings = get_settings(current_app)
    body["redis"] = _redis_status(settings.redis_url) if settings.redis_url else "not configured"
    try:
        body["queue"] = {"status": "ok",
                         "messages": current_app.extensions["tangent.huey"].pending_count()}
    except Exception as exc:  # noqa: BLE001 - any failure of the storage means "not ready"
        body["queue"] = {"status": "unreachable", "error": type(exc).__name__}
    if body["database"] == "ok":
        try:
            body["jobs"] = _job_counts(settings.job_stale_seconds)
        except DBAPIError as exc:
            body.update(database="unreachable", error=type(exc.orig).__name__)
    ready = (body["database"] == "ok" and body["redis"] in ("ok", "not configured")
             and body["queue"]["status"] == "ok")
    if not ready:
        body["status"] = "unavailable"
        return _unhealthy(body)
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


def _database_status() -> dict:
    """/healthz's body: whether the database answers and its schema is at head."""
    heads = sorted(head_revisions())
    body: dict = {"status": "ok", "database": "ok", "revision": None, "head": heads}
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = sorted(current_revisions(connection))
    except DBAPIError as exc:
        body.update(status="unavailable", database="unreachable",
                    error=type(exc.orig).__name__)
        return body
    body["revision"] = current
    if current != heads:
        body.update(status="unavailable", database="behind")
    return body


# One client per process and URL: its pool keeps the connection between checks.
_redis_clients: dict[str, object] = {}
REDIS_TIMEOUT_SECONDS = 2


def _redis_status(url: str) -> str:
    import redis

    client = _redis_clients.get(url)
    if client is None:
        client = _redis_clients[url] = redis.Redis.from_url(
            url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        client.ping()  # type: ignore[attr-defined]
    except redis.RedisError:
        return "unreachable"
    return "ok"


def _job_counts(stale_seconds: int) -> dict[str, int]:
    counts = dict(db.session.execute(
        select(GenerationJob.status, func.count()).where(
            GenerationJob.status.in_(("queued", "running"))).group_by(GenerationJob.status)
    ).all())
    stale = db.session.scalar(select(func.count()).select_from(GenerationJob).where(
        GenerationJob.status == "running",
        GenerationJob.heartbeat_at < utcnow() - timedelta(seconds=stale_seconds)))
    return {"queued": counts.get("queued", 0), "running": counts.get("running", 0),
            "stale": stale or 0}


def _unhealthy(body: dict):
    response = jsonify(body)
    response.status_code = 503
    response.headers["Retry-After"] = RETRY_AFTER_503
    response.headers["Cache-Control"] = "no-store"
    return response
