"""Migrations on SQLite and PostgreSQL: up, down, up again; models match head; constraints live.

PostgreSQL runs in a throw-away schema, so the session database (schema
``public``) is left alone.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import CheckConstraint, create_engine, inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from webapp import create_app
from webapp.database import current_revisions, head_revisions
from webapp.extensions import db
from webapp.models.audit import install_append_only_guard, remove_append_only_guard

TABLES = {"user", "audit_event", "security_event"}
CREATED = "2026-01-01 00:00:00"


def _revisions_in_order() -> list[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from webapp.database import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    scripts = ScriptDirectory.from_config(config).walk_revisions()  # newest first
    return [script.revision for script in reversed(list(scripts))]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def migration_app(request, tmp_path_factory, app_settings) -> Iterator[Flask]:
    """An app on an empty database of the given backend."""
    cleanup = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'migrate.db'}"
    else:
        base = request.getfixturevalue("postgres_url")
        schema = f"tangent_migtest_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def cleanup():
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    app = create_app(app_settings(database_url=url))
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        if cleanup:
            cleanup()


def _tables(app: Flask) -> set[str]:
    with app.app_context(), db.engine.connect() as conn:
        return set(inspect(conn).get_table_names())


def _revision(app: Flask) -> set[str]:
    with app.app_context(), db.engine.connect() as conn:
        return current_revisions(conn)


@pytest.fixture
def at_head(migration_app) -> Flask:
    """The database at head, with empty tables."""
    with migration_app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            # The audit trail refuses DELETE: lifted for this one transaction, as the
            # suite's cleanup does (tests/conftest.py).
            remove_append_only_guard(conn)
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            install_append_only_guard(conn)
    return migration_app


def test_upgrade_from_empty_downgrade_to_base_and_upgrade_again(migration_app):
    app = migration_app
    assert _tables(app) - {"alembic_version"} == set()

    with app.app_context():
        upgrade()
    assert _tables(app) >= TABLES
    assert _revision(app) == set(head_revisions())

    with app.app_context():
        downgrade(revision="base")
    assert _tables(app) - {"alembic_version"} == set()
    assert _revision(app) == set()

    with app.app_context():
        upgrade()
    assert _tables(app) >= TABLES
    assert _revision(app) == set(head_revisions())


def test_each_revision_steps_up_and_down_keeping_data(migration_app):
    """Every step runs on a database holding rows, and none of them is lost.

    On SQLite, batch migrations rebuild tables; with foreign keys on, dropping
    the old ``user`` table would null every reference to it.
    """
    app = migration_app
    revisions = _revisions_in_order()
    with app.app_context():
        downgrade(revision="base")
        upgrade(revision=revisions[0])
        with db.engine.begin() as conn:
            conn.execute(text(
                'INSERT INTO "user" (id, email, display_name, role, status, password_hash,'
                " session_version, version, created_at, updated_at)"
                " VALUES (1, 'ada@example.org', 'Ada', 'admin', 'active', 'x', 1, 1,"
                f" '{CREATED}', '{CREATED}')"
            ))
            conn.execute(text(
                "INSERT INTO audit_event (created_at, actor_id, action, target_type, target_id,"
                f" delta) VALUES ('{CREATED}', 1, 'user.create', 'user', 1, '{{}}')"
            ))
        for revision in revisions[1:]:
            upgrade(revision=revision)
            assert _revision(app) == {revision}
            _assert_rows_intact()
        for revision in reversed(revisions[:-1]):
            downgrade(revision=revision)
            assert _revision(app) == {revision}
            _assert_rows_intact()
        upgrade()


def _assert_rows_intact() -> None:
    with db.engine.connect() as conn:
        assert conn.execute(text('SELECT email FROM "user"')).scalars().all() == [
            "ada@example.org"
        ]
        assert conn.execute(text("SELECT actor_id FROM audit_event")).scalars().all() == [1]


def test_autogenerate_finds_no_difference_from_the_models(at_head):
    with at_head.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_foreign_key_has_an_explicit_on_delete(at_head):
    declared = [
        (table.name, fk.parent.name)
        for table in db.metadata.sorted_tables
        for fk in table.foreign_keys
        if not fk.ondelete
    ]
    assert declared == []
    with at_head.app_context(), db.engine.connect() as conn:
        inspector = inspect(conn)
        live = {
            (table, tuple(fk["constrained_columns"])): (fk["options"] or {}).get("ondelete")
            for table in TABLES
            for fk in inspector.get_foreign_keys(table)
        }
    assert live, "no foreign keys reflected"
    assert {key: value for key, value in live.items() if not value} == {}


def test_every_check_constraint_exists_in_the_database(at_head):
    with at_head.app_context(), db.engine.connect() as conn:
        inspector = inspect(conn)
        for table in db.metadata.sorted_tables:
            declared = {
                c.name for c in table.constraints if isinstance(c, CheckConstraint)
            }
            live = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert declared <= live, f"{table.name}: missing {declared - live}"


def _insert_user(conn, **values) -> None:
    row = {"email": "ada@example.org", "role": "learner", "status": "active",
           "session_version": 1, **values}
    conn.execute(
        text(
            'INSERT INTO "user" (email, display_name, role, status, password_hash,'
            " session_version, version, created_at, updated_at)"
            " VALUES (:email, 'Ada', :role, :status, 'x', :session_version, 1,"
            f" '{CREATED}', '{CREATED}')"
        ),
        row,
    )


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"role": "superuser"}, "ck_user_role"),
        ({"status": "frozen"}, "ck_user_status"),
        ({"session_version": 0}, "ck_user_session_version_positive"),
        ({"email": "Bob@Example.org"}, "ck_user_email_lowercase"),
    ],
)
def test_user_check_constraints_are_enforced(at_head, values, constraint):
    with at_head.app_context(), db.engine.connect() as conn:
        _insert_user(conn)  # a valid row goes in
        with pytest.raises(IntegrityError, match=rf"(?i)check constraint.*\b{constraint}\b"):
            _insert_user(conn, **{"email": "bob@example.org", **values})
        conn.rollback()


def test_security_event_kind_is_constrained(at_head):
    with at_head.app_context(), db.engine.connect() as conn:
        with pytest.raises(IntegrityError, match=r"(?i)check constraint.*ck_security_event_kind"):
            conn.execute(text(
                "INSERT INTO security_event (created_at, kind, detail)"
                f" VALUES ('{CREATED}', 'bogus', '{{}}')"
            ))
        conn.rollback()


def test_foreign_keys_are_enforced(at_head):
    with at_head.app_context(), db.engine.connect() as conn:
        with pytest.raises(IntegrityError):
            conn.execute(text(
                "INSERT INTO audit_event (created_at, actor_id, action, target_type, delta)"
                f" VALUES ('{CREATED}', 999, 'x', 'user', '{{}}')"
            ))
        conn.rollback()


def test_quiz_policy_migration_makes_existing_quizzes_graded_and_keeps_scores(migration_app):
    """0009: quizzes that existed become graded, feedback after submit, all or nothing
    (certificates depend on them); whole-point scores stay; fractions round down going
    back."""
    revisions = _revisions_in_order()
    before = revisions[revisions.index("0009_quiz_policy") - 1]
    with migration_app.app_context():
        downgrade(revision="base")
        upgrade(revision=before)
        with db.engine.begin() as conn:
            conn.execute(text(
                'INSERT INTO "user" (id, email, display_name, role, status, password_hash,'
                " session_version, version, created_at, updated_at) VALUES (1,"
                f" 'ada@example.org', 'Ada', 'learner', 'active', 'x', 1, 1, '{CREATED}',"
                f" '{CREATED}')"))
            conn.execute(text(
                "INSERT INTO course (id, slug, title, summary, status, level,"
                " estimated_minutes, version, created_at, updated_at) VALUES (1, 'c', 'C', '',"
                f" 'draft', 'beginner', 0, 1, '{CREATED}', '{CREATED}')"))
            conn.execute(text(
                "INSERT INTO module (id, course_id, position, title) VALUES (1, 1, 1, 'M')"))
            conn.execute(text(
                "INSERT INTO quiz (id, course_id, module_id, key, title, description,"
                " pass_percent, max_attempts) VALUES (1, 1, 1, 'q', 'Q', '', 70, 2)"))
            conn.execute(text(
                "INSERT INTO question (id, quiz_id, position, kind, prompt, explanation,"
                " points, tolerance) VALUES (1, 1, 1, 'short_text', 'Q?', '', 3, 0)"))
            conn.execute(text(
                "INSERT INTO attempt (id, user_id, quiz_id, number, status, started_at,"
                " submitted_at, score, max_score, passed) VALUES (1, 1, 1, 1, 'submitted',"
                f" '{CREATED}', '{CREATED}', 3, 3, true)"))
            conn.execute(text(
                "INSERT INTO answer (id, attempt_id, question_id, is_correct, points)"
                " VALUES (1, 1, 1, true, 3)"))
        upgrade(revision="0009_quiz_policy")
        with db.engine.begin() as conn:
            assert conn.execute(text(
                "SELECT mode, feedback, scoring FROM quiz")).one() == (
                "graded", "after_submit", "all_or_nothing")
            assert conn.execute(text("SELECT score FROM attempt")).scalar_one() == 3
            conn.execute(text("UPDATE attempt SET score = 2.66"))
            conn.execute(text("UPDATE answer SET points = 2.66"))
            assert str(conn.execute(text("SELECT points FROM answer")).scalar_one()) == "2.66"
        downgrade(revision=before)
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT score FROM attempt")).scalar_one() == 2
            assert conn.execute(text("SELECT points FROM answer")).scalar_one() == 2
        upgrade()


def _audit_row(conn) -> None:
    conn.execute(text(
        'INSERT INTO "user" (id, email, display_name, role, status, password_hash,'
        " session_version, version, created_at, updated_at, focus_mode, status_reason)"
        " VALUES (1, 'ada@example.org', 'Ada', 'admin', 'active', 'x', 1, 1,"
        f" '{CREATED}', '{CREATED}', false, '')"))
    conn.execute(text(
        "INSERT INTO audit_event (created_at, actor_id, action, target_type, target_id,"
        f" delta) VALUES ('{CREATED}', 1, 'user.create', 'user', 1, '{{}}')"))


@pytest.mark.parametrize("statement", [
    "UPDATE audit_event SET action = 'forged'",
    "UPDATE audit_event SET actor_id = NULL",
    "DELETE FROM audit_event",
    "DELETE FROM audit_event WHERE action = 'user.create'",
    # ON DELETE SET NULL on audit_event.actor_id would rewrite the row: refused too.
    'DELETE FROM "user"',
])
def test_the_database_refuses_to_change_audit_rows(at_head, statement):
    with at_head.app_context():
        with db.engine.begin() as conn:
            _audit_row(conn)
        with db.engine.connect() as conn:
            with pytest.raises(DBAPIError, match="audit_event is append-only"):
                conn.execute(text(statement))
            conn.rollback()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT action, actor_id FROM audit_event")).all() == [
                ("user.create", 1)]
            # Appending is still allowed.
            conn.execute(text(
                "INSERT INTO audit_event (created_at, actor_id, action, target_type, delta)"
                f" VALUES ('{CREATED}', 1, 'user.update', 'user', '{{}}')"))
            conn.commit()


def test_downgrading_0015_lifts_the_guard_and_upgrading_restores_it(at_head):
    with at_head.app_context():
        with db.engine.begin() as conn:
            _audit_row(conn)
        downgrade(revision="0015_admin_console-1")
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET action = 'allowed before 0015'"))
        upgrade()
        with db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("DELETE FROM audit_event"))
