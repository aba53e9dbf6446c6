"""Scheduled maintenance (``webapp.jobs.maintenance``): each task does its job, the lease
lets one of many processes run a tick, failures are recorded, and the CLI. Runs on the
session database: SQLite, or PostgreSQL when DATABASE_URL points there."""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from tests.factories import make_course
from webapp.cli import cli
from webapp.extensions import db
from webapp.jobs import maintenance
from webapp.models import AudioAsset, SecurityEvent, SiteSetting
from webapp.models.base import utcnow
from webapp.models.maintenance import MaintenanceTask
from webapp.services.audio_store import AudioStore
from webapp.settings import get_settings


def row(app, name: str) -> MaintenanceTask | None:
    with app.app_context():
        found = db.session.get(MaintenanceTask, name)
        db.session.expunge_all()
        return found


@pytest.fixture
def probe(monkeypatch):
    """Register a task "probe" whose body the test sets (``probe.body``); counts its runs."""

    class Probe:
        calls = 0
        body = staticmethod(lambda app, now: "probed")

    def run(app, now):
        Probe.calls += 1
        return Probe.body(app, now)

    monkeypatch.setitem(maintenance.TASKS, "probe", maintenance.Task(
        "probe", "Probe", "Counts its runs.", "Every minute", {"minute": "*"},
        maintenance.MINUTE, 300, run))
    return Probe


# --- the tasks --------------------------------------------------------------------------------


def test_every_task_runs_on_an_empty_site_and_records_its_run(app):
    for name, task in maintenance.TASKS.items():
        result = maintenance.run_task(app, name)
        assert (result.outcome, result.ran) == ("ok", True), (name, result.detail)
        kept = row(app, name)
        assert kept.last_outcome == "ok" and kept.last_detail == result.detail
        assert kept.run_count == 1 and kept.last_duration_ms >= 0
        assert kept.last_finished_at >= kept.last_started_at
        assert kept.lease_holder is None and kept.lease_until is None
        assert task.crontab() is not None
    assert row(app, "send_digests").last_detail == "queued 0 digest emails"


def test_every_task_is_a_periodic_huey_task(app):
    huey = app.extensions["tangent.huey"]
    names = {task.__name__ for task in huey._registry._periodic_tasks}
    assert {f"tangent.{name}" for name in maintenance.TASKS} <= names


def test_security_events_older_than_the_rule_are_purged(app):
    now = utcnow()
    with app.app_context():
        for days in (400, 300, 10):
            db.session.add(SecurityEvent(kind="login_failed", email=f"{days}@example.org",
                                         created_at=now - timedelta(days=days)))
        db.session.commit()
    result = maintenance.run_task(app, "purge_security_events", now=now)
    assert result.detail == "purged 1 security event"
    # A second run finds nothing more; a shorter rule purges more.
    assert maintenance.run_task(app, "purge_security_events", now=now,
                                forced=True).detail == "purged 0 security events"
    with app.app_context():
        db.session.add(SiteSetting(key="security_event_retention_days", value="200"))
        db.session.commit()
    maintenance.run_task(app, "purge_security_events", now=now, forced=True)
    with app.app_context():
        assert db.session.scalars(select(SecurityEvent.email)).all() == ["10@example.org"]


def _age(path, seconds: int) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def store(app):
    """The app's audio store, empty (the session's instance folder outlives each test)."""
    store = AudioStore.for_settings(get_settings(app))
    shutil.rmtree(store.root, ignore_errors=True)
    yield store
    shutil.rmtree(store.root, ignore_errors=True)


def test_orphan_audio_older_than_an_hour_is_removed_and_nothing_else(app, store):
    referenced, sha = store.write(b"referenced narration")
    orphan, _ = store.write(b"an orphan, two hours old")
    young, _ = store.write(b"an orphan being committed")
    leftover = store.root / ".incoming-abc.part"
    leftover.write_bytes(b"half")
    stranger = store.root / "notes.txt"  # not a store file: never touched
    stranger.write_bytes(b"keep")
    for path in (store.root / referenced, store.root / orphan, leftover, stranger):
        _age(path, 2 * 3600)
    with app.app_context():
        course = make_course(modules=1, lessons=1)
        db.session.add(AudioAsset(
            lesson_id=course.modules[0].lessons[0].id, lesson_version=1, voice="en",
            provider="espeak", mime_type="audio/mpeg", storage_name=referenced, sha256=sha,
            size_bytes=20, duration_ms=0, cost=Decimal(0)))
        db.session.commit()
    result = maintenance.run_task(app, "prune_audio")
    assert result.detail == "removed 2 unreferenced files (28 bytes)"
    assert (store.root / referenced).is_file() and (store.root / young).is_file()
    assert stranger.is_file()
    assert not (store.root / orphan).exists() and not leftover.exists()


def test_an_old_file_reused_by_a_new_narration_becomes_young_again(app, store):
    name, _ = store.write(b"same words again")
    _age(store.root / name, 2 * 3600)
    assert store.write(b"same words again")[0] == name  # its row is not committed yet
    with app.app_context():
        assert store.prune_unreferenced().files == 0
    assert (store.root / name).is_file()


def test_database_upkeep_runs_on_the_dialect(app):
    result = maintenance.run_task(app, "database_upkeep")
    assert result.outcome == "ok"
    with app.app_context():
        dialect = db.engine.dialect.name
        if dialect == "sqlite":
            assert result.detail.startswith("SQLite analyzed and optimized; ")
            # ANALYZE leaves its statistics table behind.
            assert db.session.scalar(text(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")) == 1
        else:
            tables = len(db.metadata.sorted_tables)
            assert result.detail == f"PostgreSQL analyzed {tables} tables"
            assert db.session.scalar(text(
                "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'user' "
                "AND schemaname = current_schema()")) is not None


# --- the lease --------------------------------------------------------------------------------


def test_two_processes_firing_the_same_tick_run_it_once(app, probe):
    release = threading.Event()
    probe.body = staticmethod(lambda app, now: "probed" if release.wait(20) else "timeout")
    tick = utcnow()
    results: list[maintenance.RunResult] = []
    start = threading.Barrier(2)

    def fire() -> None:
        start.wait(10)
        results.append(maintenance.run_task(app, "probe", now=tick))

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while not results and time.monotonic() < deadline:
        time.sleep(0.01)  # the skipped one returns while the other is still running
    try:
        assert [r.outcome for r in results] == ["skipped"]
        assert results[0].detail in (maintenance.RUNNING_ELSEWHERE, maintenance.ALREADY_RAN)
    finally:
        release.set()
        for thread in threads:
            thread.join(20)
    assert sorted(r.outcome for r in results) == ["ok", "skipped"]
    assert probe.calls == 1
    kept = row(app, "probe")
    assert (kept.run_count, kept.last_outcome, kept.last_detail) == (1, "ok", "probed")


def test_a_late_tick_skips_and_keeps_the_last_real_run(app, probe):
    tick = utcnow()
    assert maintenance.run_task(app, "probe", now=tick).outcome == "ok"
    late = maintenance.run_task(app, "probe", now=tick + timedelta(seconds=20))
    assert (late.outcome, late.ran, late.detail) == ("skipped", False, maintenance.ALREADY_RAN)
    kept = row(app, "probe")
    assert (kept.run_count, kept.last_outcome, kept.last_started_at) == (1, "ok", tick)
    # The next minute runs again; "Run now" (forced) runs within the period too.
    assert maintenance.run_task(app, "probe", now=tick + timedelta(seconds=60)).ran
    assert maintenance.run_task(app, "probe", now=tick + timedelta(seconds=61), forced=True).ran
    assert probe.calls == 3


def test_a_running_task_is_never_run_beside_itself_even_forced(app, probe):
    tick = utcnow()
    with app.app_context():
        db.session.add(MaintenanceTask(name="probe", run_count=4, lease_holder="elsewhere:1:x",
                                       lease_until=tick + timedelta(minutes=3),
                                       last_started_at=tick - timedelta(minutes=2)))
        db.session.commit()
    result = maintenance.run_task(app, "probe", now=tick, forced=True)
    assert (result.outcome, result.detail) == ("skipped", maintenance.RUNNING_ELSEWHERE)
    assert probe.calls == 0
    # A holder that died: its lease runs out, and the next tick takes the task over.
    result = maintenance.run_task(app, "probe", now=tick + timedelta(minutes=4))
    assert result.outcome == "ok" and probe.calls == 1
    assert row(app, "probe").run_count == 5


def test_a_failing_task_is_recorded_and_the_next_run_works(app, probe):
    def boom(app, now):
        raise RuntimeError("disk full\nsecond line of the error")

    probe.body = staticmethod(boom)
    tick = utcnow()
    result = maintenance.run_task(app, "probe", now=tick)
    assert (result.outcome, result.detail) == ("failed", "RuntimeError: disk full")
    kept = row(app, "probe")
    assert (kept.last_outcome, kept.last_detail, kept.lease_until) == (
        "failed", "RuntimeError: disk full", None)
    probe.body = staticmethod(lambda app, now: "fine again")
    assert maintenance.run_task(app, "probe", now=tick + timedelta(minutes=1)).outcome == "ok"
    kept = row(app, "probe")
    assert (kept.last_outcome, kept.last_detail, kept.run_count) == ("ok", "fine again", 2)


def test_a_failing_periodic_task_does_not_raise_into_the_consumer(app, probe):
    probe.body = staticmethod(lambda app, now: 1 / 0)
    result = maintenance.run_task(app, "probe")
    assert result.outcome == "failed" and result.detail == "ZeroDivisionError: division by zero"


def test_unknown_task_names_are_refused(app):
    with pytest.raises(maintenance.UnknownTask, match="No maintenance task is named 'nope'"):
        maintenance.run_task(app, "nope")


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, list(args))


def test_cli_lists_every_task_with_its_last_run(app, run):
    maintenance.run_task(app, "purge_notifications")
    result = run("maintenance", "list")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(maintenance.TASKS)
    [purge] = [line for line in lines if line.startswith("purge_notifications")]
    assert "Daily at 03:30 UTC" in purge and ": ok (purged 0 notifications)" in purge
    assert "never run" in lines[0]


def test_cli_runs_a_task_once_per_period_unless_forced(app, run):
    first = run("maintenance", "run", "purge_security_events")
    assert first.exit_code == 0 and "purge_security_events: ok, purged 0" in first.output
    again = run("maintenance", "run", "purge_security_events")
    assert again.exit_code == 0
    assert "skipped, already ran in this period (--force runs it again)" in again.output
    forced = run("maintenance", "run", "--force", "purge_security_events")
    assert forced.exit_code == 0 and ": ok," in forced.output
    assert row(app, "purge_security_events").run_count == 2


def test_cli_bad_name_is_a_clear_error(app, run):
    result = run("maintenance", "run", "vacuum_everything")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "No maintenance task is named 'vacuum_everything'; the tasks are: recover_jobs" \
        in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MaintenanceTask)) == 0


def test_cli_run_of_a_failing_task_exits_1(app, run, probe):
    probe.body = staticmethod(lambda app, now: 1 / 0)
    result = run("maintenance", "run", "probe")
    assert result.exit_code == 1
    assert "probe failed: ZeroDivisionError: division by zero" in result.output
