"""GET /readyz: /healthz's checks plus Redis and the job queue, for load balancers."""

from __future__ import annotations

from datetime import timedelta

from huey import RedisHuey

from tests.processes import free_port
from webapp import create_app
from webapp.extensions import db
from webapp.models import GenerationJob
from webapp.models.base import utcnow


def test_ready_when_database_and_queue_answer(app, client):
    with app.app_context():
        now = utcnow()
        db.session.add_all([
            GenerationJob(kind="course_draft", subject_key="course:a"),
            GenerationJob(kind="course_draft", subject_key="course:b", status="running",
                          heartbeat_at=now),
            GenerationJob(kind="course_draft", subject_key="course:c", status="running",
                          heartbeat_at=now - timedelta(hours=1)),
            GenerationJob(kind="course_draft", subject_key="course:d", status="succeeded",
                          finished_at=now),
        ])
        db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert (body["status"], body["database"]) == ("ok", "ok")
    assert body["revision"] == body["head"]
    # The suite's app uses Redis only when REDIS_URL is set (CI's second run).
    assert body["redis"] == ("ok" if app.config["RATELIMIT_STORAGE_URI"].startswith("redis")
                             else "not configured")
    assert body["queue"] == {"status": "ok", "messages": 0}  # tests run jobs immediately
    assert body["jobs"] == {"queued": 1, "running": 2, "stale": 1}


def test_healthz_stays_without_the_deep_checks(client):
    body = client.get("/healthz").json
    assert body["status"] == "ok"
    assert not {"redis", "queue", "jobs"} & set(body)


def test_unreachable_redis_is_not_ready(app, app_settings):
    # Not make_app: it clears the limiter's counters, which needs the Redis that is down.
    application = create_app(app_settings(
        database_url=app.config["SQLALCHEMY_DATABASE_URI"],
        redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    try:
        response = application.test_client().get("/readyz")
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert (body["status"], body["database"], body["redis"]) == ("unavailable", "ok",
                                                                 "unreachable")
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_unreachable_queue_is_not_ready(make_app):
    application = make_app()
    # The storage `tangent worker` uses with REDIS_URL, on a port nobody listens on.
    application.extensions["tangent.huey"] = RedisHuey(
        "tangent", url=f"redis://127.0.0.1:{free_port()}/0")
    response = application.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["queue"] == {"status": "unreachable", "error": "ConnectionError"}


def test_unreachable_database_is_not_ready(down_app):
    response = down_app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert (body["status"], body["database"]) == ("unavailable", "unreachable")
    assert "jobs" not in body
    assert "Traceback" not in response.get_data(as_text=True)


def test_readyz_is_never_rate_limited(lab_client):
    for _ in range(8):
        assert lab_client.get("/readyz").status_code == 200
    assert [lab_client.get("/").status_code for _ in range(5)] == [200] * 5
