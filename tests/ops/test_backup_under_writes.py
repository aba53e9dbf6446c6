"""A backup taken while 20 learners are writing restores to a consistent database.

Twenty threads, each a learner with a test client of its own (its own session and
database connection), mark sections done and save their note over and over while
``create_backup`` runs. The backup is restored with the real ``tangent backup restore``
into an empty instance; there the integrity and foreign-key checks are clean, the row
counts are the manifest's, the app answers /healthz, and every write a learner had seen
confirmed before the snapshot began is there. On SQLite always; on PostgreSQL when the
suite runs on it (DATABASE_URL) and pg_dump is installed.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.processes import process_env, tangent, wait_for
from webapp import create_app
from webapp.extensions import db
from webapp.models import Note, SectionProgress, User
from webapp.services import backup
from webapp.settings import get_settings

LEARNERS = 20
SECTIONS = 6


@dataclass
class Write:
    kind: str  # "section" or "note"
    value: int  # the section id, or the note's counter
    sent: datetime
    confirmed: datetime


@dataclass
class Learner:
    email: str
    writes: list[Write] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def writing_app(request, app, app_settings, reset_schema, tmp_path):
    """The app to write to: the suite's own on its database, or a SQLite app of this
    test's own when the suite runs on PostgreSQL."""
    dialect = request.param
    with app.app_context():
        suite_dialect = db.engine.dialect.name
    if dialect == "postgresql":
        if suite_dialect != "postgresql":
            pytest.skip("the suite runs on SQLite: set DATABASE_URL to a PostgreSQL database "
                        "to test PostgreSQL backups")
        if shutil.which("pg_dump") is None:
            pytest.skip("pg_dump is not installed: PostgreSQL backups need it")
        yield app
        return
    if suite_dialect == "sqlite":
        yield app
        return
    own = create_app(app_settings(database_url=f"sqlite:///{tmp_path / 'writing.db'}",
                                  instance_path=tmp_path / "writing-instance"))
    reset_schema(own)
    yield own
    with own.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_backup_taken_while_20_learners_write_restores_consistently(
        writing_app, tmp_path, make_course, make_learner, login, csrf_token, empty_database):
    app = writing_app
    with app.app_context():
        course = make_course("Backups", modules=1, lessons=1, sections=SECTIONS)
        lesson = course.modules[0].lessons[0]
        lesson_id, section_ids = lesson.id, [s.id for s in lesson.sections]
        lesson_url = f"/courses/{course.slug}/lessons/{lesson.slug}"
        learners = [Learner(f"learner{n}@example.org") for n in range(LEARNERS)]
        for learner in learners:
            make_learner(learner.email, enrolled_in=course)
        db.session.remove()

    clients = []
    for n, learner in enumerate(learners):
        client = app.test_client()
        # Each learner from an address of its own, as in a classroom behind no NAT.
        client.environ_base["REMOTE_ADDR"] = f"127.0.1.{n + 1}"
        assert login(client, learner.email).status_code == 303
        client.environ_base["HTTP_HX_REQUEST"] = "true"
        clients.append((client, csrf_token(client, lesson_url)))

    stop = threading.Event()

    def write(learner: Learner, client, token: str) -> None:
        counter = 0
        try:
            while not stop.is_set():
                counter += 1
                sent = _now()
                if counter % 2 == 0 and counter // 2 <= SECTIONS:  # 2, 4, ...: a section
                    kind, value = "section", section_ids[counter // 2 - 1]
                    response = client.post(f"/sections/{value}/complete",
                                           headers={"X-CSRFToken": token})
                else:
                    kind, value = "note", counter
                    response = client.post(f"/lessons/{lesson_id}/note",
                                           data={"source": f"n={counter}", "overwrite": "1"},
                                           headers={"X-CSRFToken": token})
                if response.status_code >= 400:
                    learner.errors.append(f"{kind} {value}: {response.status_code}")
                    return
                learner.writes.append(Write(kind, value, sent, _now()))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            learner.errors.append(repr(exc))

    threads = [threading.Thread(target=write, args=(learner, *client), daemon=True)
               for learner, client in zip(learners, clients, strict=True)]
    for thread in threads:
        thread.start()
    try:
        # Every learner has saved a note and marked a section done before the backup.
        wait_for(lambda: all(len(learner.writes) >= 2 or learner.errors
                             for learner in learners), 30, "every learner to write")
        with app.app_context():
            settings = replace(get_settings(app), instance_path=tmp_path / "instance")
            result = backup.create_backup(settings, db.engine, tmp_path / "backups" / "b")
            db.session.remove()
        finished = _now()
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert [learner.errors for learner in learners] == [[] for _ in learners]
    snapshot = result.snapshot_started_at
    # The app really was writing while the backup ran: requests sent before it finished
    # were answered after its snapshot began.
    assert any(w.sent < finished and w.confirmed > snapshot
               for learner in learners for w in learner.writes)
    manifest = result.manifest
    assert backup.verify_backup(result.path).ok

    # Restore with the real command into an empty instance (and an empty database).
    with app.app_context():
        dialect = db.engine.dialect.name
        url = empty_database(db.engine)
    env = process_env(tmp_path / "restored")
    env["DATABASE_URL"] = url
    restored = tangent("backup", "restore", str(result.path), env=env)
    assert restored.returncode == 0, restored.stderr
    assert f"Restored {result.path}" in restored.stdout

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = manifest["row_counts"]
            counts = {name: conn.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
                      for name in tables}
            assert counts == manifest["row_counts"]
            assert counts["section_progress"] > 0 and counts["note"] > 0
            if dialect == "sqlite":
                assert conn.execute(text("PRAGMA integrity_check")).scalars().all() == ["ok"]
                assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
            else:
                # pg_restore --single-transaction added every foreign key (checking every
                # row) or failed; none is left unvalidated.
                assert conn.execute(text(
                    "SELECT count(*) FROM pg_constraint c JOIN pg_namespace n "
                    "ON n.oid = c.connamespace WHERE n.nspname = current_schema() "
                    "AND c.contype = 'f'")).scalar_one() > 0
                assert conn.execute(text(
                    "SELECT count(*) FROM pg_constraint WHERE contype = 'f' "
                    "AND NOT convalidated")).scalar_one() == 0
            for learner in learners:
                user_id = conn.scalar(select(User.id).where(User.email == learner.email))
                before = [w for w in learner.writes if w.confirmed < snapshot]
                done = set(conn.scalars(select(SectionProgress.section_id).where(
                    SectionProgress.user_id == user_id,
                    SectionProgress.status == "completed")))
                assert {w.value for w in before if w.kind == "section"} <= done
                notes = [w.value for w in before if w.kind == "note"]
                if notes:
                    source = conn.scalar(select(Note.source).where(Note.user_id == user_id))
                    # The last confirmed save before the snapshot, or a later one.
                    assert source is not None and int(source.removeprefix("n=")) >= max(notes)
            assert conn.scalar(select(func.count()).select_from(User)) == tables["user"]
    finally:
        engine.dispose()

    started = create_app({"env": "testing", "secret_key": "x" * 40, "database_url": url,
                          "instance_path": tmp_path / "restored", "log_format": "text",
                          "log_level": "WARNING"})
    try:
        response = started.test_client().get("/healthz")
        assert response.status_code == 200, response.get_data(as_text=True)
    finally:
        with started.app_context():
            db.session.remove()
            db.engine.dispose()

