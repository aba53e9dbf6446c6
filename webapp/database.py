"""Engine set-up per backend, the transient-error retry helper and schema revision checks."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from webapp.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLite transactions take the write lock up front (BEGIN IMMEDIATE) so that
# concurrent writers queue on busy_timeout instead of failing when a read lock
# cannot be upgraded. Safe requests (GET/HEAD) only read and use BEGIN DEFERRED
# so that readers never wait for writers.
_sqlite_begin: ContextVar[str] = ContextVar("sqlite_begin", default="IMMEDIATE")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


@contextmanager
def read_only_transactions() -> Iterator[None]:
    """Within this block, SQLite transactions begin DEFERRED (reads only)."""
    token = _sqlite_begin.set("DEFERRED")
    try:
        yield
    finally:
        _sqlite_begin.reset(token)


def set_read_only(read_only: bool) -> object:
    """Set the begin mode for the current context; returns a token for ``reset_begin_mode``."""
    return _sqlite_begin.set("DEFERRED" if read_only else "IMMEDIATE")


def reset_begin_mode(token: object) -> None:
    _sqlite_begin.reset(token)  # type: ignore[arg-type]


def engine_options(settings: Settings) -> dict:
    """SQLALCHEMY_ENGINE_OPTIONS for the configured backend."""
    if settings.is_sqlite:
        return {"connect_args": {"timeout": settings.sqlite_busy_timeout_ms / 1000}}
    return {
        "pool_size": settings.db_pool_size,
        "pool_timeout": settings.db_pool_timeout,
        "pool_pre_ping": settings.db_pool_pre_ping,
        "pool_recycle": 1800,
        "connect_args": {"connect_timeout": 5},
    }


def configure_engine(engine: Engine, settings: Settings) -> None:
    """Install per-connection pragmas and the BEGIN mode on a SQLite engine."""
    if engine.dialect.name != "sqlite":
        return
    busy_ms = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own
        # implicit BEGIN would be DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql(f"BEGIN {_sqlite_begin.get()}")


_PG_TRANSIENT = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_transient(exc: BaseException) -> bool:
    """True for errors where running the same unit of work again may succeed."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        name = getattr(orig, "sqlite_errorname", "") or ""
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(orig)
    sqlstate = getattr(orig, "sqlstate", None)
    return sqlstate in _PG_TRANSIENT


def run_in_transaction(
    session, work: Callable[[], T], *, attempts: int = 5, base_delay: float = 0.05
) -> T:
    """Run ``work()`` and commit; on a transient error roll back and run it all again.

    ``work`` must do the whole unit (load, decide, write) so that a retry sees
    fresh data. Any other error (a domain error, a stale version …) is
    re-raised after the rollback, so the session is never left half-written.
    """
    for attempt in range(1, attempts + 1):
        try:
            result = work()
            session.commit()
            return result
        except DBAPIError as exc:
            session.rollback()
            if not is_transient(exc) or attempt == attempts:
                raise
        except BaseException:
            session.rollback()
            raise
        delay = base_delay * (2 ** (attempt - 1)) * (0.5 + random.random())  # noqa: S311
        log.warning("transient database error, retrying", extra={"attempt": attempt})
        time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The head revision(s) of the migration scripts shipped with this code (read once)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return frozenset(ScriptDirectory.from_config(config).get_heads())


def current_revisions(connection) -> set[str]:
    """Revision(s) recorded in the database; empty when it was never migrated."""
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except (OperationalError, DBAPIError) as exc:
        if _is_missing_table(exc):
            return set()
        raise
    return {row[0] for row in rows}


def _is_missing_table(exc: DBAPIError) -> bool:
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "no such table" in str(orig)
    return getattr(orig, "sqlstate", None) == "42P01"  # undefined_table
