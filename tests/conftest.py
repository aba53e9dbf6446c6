"""Shared fixtures: one app per test session, a clean database for every test.

The database is SQLite in a temporary folder unless ``DATABASE_URL`` names a
PostgreSQL server (CI runs the suite both ways). ``REDIS_URL``, when set, puts
the rate limiter on Redis.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp.extensions import db, limiter

TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-checks"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT_URL = "redis://127.0.0.1:6379/15"


# On PostgreSQL each test run works in its own schema, so two runs against the
# same database (two developers, CI and a developer) cannot clobber each other.
RUN_SCHEMA = f"tangent_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        if url.startswith("postgres"):
            return make_url(url).update_query_dict(
                {"options": f"-csearch_path={RUN_SCHEMA}"}
            ).render_as_string(hide_password=False)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def test_settings(tmp_path_factory, **overrides) -> dict:
    """Overrides for ``create_app`` that every test app shares."""
    settings = {
        "env": "testing",
        "secret_key": TEST_SECRET,
        "instance_path": tmp_path_factory.mktemp("instance"),
        "database_url": _database_url(tmp_path_factory),
        "redis_url": os.environ.get("REDIS_URL") or None,
        "rate_limit_key_prefix": f"tangent-test-{uuid.uuid4().hex[:8]}",
        "log_format": "text",
        "log_level": "WARNING",
    }
    settings.update(overrides)
    return settings


def reset_schema(app: Flask) -> None:
    """Drop everything and migrate an empty database to head."""
    from flask_migrate import upgrade

    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql":
            schema = _pg_schema(engine)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        else:
            db.drop_all()
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()


def _pg_schema(engine) -> str:
    options = engine.url.query.get("options", "")
    prefix = "-csearch_path="
    return options[len(prefix):] if options.startswith(prefix) else "public"


def drop_schema(app: Flask) -> None:
    """Remove this run's PostgreSQL schema (SQLite files go with the temp folder)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql" and _pg_schema(engine) != "public":
            db.session.remove()
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{_pg_schema(engine)}" CASCADE'))


test_settings.__test__ = False  # a helper, not a test, despite its name


def clean_tables(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "postgresql":
                quoted = ", ".join(f'"{name}"' for name in tables)
                conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            else:
                for name in tables:
                    conn.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[Flask]:
    application = create_app(test_settings(tmp_path_factory))
    reset_schema(application)
    yield application
    drop_schema(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _fresh_state(request) -> Iterator[None]:
    """Every test that uses the app starts with empty tables and fresh rate limits."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        limiter.reset()
    yield
    clean_tables(application)
    with application.app_context():
        limiter.reset()


@pytest.fixture
def app_ctx(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def settings_override(app: Flask):
    """``settings_override(ai_daily_requests=1, …)`` changes the shared app's settings
    for one test; they are restored afterwards."""
    from dataclasses import replace

    from webapp.settings import get_settings

    original = get_settings(app)

    def apply(**changes) -> None:
        app.extensions["tangent.settings"] = replace(original, **changes)

    yield apply
    app.extensions["tangent.settings"] = original


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def htmx_client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    test_client.environ_base["HTTP_HX_REQUEST"] = "true"
    return test_client


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    """The CSRF token of the client's session, read from a rendered form."""
    response = client.get(path)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {path}"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str, **kwargs):
    """Sign in through the real form (CSRF included)."""
    token = csrf_token(client)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs
    )


@pytest.fixture
def query_counter(app: Flask):
    """``with query_counter() as count: ...`` then ``count.n`` is the statements executed."""

    class Count:
        n = 0

    @contextmanager
    def counting():
        count = Count()

        def _on_execute(*_args, **_kwargs):
            count.n += 1

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", _on_execute)
        try:
            yield count
        finally:
            event.remove(engine, "before_cursor_execute", _on_execute)

    return counting


def _reachable(url: str) -> str | None:
    """None when the server at ``url`` answers, else the reason it does not."""
    from sqlalchemy import create_engine

    if url.startswith("redis"):
        import redis

        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        except redis.RedisError as exc:
            return f"Redis at {url} is not reachable ({exc.__class__.__name__})"
        return None
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return None
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with this reason"
        return f"PostgreSQL at {url} is not reachable ({exc.__class__.__name__})"
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL to test against, or skip with the reason."""
    url = os.environ.get("DATABASE_URL") or os.environ.get("TEST_POSTGRES_URL") or PG_DEFAULT_URL
    if not url.startswith("postgresql"):
        url = os.environ.get("TEST_POSTGRES_URL") or PG_DEFAULT_URL
    reason = _reachable(url)
    if reason:
        pytest.skip(reason)
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL to test against, or skip with the reason."""
    url = os.environ.get("REDIS_URL") or os.environ.get("TEST_REDIS_URL") or REDIS_DEFAULT_URL
    reason = _reachable(url)
    if reason:
        pytest.skip(reason)
    return url
