"""Fixtures for HTTP tests that need an app configured differently from the shared one.

Extra apps share the session app's database (cleaned after every test by the
root conftest) unless a test gives them their own; each has its own limiter.
Like the session app, they are per xdist worker (made from ``app_settings``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from flask_limiter import Limiter
from sqlalchemy import create_engine

from tests.factories import DEFAULT_PASSWORD
from webapp import create_app, htmx
from webapp.extensions import db
from webapp.models import AuditEvent, User
from webapp.services.exceptions import PermissionDenied

UNREACHABLE_URLS = {
    "postgresql-closed-port": "postgresql+psycopg://postgres@127.0.0.1:1/test",
    "sqlite-missing-folder": "sqlite:////nonexistent-tangent-folder/sub/test.db",
}
def app_limiter(application: Flask) -> Limiter:
    return application.extensions["tangent.limiter"]


def _reset_limits(application: Flask) -> None:
    with application.app_context():
        app_limiter(application).reset()


@pytest.fixture(scope="session")
def reset_limits() -> Callable[[Flask], None]:
    """``reset_limits(app)``: clear the rate-limit counters of an extra app."""
    return _reset_limits


@pytest.fixture(scope="session")
def on_postgres(app: Flask) -> bool:
    """Whether the suite runs on PostgreSQL (``DATABASE_URL``) rather than SQLite."""
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgres")


def add_test_routes(application: Flask) -> None:
    """Routes that fail in the ways real views can, to exercise the error handlers."""

    @application.get("/_test/forbidden")
    def _forbidden():
        raise PermissionDenied("Only the course owner can do that.")

    @application.get("/_test/abort/<int:code>")
    def _abort(code: int):
        abort(code)

    @application.get("/_test/boom")
    def _boom():
        raise RuntimeError("internal detail: secret-token-abc123")

    @application.get("/_test/unique")
    def _unique():
        for _ in range(2):
            db.session.add(User(email="twice@example.org", display_name="Twice",
                                password_hash="x"))
        db.session.flush()
        return "unreachable"

    @application.get("/_test/foreign-key")
    def _foreign_key():
        db.session.add(AuditEvent(actor_id=987_654_321, action="test", target_type="user",
                                  delta={}))
        db.session.flush()
        return "unreachable"

    @application.get("/_test/check")
    def _check():
        db.session.add(User(email="wizard@example.org", display_name="Wizard",
                            password_hash="x", role="wizard"))
        db.session.flush()
        return "unreachable"

    @application.get("/_test/unreachable")
    def _unreachable():
        engine = create_engine(UNREACHABLE_URLS["sqlite-missing-folder"])
        try:
            with engine.connect():
                return "unreachable"
        finally:
            engine.dispose()

    @application.get("/_test/render")
    def _render():
        return htmx.render("errors/page.html", "errors/_error.html",
                           status=200, title="Rendered", message="page or fragment")

    @application.get("/_test/redirect")
    def _redirect():
        return htmx.redirect("/courses/")

    @application.get("/_test/fragment")
    def _fragment():
        return htmx.render("errors/_error.html", status_code=201,
                           status=201, title="Fragment", message="always the fragment")

    @application.get("/_test/partial-or-redirect")
    def _partial_or_redirect():
        return htmx.partial_or_redirect("errors/_error.html", "/courses/",
                                        status=200, title="Done", message="partial")


@pytest.fixture(scope="session")
def sign_in(login, csrf_token) -> Callable[[FlaskClient, str], str]:
    """``sign_in(client, email)``: sign in with the default password (asserting it worked)
    and return a CSRF token of the new session."""

    def sign_in_(client: FlaskClient, email: str) -> str:
        response = login(client, email, DEFAULT_PASSWORD)
        assert response.status_code == 303
        return csrf_token(client, "/account/")

    return sign_in_


@pytest.fixture(scope="session")
def make_app(app: Flask, app_settings) -> Iterator[Callable[..., Flask]]:
    """``make_app(**settings)``: a new app on the shared database (unless told otherwise)."""
    created: list[Flask] = []

    def factory(*, routes: bool = False, **overrides) -> Flask:
        overrides.setdefault("database_url", app.config["SQLALCHEMY_DATABASE_URI"])
        application = create_app(app_settings(**overrides))
        if routes:
            add_test_routes(application)
        created.append(application)
        _reset_limits(application)
        return application

    yield factory
    for application in created:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="session")
def _lab_app(make_app) -> Flask:
    return make_app(routes=True, rate_limit="5 per minute", max_content_length=2048)


@pytest.fixture
def lab_app(_lab_app: Flask) -> Flask:
    """Small limits (5 requests a minute, 2 KiB bodies) and the failing test routes."""
    _reset_limits(_lab_app)
    return _lab_app


@pytest.fixture
def lab_client(lab_app: Flask):
    return lab_app.test_client()


@pytest.fixture(scope="session")
def _https_app(make_app) -> Flask:
    return make_app(https=True)


@pytest.fixture
def https_app(_https_app: Flask) -> Flask:
    _reset_limits(_https_app)
    return _https_app


@pytest.fixture(scope="session")
def _proxy_app(make_app) -> Flask:
    return make_app(trusted_proxies=1, rate_limit="5 per minute")


@pytest.fixture
def proxy_app(_proxy_app: Flask) -> Flask:
    _reset_limits(_proxy_app)
    return _proxy_app


@pytest.fixture(params=sorted(UNREACHABLE_URLS))
def down_app(request, make_app) -> Flask:
    """An app whose database cannot be reached."""
    return make_app(database_url=UNREACHABLE_URLS[request.param])


@pytest.fixture
def json_logs(make_app) -> Callable[..., AbstractContextManager[tuple[Flask, io.StringIO]]]:
    """``with json_logs(**settings) as (app, stream)``: a new app logging JSON lines at
    INFO into ``stream``. Logging is process-wide: the previous app's handler and levels
    come back after."""
    return partial(_json_logs, make_app)


@contextmanager
def _json_logs(make_app, **overrides) -> Iterator[tuple[Flask, io.StringIO]]:
    root = logging.getLogger()
    webapp_logger = logging.getLogger("webapp")
    before = [h for h in root.handlers if getattr(h, "_tangent", False)]
    levels = (root.level, webapp_logger.level)
    application = make_app(log_format="json", log_level="INFO", **overrides)
    (handler,) = [h for h in root.handlers if getattr(h, "_tangent", False)]
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        yield application, stream
    finally:
        root.removeHandler(handler)
        for previous in before:
            root.addHandler(previous)
        root.setLevel(levels[0])
        webapp_logger.setLevel(levels[1])
