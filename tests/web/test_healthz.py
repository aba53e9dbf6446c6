"""GET /healthz: 200 when the database answers and is at the head revision, else 503."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, text

from webapp.extensions import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def head() -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return sorted(ScriptDirectory.from_config(config).get_heads())


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json["status"] == "ok"
    assert response.json["database"] == "ok"
    assert response.json["revision"] == head()
    assert response.json["head"] == head()


@pytest.fixture
def own_database(app, tmp_path, on_postgres) -> Iterator[str]:
    """A URL for an empty database of the backend under test, dropped afterwards."""
    if not on_postgres:
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    base = app.config["SQLALCHEMY_DATABASE_URI"]
    schema = f"healthz_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.mark.parametrize("stamped", [None, "0000_older"], ids=["never-migrated", "older"])
def test_database_behind_head_is_unhealthy(make_app, own_database, stamped):
    behind = make_app(database_url=own_database)
    if stamped:
        with behind.app_context(), db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": stamped})
    try:
        response = behind.test_client().get("/healthz")
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) > 0
        assert response.json["database"] == "behind"
        assert response.json["revision"] == ([stamped] if stamped else [])
        assert response.json["head"] == head()
    finally:
        with behind.app_context():
            db.engine.dispose()
