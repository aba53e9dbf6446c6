"""SQLite connection set-up, BEGIN modes, transient-error retries and their classification."""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from contextlib import nullcontext
from dataclasses import replace

import psycopg.errors
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from webapp.database import (
    configure_engine,
    engine_options,
    is_transient,
    read_only_transactions,
    reset_begin_mode,
    run_in_transaction,
    set_read_only,
)
from webapp.extensions import db
from webapp.settings import Settings


@pytest.fixture
def sqlite_engine(tmp_path):
    """An engine configured exactly like the app's, on a file of its own."""
    engines = []

    def build(busy_timeout_ms: int = 10_000):
        settings = replace(Settings(), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
                           sqlite_busy_timeout_ms=busy_timeout_ms)
        engine = create_engine(settings.database_url, **engine_options(settings))
        configure_engine(engine, settings)
        engines.append(engine)
        return engine

    yield build
    for engine in engines:
        engine.dispose()


def _pragmas(connection) -> dict[str, object]:
    return {
        name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
        for name in ("foreign_keys", "journal_mode", "busy_timeout", "synchronous")
    }


def test_sqlite_connections_are_configured(sqlite_engine):
    with sqlite_engine().connect() as conn:
        pragmas = _pragmas(conn)
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 10_000,
                       "synchronous": 1}


def test_the_app_engine_is_configured(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite pragmas; this run uses PostgreSQL")
        with db.engine.connect() as conn:
            pragmas = _pragmas(conn)
    assert pragmas["foreign_keys"] == 1
    assert pragmas["journal_mode"] == "wal"
    assert pragmas["busy_timeout"] >= 5000
    assert pragmas["synchronous"] == 1


def test_postgres_engine_options_come_from_settings():
    settings = replace(Settings(), database_url="postgresql+psycopg://u@h/d", db_pool_size=7,
                       db_pool_timeout=9, db_pool_pre_ping=False)
    options = engine_options(settings)
    assert (options["pool_size"], options["pool_timeout"], options["pool_pre_ping"]) == (
        7, 9, False,
    )


def _counter_table(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))


def _read_then_write_concurrently(engine, *, read_only: bool):
    """Two threads each read the counter and write it back plus one.

    The first holds its transaction open until the second has read (or 0.5 s
    have passed, if the second cannot even begin).
    """
    first_has_read = threading.Event()
    second_has_read = threading.Event()
    outcomes: dict[str, object] = {}

    def unit(name: str, before_read: threading.Event | None, after_read: threading.Event,
             wait_for: threading.Event | None) -> None:
        try:
            with read_only_transactions() if read_only else nullcontext():
                if before_read is not None:
                    before_read.wait(5)
                with engine.connect() as conn, conn.begin():
                    value = conn.execute(text("SELECT n FROM counter")).scalar_one()
                    after_read.set()
                    if wait_for is not None:
                        outcomes["overlapped"] = wait_for.wait(0.5)
                    conn.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
            outcomes[name] = "ok"
        except OperationalError as exc:
            outcomes[name] = exc

    threads = [
        threading.Thread(target=unit, args=("first", None, first_has_read, second_has_read)),
        threading.Thread(target=unit, args=("second", first_has_read, second_has_read, None)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    with engine.connect() as conn:
        final = conn.execute(text("SELECT n FROM counter")).scalar_one()
    return outcomes, final


def test_concurrent_read_then_write_units_both_succeed(sqlite_engine):
    engine = sqlite_engine()
    _counter_table(engine)

    outcomes, final = _read_then_write_concurrently(engine, read_only=False)

    # BEGIN IMMEDIATE: the second waited for the first instead of failing, and
    # read the first one's write (no lost update).
    assert outcomes["first"] == "ok"
    assert outcomes["second"] == "ok"
    assert outcomes["overlapped"] is False
    assert final == 2


def test_read_only_transactions_begin_deferred(sqlite_engine):
    engine = sqlite_engine()
    _counter_table(engine)

    outcomes, final = _read_then_write_concurrently(engine, read_only=True)

    # BEGIN DEFERRED: both read at once (readers never wait), so one of the two
    # later writes cannot be applied: which is why writes must not use it.
    assert outcomes["overlapped"] is True
    failures = [o for o in (outcomes["first"], outcomes["second"]) if o != "ok"]
    assert len(failures) == 1
    assert "database is locked" in str(failures[0])
    assert is_transient(failures[0])
    assert final == 1


def test_set_read_only_token_restores_the_mode(sqlite_engine):
    engine = sqlite_engine()
    _counter_table(engine)
    holder = engine.connect()
    holder.begin()  # BEGIN IMMEDIATE: holds the write lock
    fast = sqlite_engine(busy_timeout_ms=100)
    try:
        token = set_read_only(True)
        try:
            with fast.connect() as conn, conn.begin():
                assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 0
        finally:
            reset_begin_mode(token)
        with pytest.raises(OperationalError, match="database is locked"), fast.connect() as conn:
            conn.begin()
    finally:
        holder.rollback()
        holder.close()


# --- run_in_transaction --------------------------------------------------------


def _items_table(engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT NOT NULL)"))


def _names(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT name FROM item ORDER BY id")).scalars())


def test_run_in_transaction_retries_while_sqlite_is_busy(sqlite_engine, tmp_path, caplog):
    engine = sqlite_engine(busy_timeout_ms=100)
    _items_table(engine)
    blocker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    calls = []

    def work():
        calls.append(1)
        if len(calls) == 2:
            blocker.execute("ROLLBACK")  # the other writer finishes
        session.execute(text("INSERT INTO item (name) VALUES ('a')"))
        return "done"

    try:
        with Session(engine) as session, caplog.at_level(logging.WARNING, "webapp.database"):
            assert run_in_transaction(session, work, base_delay=0.01) == "done"
    finally:
        blocker.close()
    assert len(calls) == 2
    assert _names(engine) == ["a"]
    assert "transient database error, retrying" in caplog.text


def test_run_in_transaction_gives_up_after_the_last_attempt(sqlite_engine, tmp_path):
    engine = sqlite_engine(busy_timeout_ms=50)
    _items_table(engine)
    blocker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    calls = []

    def work():
        calls.append(1)
        session.execute(text("INSERT INTO item (name) VALUES ('a')"))

    try:
        with Session(engine) as session, pytest.raises(OperationalError) as caught:
            run_in_transaction(session, work, attempts=3, base_delay=0.01)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(calls) == 3
    assert is_transient(caught.value)
    assert _names(engine) == []


def test_run_in_transaction_reraises_other_database_errors_after_rollback(sqlite_engine):
    engine = sqlite_engine()
    _items_table(engine)
    calls = []

    def work():
        calls.append(1)
        session.execute(text("INSERT INTO item (id, name) VALUES (1, 'first')"))
        session.execute(text("INSERT INTO item (id, name) VALUES (1, 'duplicate')"))

    with Session(engine) as session:
        with pytest.raises(IntegrityError):
            run_in_transaction(session, work, base_delay=0.01)
        assert not session.in_transaction()
    assert len(calls) == 1
    assert _names(engine) == []  # the first insert went with the rollback


def test_run_in_transaction_rolls_back_on_any_error(sqlite_engine):
    engine = sqlite_engine()
    _items_table(engine)

    def work():
        session.execute(text("INSERT INTO item (name) VALUES ('half')"))
        raise ValueError("the domain said no")

    with Session(engine) as session:
        with pytest.raises(ValueError, match="the domain said no"):
            run_in_transaction(session, work)
        assert not session.in_transaction()
        session.commit()  # a later commit must not carry the half-done work
    assert _names(engine) == []


@pytest.fixture
def pg_schema_url(postgres_url):
    """A PostgreSQL URL whose search_path is a throw-away schema."""
    schema = f"tangent_dbtest_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_run_in_transaction_retries_a_postgres_serialization_failure(pg_schema_url):
    engine = create_engine(pg_schema_url)
    try:
        _counter_table(engine)
        calls = []
        seen = []

        def work():
            calls.append(1)
            session.connection(execution_options={"isolation_level": "SERIALIZABLE"})
            value = session.execute(text("SELECT n FROM counter")).scalar_one()
            if len(calls) == 1:
                # Another serializable transaction commits a write in between.
                other = engine.connect().execution_options(isolation_level="SERIALIZABLE")
                with other, other.begin():
                    other.execute(text("UPDATE counter SET n = n + 1"))
            try:
                session.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})
            except DBAPIError as exc:
                seen.append(exc)
                raise

        with Session(engine) as session:
            run_in_transaction(session, work, base_delay=0.01)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT n FROM counter")).scalar_one() == 2
        assert len(calls) == 2
        assert [exc.orig.sqlstate for exc in seen] == ["40001"]
    finally:
        engine.dispose()


# --- is_transient ----------------------------------------------------------------


def _wrapped(orig: Exception) -> DBAPIError:
    return DBAPIError.instance("UPDATE x", {}, orig, type(orig).__mro__[1])


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database table is locked"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (sqlite3.OperationalError("no such table: item"), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed: item.id"), False),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (psycopg.errors.UndefinedTable("relation does not exist"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_is_transient_classifies_driver_errors(orig, expected):
    assert is_transient(_wrapped(orig)) is expected


def test_is_transient_ignores_non_database_errors():
    assert is_transient(ValueError("database is locked")) is False


def test_a_real_sqlite_busy_error_is_transient(sqlite_engine, tmp_path):
    engine = sqlite_engine(busy_timeout_ms=50)
    _items_table(engine)
    blocker = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OperationalError) as caught, engine.begin() as conn:
            conn.execute(text("INSERT INTO item (name) VALUES ('x')"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert caught.value.orig.sqlite_errorname.startswith("SQLITE_BUSY")
    assert is_transient(caught.value)
