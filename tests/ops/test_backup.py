"""``tangent backup``: what a backup holds, what verify catches, what restore refuses, what
--keep deletes, and clear errors for bad arguments. On whichever database the suite uses
(SQLite, or PostgreSQL with pg_dump when DATABASE_URL names one)."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from tests.processes import process_env, tangent
from webapp.cli import cli
from webapp.extensions import db
from webapp.models import User
from webapp.services import backup
from webapp.services.audio_store import AudioStore
from webapp.settings import get_settings

AUDIO = b"ID3 not really an mp3, but bytes all the same"


@pytest.fixture
def instance(app, tmp_path, make_user):
    """Settings on an instance folder of this test's own (one audio file, the files a
    backup leaves out) over the app's database with one user in it."""
    if db_dialect(app) == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed: PostgreSQL backups need it")
    folder = tmp_path / "instance"
    settings = replace(get_settings(app), instance_path=folder)
    AudioStore.for_settings(settings).write(AUDIO)
    (folder / "secret_key").write_text("not in backups\n")
    (folder / "jobs-queue.db").write_bytes(b"queue")
    (folder / "mail").mkdir()
    (folder / "mail" / "sent.eml").write_text("Subject: hi\n")
    (folder / "uploads").mkdir()
    (folder / "uploads" / "course.zip").write_bytes(b"PK")
    with app.app_context():
        make_user("ada@example.org")
    return settings


def db_dialect(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


def make_backup(app, settings, target: Path, **kwargs) -> backup.BackupResult:
    with app.app_context():
        return backup.create_backup(settings, db.engine, target, **kwargs)


def test_a_backup_holds_the_database_and_instance_files_and_verifies(app, instance, tmp_path):
    result = make_backup(app, instance, tmp_path / "backups" / "one")
    manifest = json.loads((result.path / "manifest.json").read_text())
    dialect = db_dialect(app)
    database = "database.sqlite3" if dialect == "sqlite" else "database.pgdump"
    audio = next(name for name in manifest["files"] if name.startswith("instance/audio/"))
    # The audio and uploads; never the secret key, the queue file, the mail outbox.
    assert sorted(manifest["files"]) == sorted(
        [database, audio, "instance/uploads/course.zip"])
    assert (result.path / audio).read_bytes() == AUDIO
    assert manifest["dialect"] == dialect and manifest["format_version"] == 1
    assert manifest["schema_revision"] == manifest["head_revision"]
    assert manifest["row_counts"]["user"] == 1
    assert manifest["tangent_version"] and manifest["python_version"]
    assert manifest["created_at"].endswith("Z")
    # Nothing half-written is left next to it.
    assert [p.name for p in result.path.parent.iterdir()] == ["one"]

    report = backup.verify_backup(result.path)
    assert report.ok, report.problems
    checked = "\n".join(report.checked)
    assert "3 files: sha256 and size as in the manifest" in checked
    assert "row counts of" in checked and "match the manifest" in checked
    if dialect == "sqlite":
        assert "PRAGMA integrity_check: ok" in checked
        assert "PRAGMA foreign_key_check: no broken references" in checked
    else:
        assert "pg_restore --list: the archive reads" in checked


def test_an_interrupted_backup_leaves_nothing_that_looks_complete(app, instance, tmp_path,
                                                                 monkeypatch):
    def fail(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(backup, "_copy_instance", fail)
    with pytest.raises(OSError, match="disk full"):
        make_backup(app, instance, tmp_path / "backups" / "one")
    assert list((tmp_path / "backups").iterdir()) == []


def test_verify_catches_a_changed_a_missing_and_an_extra_file(app, instance, tmp_path):
    path = make_backup(app, instance, tmp_path / "b").path
    (path / "instance" / "uploads" / "course.zip").write_bytes(b"PX")  # same size, changed
    audio = next((path / "instance" / "audio").rglob("*.mp3"))
    audio.unlink()
    (path / "instance" / "stray.txt").write_text("?")
    report = backup.verify_backup(path)
    assert sorted(report.problems) == sorted([
        "sha256 of instance/uploads/course.zip differs from the manifest (changed)",
        f"missing file: {audio.relative_to(path).as_posix()}",
        "extra file not in the manifest: instance/stray.txt",
    ])

    result = app.test_cli_runner().invoke(cli, ["backup", "verify", str(path)])
    assert result.exit_code == 1
    assert "PROBLEM: missing file" in result.output
    assert "is NOT a good backup (3 problems)" in result.output


def test_verify_catches_a_changed_database_copy(app, instance, tmp_path):
    path = make_backup(app, instance, tmp_path / "b").path
    database = next(p for p in path.iterdir() if p.name.startswith("database."))
    with database.open("ab") as handle:
        handle.write(b"\0" * 10)
    problems = backup.verify_backup(path).problems
    assert problems == [f"size of {database.name} is {database.stat().st_size}, "
                        f"the manifest says {database.stat().st_size - 10}"]


def test_verify_catches_a_bad_manifest(app, instance, tmp_path):
    path = make_backup(app, instance, tmp_path / "b").path
    manifest = path / "manifest.json"
    good = manifest.read_text()
    manifest.write_text(good[:40])
    problems = backup.verify_backup(path).problems
    assert len(problems) == 1 and problems[0].startswith("manifest.json cannot be read")
    manifest.write_text(json.dumps({"format": "something-else"}))
    assert backup.verify_backup(path).problems == [
        "manifest.json is not a Tangent backup manifest"]
    data = json.loads(good)
    data["row_counts"]["user"] = 7
    manifest.write_text(json.dumps(data))
    assert backup.verify_backup(path).problems == [
        "row count user: 1 rows, the manifest says 7"]
    manifest.unlink()
    with pytest.raises(backup.BackupError, match=r"is not a Tangent backup: it has no "
                                                 r"manifest\.json"):
        backup.verify_backup(path)


def test_restore_refuses_a_target_with_data_unless_forced(app, instance, tmp_path,
                                                          empty_database):
    path = make_backup(app, instance, tmp_path / "b").path
    with app.app_context():
        url = empty_database(db.engine)
    target = replace(instance, instance_path=tmp_path / "restored", database_url=url)
    engine = create_engine(url)
    try:
        restored = backup.restore_backup(target, engine, path)
        assert restored.revision == restored.head and not restored.behind_head
        assert restored.files == 2
        with engine.connect() as conn:
            assert conn.scalars(select(User.email)).all() == ["ada@example.org"]
        audio = next((tmp_path / "restored" / "audio").rglob("*.mp3"))
        assert audio.read_bytes() == AUDIO

        # Now it holds rows and audio: refused, and nothing changes.
        audio.write_bytes(b"mine")
        with pytest.raises(backup.BackupError) as refused:
            backup.restore_backup(target, engine, path)
        message = refused.value.message
        assert message.startswith("refusing to overwrite: the database already holds rows (")
        assert "user)" in message
        assert message.endswith(
            ") and the instance folder already has 1 audio files; restore into an empty "
            "instance, or pass --force to replace them with the backup")
        assert audio.read_bytes() == b"mine"

        backup.restore_backup(target, engine, path, force=True)
        assert audio.read_bytes() == AUDIO
        with engine.connect() as conn:
            assert conn.scalars(select(User.email)).all() == ["ada@example.org"]
    finally:
        engine.dispose()


def test_restore_refuses_a_backup_that_does_not_verify(app, instance, tmp_path):
    path = make_backup(app, instance, tmp_path / "b").path
    (path / "instance" / "uploads" / "course.zip").unlink()
    with app.app_context(), pytest.raises(backup.BackupError) as refused:
        backup.restore_backup(instance, db.engine, path, force=True)
    assert refused.value.message.endswith(
        "did not verify, nothing was restored:\n  missing file: instance/uploads/course.zip")


def test_keep_deletes_only_older_tangent_backups(app, instance, tmp_path):
    parent = tmp_path / "backups"
    old = [make_backup(app, instance, parent / f"old-{n}").path for n in range(3)]
    # Not Tangent backups: a folder without a manifest, one with another program's
    # manifest, a file.
    (parent / "photos").mkdir()
    (parent / "photos" / "a.jpg").write_bytes(b"jpg")
    (parent / "other").mkdir()
    (parent / "other" / "manifest.json").write_text('{"format": "other", "created_at": "0"}')
    (parent / "notes.txt").write_text("keep me")

    result = make_backup(app, instance, parent / "new", keep=2)
    assert result.removed == old[:2]
    assert sorted(p.name for p in parent.iterdir()) == [
        "new", "notes.txt", "old-2", "other", "photos"]

    runner = app.test_cli_runner()
    settings_backup = get_settings(app)
    app.extensions["tangent.settings"] = instance
    try:
        out = runner.invoke(cli, ["backup", "create", str(parent / "newest"), "--keep", "1"])
    finally:
        app.extensions["tangent.settings"] = settings_backup
    assert out.exit_code == 0, out.output
    assert f"Backed up to {parent / 'newest'}" in out.output
    assert f"Removed older backup {parent / 'new'}." in out.output
    assert f"Removed older backup {parent / 'old-2'}." in out.output
    assert sorted(p.name for p in parent.iterdir()) == [
        "newest", "notes.txt", "other", "photos"]


@pytest.mark.parametrize(("args", "message"), [
    (["verify", "{tmp}/nowhere"], "Error: no backup at {tmp}/nowhere: it does not exist"),
    (["verify", "{tmp}/file.txt"], "Error: {tmp}/file.txt is not a backup folder (it is a file)"),
    (["verify", "{tmp}"], "Error: {tmp} is not a Tangent backup: it has no manifest.json"),
    (["restore", "{tmp}/nowhere"], "Error: no backup at {tmp}/nowhere: it does not exist"),
    (["create", "{tmp}/file.txt"],
     "Error: {tmp}/file.txt already exists: name a new folder for the backup"),
    (["create", "--keep", "0"], "Error: Invalid value for '--keep': 0 is not in the range x>=1."),
    (["create", "--keep", "many"], "Error: Invalid value for '--keep': 'many' is not a valid "
                                   "integer range."),
    (["verify"], "Error: Missing argument 'PATH'."),
    (["restore"], "Error: Missing argument 'PATH'."),
])
def test_bad_arguments_get_a_clear_error(app, tmp_path, args, message):
    (tmp_path / "file.txt").write_text("x")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = app.test_cli_runner().invoke(cli, ["backup", *args])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert message.replace("{tmp}", str(tmp_path)) in result.output
    assert "Traceback" not in result.output


def test_postgresql_without_pg_dump_is_a_clear_error(tmp_path):
    env = process_env(tmp_path / "instance")
    # Nothing listens on port 1: pg_dump is looked for before any connection is made.
    env.update(PATH="", DATABASE_URL="postgresql+psycopg://tangent@127.0.0.1:1/tangent")
    result = tangent("backup", "create", str(tmp_path / "b"), env=env)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (
        "Error: pg_dump is not installed (or not on PATH): install the PostgreSQL client "
        "tools of your server's version or newer (Debian/Ubuntu: apt-get install "
        "postgresql-client) and try again")
    assert not (tmp_path / "b").exists()
