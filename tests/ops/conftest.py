"""Fixtures for the backup tests: an empty database to restore into, of the same kind as
the app's."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url


@pytest.fixture
def empty_database(tmp_path) -> Iterator[Callable[[Engine], str]]:
    """``empty_database(engine)``: the URL of a new, empty database like ``engine``'s (a
    SQLite file under ``tmp_path``; on PostgreSQL a new database on the same server whose
    search path is the same schema, dropped after the test)."""
    created: list[tuple[str, str]] = []

    def make(engine: Engine) -> str:
        if engine.dialect.name == "sqlite":
            return f"sqlite:///{tmp_path / f'restored-{uuid.uuid4().hex[:6]}.db'}"
        name = f"tangent_restore_{uuid.uuid4().hex[:10]}"
        admin = engine.url.set(query={})
        admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            with admin_engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin_engine.dispose()
        created.append((admin.render_as_string(hide_password=False), name))
        return engine.url.set(database=name).render_as_string(hide_password=False)

    yield make
    for admin, name in created:
        admin_engine = create_engine(make_url(admin), isolation_level="AUTOCOMMIT")
        try:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            admin_engine.dispose()
