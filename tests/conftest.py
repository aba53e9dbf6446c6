"""Shared fixtures: one app per test session, a clean database for every test.

The database is SQLite in a temporary folder unless ``DATABASE_URL`` names a
PostgreSQL server (CI runs the suite both ways). ``REDIS_URL``, when set, puts
the rate limiter on Redis.

The suite runs in parallel (pytest-xdist, ``-n auto`` in pyproject.toml). Each
worker is its own process with its own session app, so everything a worker
writes is its own: SQLite files and instance folders live under the worker's
``tmp_path_factory`` base, PostgreSQL tables in a schema named after the worker
and the process, Redis keys in a database number of the worker's own (the
limiter's ``reset()`` clears every ``LIMITS:*`` key of its database), and
servers listen on ephemeral ports. ``-n 0`` runs everything in one process.

Helpers that tests need are fixtures (``login``, ``csrf_token``, ``app_settings``,
``make_user``, ...); test modules do not import from conftest files.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from werkzeug.security import generate_password_hash
from werkzeug.test import TestResponse

from tests import factories
from webapp import create_app
from webapp.extensions import db, limiter
from webapp.models import Course, Quiz, User
from webapp.models.audit import install_append_only_guard, remove_append_only_guard
from webapp.services import accounts, site

TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-checks"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT_URL = "redis://127.0.0.1:6379/15"


# "gw0", "gw1", ... in an xdist worker; "main" when the suite runs in one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") else 0
# On PostgreSQL each test process works in its own schema, so two runs against the
# same database (two developers, CI and a developer) and the workers of one run
# cannot clobber each other.
RUN_SCHEMA = f"tangent_test_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
REDIS_DATABASES = 16  # Redis's default `databases`


def worker_redis_url(url: str | None) -> str | None:
    """``url`` moved to a database number of this worker's own, so one worker's limiter
    ``reset()`` cannot wipe another worker's counters: the URL's number plus the worker's
    index, or minus it when that would pass the last database (/0 gives 0, 1, ...; the
    default /15 gives 15, 14, ...)."""
    if not url or not url.startswith("redis"):
        return url
    parts = urlsplit(url)
    database = parts.path.strip("/")
    base = int(database) if database.isdigit() else 0
    number = base + WORKER_INDEX
    if number >= REDIS_DATABASES:
        number = max(base - WORKER_INDEX, 0)
    return urlunsplit(parts._replace(path=f"/{number}"))


def _database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        if url.startswith("postgres"):
            return make_url(url).update_query_dict(
                {"options": f"-csearch_path={RUN_SCHEMA}"}
            ).render_as_string(hide_password=False)
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


def _settings(tmp_path_factory, **overrides) -> dict:
    """Overrides for ``create_app`` that every test app shares."""
    settings = {
        "env": "testing",
        "secret_key": TEST_SECRET,
        "instance_path": tmp_path_factory.mktemp("instance"),
        "database_url": _database_url(tmp_path_factory),
        "redis_url": worker_redis_url(os.environ.get("REDIS_URL")) or None,
        "rate_limit_key_prefix": f"tangent-test-{uuid.uuid4().hex[:8]}",
        "log_format": "text",
        "log_level": "WARNING",
    }
    settings.update(overrides)
    return settings


def _reset_schema(app: Flask) -> None:
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


def _drop_schema(app: Flask) -> None:
    """Remove this run's PostgreSQL schema (SQLite files go with the temp folder)."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "postgresql" and _pg_schema(engine) != "public":
            db.session.remove()
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{_pg_schema(engine)}" CASCADE'))


def _clean_tables(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # Row by row: the tables hold a few rows, and on PostgreSQL DELETE beats TRUNCATE
            # (~15 vs ~130 ms a test: TRUNCATE makes new files for every table). The audit
            # trail refuses DELETE (webapp/models/audit.py): lift the guard for this
            # transaction only and put it back before it commits, with the function the
            # migration uses.
            remove_append_only_guard(conn)
            for name in tables:
                conn.execute(text(f'DELETE FROM "{name}"'))
            install_append_only_guard(conn)
            if db.engine.dialect.name == "postgresql":
                # Ids start again at 1, as on a fresh database.
                conn.execute(text(
                    "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind = 'S' "
                    "AND n.nspname = current_schema()"))


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[Flask]:
    application = create_app(_settings(tmp_path_factory))
    _reset_schema(application)
    yield application
    _drop_schema(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


# Cheaper scrypt parameters (they are stored in each hash and honoured when checking).
# The default costs ~0.1-0.4 s per hash, and tests create users and sign in a lot.
FAST_HASH = "scrypt:1024:8:1"
_FAST_DUMMY_HASH = generate_password_hash("tangent-timing-equalizer", method=FAST_HASH)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch) -> None:
    monkeypatch.setattr(accounts, "generate_password_hash",
                        partial(generate_password_hash, method=FAST_HASH))
    monkeypatch.setattr(accounts, "_DUMMY_HASH", _FAST_DUMMY_HASH)


@pytest.fixture(autouse=True)
def _fresh_state(request) -> Iterator[None]:
    """Every test that uses the app starts with empty tables and fresh rate limits."""
    if "app" not in request.fixturenames:
        yield
        return
    application = request.getfixturevalue("app")
    with application.app_context():
        limiter.reset()
    # Emptied tables change no content tag: forget the site settings cached in this process.
    site.clear_cache()
    yield
    _clean_tables(application)
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
        # On top of earlier changes (another fixture's, e.g. smtp_server's mail settings).
        app.extensions["tangent.settings"] = replace(get_settings(app), **changes)

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


@pytest.fixture(scope="session")
def app_settings(tmp_path_factory) -> Callable[..., dict]:
    """``app_settings(**overrides)``: the settings dict for ``create_app`` that every test
    app shares (this worker's temporary instance folder, database and Redis), changed by
    ``overrides``."""
    return partial(_settings, tmp_path_factory)


@pytest.fixture(scope="session")
def reset_schema() -> Callable[[Flask], None]:
    """``reset_schema(app)``: drop everything in the app's database and migrate to head."""
    return _reset_schema


def _csrf_token(client: FlaskClient, path: str = "/login") -> str:
    response = client.get(path)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no csrf_token on {path}"
    return match.group(1)


@pytest.fixture(scope="session")
def csrf_token() -> Callable[..., str]:
    """``csrf_token(client, path="/login")``: the CSRF token of the client's session,
    read from the form rendered at ``path``."""
    return _csrf_token


def _login(client: FlaskClient, email: str, password: str = factories.DEFAULT_PASSWORD,
           **kwargs):
    token = _csrf_token(client)
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs
    )


@pytest.fixture(scope="session")
def login() -> Callable[..., TestResponse]:
    """``login(client, email, password=DEFAULT_PASSWORD, **post_kwargs)``: sign in through
    the real form (CSRF included); returns the response to the POST."""
    return _login


# Test data through the real services (tests/factories.py); call them in an app context.


@pytest.fixture(scope="session")
def make_user() -> Callable[..., User]:
    """``make_user(email=None, *, password=, role="learner", status="active",
    display_name=None)``: a committed user."""
    return factories.make_user


@pytest.fixture(scope="session")
def make_course() -> Callable[..., Course]:
    """``make_course(title=None, *, modules=2, lessons=2, sections=3, owner=None,
    publish=True, quiz=False, ...)``: a committed course built through the services."""
    return factories.make_course


@pytest.fixture(scope="session")
def make_quiz() -> Callable[..., Quiz]:
    """``make_quiz(module, *, key=None, commit=True, **create_quiz_kwargs)``."""
    return factories.make_quiz


@pytest.fixture(scope="session")
def enroll() -> Callable[[User, Course], None]:
    """``enroll(user, course)``: enroll and commit."""
    return factories.enroll


@pytest.fixture(scope="session")
def make_learner() -> Callable[..., User]:
    """``make_learner(email=None, *, enrolled_in=(), **make_user_kwargs)``: a committed
    user enrolled in ``enrolled_in`` (a course or a list of them)."""
    return factories.make_learner


@pytest.fixture(scope="session")
def make_branch_course() -> Callable[..., Course]:
    """``make_branch_course(title="Bread", *, topic="Wild yeast", sections=3, owner=None)``:
    a published one-lesson course whose lesson suggests the branch ``topic``."""
    return factories.make_branch_course


@pytest.fixture(scope="session")
def section_refs() -> Callable[..., dict]:
    """``section_refs(lesson)``: ``{"sections": [ids], "keys": [keys]}`` in order."""
    return factories.section_refs


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
    url = worker_redis_url(url)
    reason = _reachable(url)
    if reason:
        pytest.skip(reason)
    return url


# --- mail: a real SMTP server on 127.0.0.1 that the app sends to -------------------------


class SmtpSink:
    """aiosmtpd handler that keeps what arrives (``messages``) or, while ``refuse_with`` is
    set ("451 …"), answers every message with that reply instead."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse_with: str | None = None

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.refuse_with:
            return self.refuse_with
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        return "250 Message accepted"

    def links(self, index: int = -1) -> list[str]:
        """The http(s) links in the plain-text part of message ``index``."""
        body = self.messages[index].get_body(("plain",)).get_content()
        return re.findall(r"https?://\S+", body)


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sink = SmtpSink()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return self.sink.messages

    def start(self) -> None:
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(app: Flask, settings_override) -> Iterator[SmtpServer]:
    """A running SMTP server the app sends all mail to (``.messages``, ``.sink.links()``,
    ``.stop()``/``.start()`` to take it down and up, ``.sink.refuse_with = "451 …"``)."""
    server = SmtpServer(_free_port())
    server.start()
    settings_override(mail_backend="smtp", mail_host="127.0.0.1", mail_port=server.port,
                      mail_security="none", mail_timeout=5)
    yield server
    server.stop()
