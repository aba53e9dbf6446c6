"""Where the job queue lives: in memory and immediate in tests, huey's SQLite storage in
the instance folder by default, Redis when REDIS_URL is set (skipped without a server)."""

from __future__ import annotations

import uuid
from dataclasses import replace

from flask import Flask
from huey import MemoryHuey, RedisHuey, SqliteHuey

from webapp.jobs import QUEUE_FILE, enqueue_job, init_queue
from webapp.settings import get_settings


def test_tests_run_jobs_immediately(app):
    huey = app.extensions["tangent.huey"]
    assert isinstance(huey, MemoryHuey) and huey.immediate


def roundtrip(huey, app: Flask) -> None:
    huey.flush()
    enqueue_job(app, 42)
    assert huey.pending_count() == 1
    message = huey.dequeue()
    assert message.name.endswith("tangent.run_job") and message.args == (42,)
    assert huey.pending_count() == 0


def test_sqlite_queue_in_the_instance_folder(app, tmp_path):
    settings = replace(get_settings(app), env="development", instance_path=tmp_path,
                       redis_url=None)
    host = Flask(__name__)
    huey = init_queue(host, settings)
    assert isinstance(huey, SqliteHuey) and not huey.immediate
    assert (tmp_path / QUEUE_FILE).exists()
    roundtrip(huey, host)


def test_redis_queue_when_configured(app, tmp_path, redis_url):
    settings = replace(get_settings(app), env="development", instance_path=tmp_path,
                       redis_url=redis_url)
    host = Flask(__name__)
    huey = init_queue(host, settings)
    assert isinstance(huey, RedisHuey)
    # A queue of its own, so parallel runs on one Redis do not see each other's messages.
    huey.storage.queue_key = f"tangent-test-{uuid.uuid4().hex}"
    try:
        roundtrip(huey, host)
    finally:
        huey.storage.conn.delete(huey.storage.queue_key)
