"""Backups: a consistent snapshot of the database plus the instance folder's files.

A backup is a folder::

    manifest.json          what it holds: versions, schema revision, row counts, and the
                           sha256 and size of every other file
    database.sqlite3       SQLite: a copy made with the online backup API
    database.pgdump        PostgreSQL: ``pg_dump --format=custom`` of Tangent's schema
    instance/...           the instance folder's files (private audio, uploads, ...)

It is written into a hidden temporary folder next to the target and renamed at the end,
so an interrupted backup never looks complete. The caller passes the settings and the
engine; nothing here reads a request or prints.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import text
from sqlalchemy.engine import Engine

from webapp.database import current_revisions, head_revisions
from webapp.services.exceptions import DomainError
from webapp.settings import Settings

FORMAT = "tangent-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
INSTANCE_DIR = "instance"
BACKUPS_DIR = "backups"
# Top-level names in the instance folder that a backup leaves out: earlier backups, logs,
# the development mail outbox (copies of sent mail, not state) and the generated
# development secret key (production sets SECRET_KEY; a backup holds no secret).
SKIPPED_NAMES = frozenset({BACKUPS_DIR, "logs", "mail", "secret_key"})
# SQLite files in the instance folder (the database itself, the job queue jobs-queue.db)
# are never copied as files: a live SQLite file copied byte by byte is not consistent.
SQLITE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite3")
# Tables a freshly migrated database already has rows in: restoring over such a database
# overwrites nothing of anybody's.
SEEDED_TABLES = frozenset({"alembic_version", "content_generation"})
_CHUNK = 1024 * 1024
_TIMEOUT = 3600  # pg_dump / pg_restore of a large school's database: an hour at most


class BackupError(DomainError):
    """A backup cannot be made, read or restored; the message says why and what to do."""


@dataclass
class BackupResult:
    path: Path
    manifest: dict
    # The moment the database snapshot began: every write committed before it is in the
    # backup.
    snapshot_started_at: datetime
    removed: list[Path] = field(default_factory=list)


@dataclass
class VerifyReport:
    path: Path
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    manifest: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RestoreResult:
    revision: list[str]
    head: list[str]
    files: int
    report: VerifyReport

    @property
    def behind_head(self) -> bool:
        return set(self.revision) != set(self.head)


# --- small helpers ------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def tangent_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tangent")
    except PackageNotFoundError:  # pragma: no cover - always installed (pip install -e)
        return "unknown"


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as src:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("only a SQLite database in a file can be backed up "
                          f"(DATABASE_URL names {database or 'an in-memory database'!r})")
    return Path(database).resolve()


def _sqlite_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that creates no journal file next to ``path``."""
    return sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)


def _quote_ident(name: str) -> str:
    """A table name read from the database's own catalog, quoted as an SQL identifier
    (the only names put into SQL text here; hence the S608 exceptions)."""
    return '"' + name.replace('"', '""') + '"'


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name")]


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {name: conn.execute(f"SELECT count(*) FROM {_quote_ident(name)}").fetchone()[0]  # noqa: S608
            for name in _sqlite_tables(conn)}


def _sqlite_revision(conn: sqlite3.Connection) -> list[str]:
    try:
        return sorted(row[0] for row in conn.execute("SELECT version_num FROM alembic_version"))
    except sqlite3.OperationalError:
        return []


# --- PostgreSQL tools ----------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} is not installed (or not on PATH): install the PostgreSQL client tools "
            "of your server's version or newer (Debian/Ubuntu: apt-get install "
            "postgresql-client) and try again")
    return path


def _tool_major(tool: str) -> tuple[int, str]:
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=30,  # noqa: S603
                             check=True, stdin=subprocess.DEVNULL).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackupError(f"{tool} --version failed ({exc})") from None
    match = re.search(r"(\d+)(?:\.\d+)*", out)
    if match is None:
        raise BackupError(f"cannot read the version of {tool} from {out!r}")
    return int(match.group(1)), match.group(0)


def libpq_url(engine: Engine) -> tuple[str, dict[str, str]]:
    """SQLAlchemy's ``postgresql+psycopg://…`` URL as a libpq URL for pg_dump/pg_restore,
    and the environment to run them with (the password goes in PGPASSWORD, never on the
    command line where ``ps`` shows it)."""
    url = engine.url
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    return url.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(args, env=env, capture_output=True, text=True,  # noqa: S603
                                timeout=_TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {_TIMEOUT} s") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise BackupError(f"{what} failed (exit status {result.returncode}): "
                          + " / ".join(detail[-5:]))
    return result


# --- create ----------------------------------------------------------------------------------


def default_target(settings: Settings, now: datetime | None = None) -> Path:
    moment = (now or _now()).astimezone(UTC)
    return Path(settings.instance_path) / BACKUPS_DIR / f"tangent-{moment:%Y%m%dT%H%M%SZ}"


def create_backup(settings: Settings, engine: Engine, target: Path | None = None, *,
                  keep: int | None = None) -> BackupResult:
    """Back up the database and the instance folder's files into ``target`` (a new folder;
    default ``<instance>/backups/tangent-<UTC time>``), while the app keeps serving; then,
    with ``keep``, remove all but the ``keep`` newest backups next to it."""
    if keep is not None and keep < 1:
        raise BackupError(f"--keep must be at least 1 (got {keep}): it counts the new backup")
    dialect = engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):  # pragma: no cover - settings allow only these
        raise BackupError(f"cannot back up a {dialect} database")
    if dialect == "postgresql":
        # Before anything is written: the clearest error first.
        pg_dump = _pg_tool("pg_dump")
    target = Path(target or default_target(settings)).expanduser().absolute()
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} already exists: name a new folder for the backup")
    parent = target.parent
    try:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create {parent} ({exc.strerror or exc})") from None
    if not parent.is_dir():
        raise BackupError(f"{parent} is not a folder")
    try:
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=parent))
    except OSError as exc:
        raise BackupError(f"cannot write in {parent} ({exc.strerror or exc})") from None
    try:
        manifest: dict = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tangent_version": tangent_version(),
            "python_version": platform.python_version(),
            "sqlite_version": sqlite3.sqlite_version,
            "dialect": dialect,
            "head_revision": sorted(head_revisions()),
        }
        if dialect == "sqlite":
            started = _backup_sqlite(engine, work, manifest)
        else:
            started = _backup_postgresql(engine, pg_dump, work, manifest)
        if not manifest["schema_revision"]:
            raise BackupError("the database has no Tangent schema (no alembic_version): "
                              "there is nothing to back up")
        _copy_instance(settings, engine, work, skip=[parent, target])
        manifest["snapshot_started_at"] = _iso(started)
        manifest["files"] = _file_list(work)
        manifest["created_at"] = _iso(_now())
        _write_json(work / MANIFEST, manifest)
        os.chmod(work, 0o700)
        if target.exists():
            raise BackupError(f"{target} appeared while the backup was written: "
                              "name a new folder")
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    removed = prune_backups(parent, keep, protect=target) if keep else []
    return BackupResult(path=target, manifest=manifest, snapshot_started_at=started,
                        removed=removed)


def _write_json(path: Path, data: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def _backup_sqlite(engine: Engine, work: Path, manifest: dict) -> datetime:
    source_path = _sqlite_path(engine)
    if not source_path.is_file():
        raise BackupError(f"the SQLite database {source_path} does not exist")
    copy = work / SQLITE_FILE
    source = sqlite3.connect(source_path, timeout=30)
    try:
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        target = sqlite3.connect(copy)
        try:
            # One step (pages=-1): the whole copy is read inside one read transaction of
            # the source, a consistent snapshot; in WAL mode the app's writers go on
            # meanwhile. Every write committed before this moment is in it.
            started = _now()
            source.backup(target, pages=-1)
            # A self-contained file: no -wal/-shm beside it, readable read-only.
            target.execute("PRAGMA journal_mode=DELETE").fetchone()
            counts = _sqlite_counts(target)
            revision = _sqlite_revision(target)
        finally:
            target.close()
    finally:
        source.close()
    manifest.update(
        database_file=SQLITE_FILE, schema_revision=revision, row_counts=counts,
        row_counts_source="counted in the backup copy (the snapshot itself)")
    return started


def _backup_postgresql(engine: Engine, pg_dump: str, work: Path, manifest: dict) -> datetime:
    dump_major, dump_version = _tool_major(pg_dump)
    url, env = libpq_url(engine)
    dump = work / PG_FILE
    with engine.connect() as conn:
        server_num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
        server_version = conn.execute(text("SHOW server_version")).scalar_one()
        conn.rollback()
        if dump_major < server_num // 10000:
            raise BackupError(
                f"pg_dump {dump_version} is older than the PostgreSQL server "
                f"({server_version}): install pg_dump {server_num // 10000} or newer "
                f"(Debian/Ubuntu: postgresql-client-{server_num // 10000})")
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            conn.execute(text("SET TRANSACTION READ ONLY"))
            # The first statement fixes the transaction's snapshot; pg_dump --snapshot
            # reads the very same one, so the counts below match the dump exactly.
            started = _now()
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                "ORDER BY tablename")).scalars().all()
            counts = {name: conn.execute(text(
                f"SELECT count(*) FROM {_quote_ident(name)}")).scalar_one() for name in tables}  # noqa: S608
            revision = (sorted(conn.execute(text("SELECT version_num FROM alembic_version"))
                               .scalars().all()) if "alembic_version" in tables else [])
            if revision:
                _run([pg_dump, "--format=custom", f"--snapshot={snapshot}",
                      f"--schema={schema}", f"--file={dump}", f"--dbname={url}"],
                     env, "pg_dump")
                os.chmod(dump, 0o600)
    manifest.update(
        database_file=PG_FILE, schema_revision=revision, row_counts=counts,
        row_counts_source="counted in the transaction whose snapshot pg_dump used",
        postgresql_version=server_version, pg_dump_version=dump_version, pg_schema=schema)
    return started


def _instance_files(settings: Settings, engine: Engine,
                    skip: list[Path]) -> Iterator[tuple[Path, str]]:
    """(file, path relative to the instance folder) for every file a backup keeps."""
    instance = Path(settings.instance_path).resolve()
    if not instance.is_dir():
        return
    skipped = {p.resolve() for p in skip}
    database = _sqlite_path(engine) if engine.dialect.name == "sqlite" else None
    for folder, dirs, files in os.walk(instance):
        here = Path(folder)
        top = here == instance
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and (here / d).resolve() not in skipped
            and not (here / d).is_symlink() and not (top and d in SKIPPED_NAMES))
        for name in sorted(files):
            path = here / name
            if name.startswith(".") or path.is_symlink() or not path.is_file():
                continue  # temporary files (.incoming-….part), links, sockets
            if top and (name in SKIPPED_NAMES or name.endswith(SQLITE_SUFFIXES)):
                continue
            if database is not None and path.name.startswith(database.name) \
                    and path.parent.resolve() == database.parent:
                continue
            yield path, path.relative_to(instance).as_posix()


def _copy_instance(settings: Settings, engine: Engine, work: Path, skip: list[Path]) -> None:
    for path, relative in _instance_files(settings, engine, skip):
        try:
            _copy_hashing(path, work / INSTANCE_DIR / relative)
        except FileNotFoundError:
            continue  # removed while the backup ran (e.g. an orphan pruned): not needed


def _file_list(work: Path) -> dict[str, dict]:
    listed: dict[str, dict] = {}
    for path in sorted(p for p in work.rglob("*") if p.is_file()):
        relative = path.relative_to(work).as_posix()
        if relative == MANIFEST:
            continue
        sha, size = _sha256_file(path)
        listed[relative] = {"sha256": sha, "size": size}
    return listed


# --- retention -------------------------------------------------------------------------------


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a Tangent backup in ``folder``, or None when it holds none."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return None
    return data


def prune_backups(parent: Path, keep: int, *, protect: Path | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest Tangent backups (folders with a Tangent manifest)
    directly in ``parent``; anything else there is left alone. Returns what was deleted."""
    if keep < 1:
        raise BackupError(f"--keep must be at least 1 (got {keep})")
    backups = []
    for entry in Path(parent).iterdir():
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        manifest = read_manifest(entry)
        if manifest is None or not isinstance(manifest.get("created_at"), str):
            continue
        backups.append((manifest["created_at"], entry.name, entry))
    backups.sort(reverse=True)
    removed = []
    for _, _, entry in reversed(backups[keep:]):  # oldest first
        if protect is not None and entry.resolve() == Path(protect).resolve():
            continue
        shutil.rmtree(entry)
        removed.append(entry)
    return removed


# --- verify ----------------------------------------------------------------------------------


def verify_backup(path: Path) -> VerifyReport:
    """Check a backup without restoring it; ``report.problems`` lists what is wrong."""
    path = Path(path).expanduser().absolute()
    report = VerifyReport(path=path)
    if not path.exists():
        raise BackupError(f"no backup at {path}: it does not exist")
    if not path.is_dir():
        raise BackupError(f"{path} is not a backup folder (it is a file)")
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupError(f"{path} is not a Tangent backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        report.problems.append(f"{MANIFEST} cannot be read: {exc}")
        return report
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        report.problems.append(f"{MANIFEST} is not a Tangent backup manifest")
        return report
    if manifest.get("format_version") != FORMAT_VERSION:
        report.problems.append(f"{MANIFEST}: format version {manifest.get('format_version')!r}"
                               f" is not {FORMAT_VERSION}, which this Tangent reads")
        return report
    files = manifest.get("files")
    counts = manifest.get("row_counts")
    dialect = manifest.get("dialect")
    if not isinstance(files, dict) or not isinstance(counts, dict) \
            or dialect not in ("sqlite", "postgresql") \
            or not isinstance(manifest.get("schema_revision"), list):
        report.problems.append(f"{MANIFEST} lacks files, row_counts, dialect or "
                               "schema_revision")
        return report
    report.manifest = manifest
    report.checked.append(
        f"{MANIFEST}: format {FORMAT_VERSION}, {dialect}, schema revision "
        f"{', '.join(manifest['schema_revision'])}, made {manifest.get('created_at')} by "
        f"Tangent {manifest.get('tangent_version')}")
    _verify_files(path, files, report)
    database = SQLITE_FILE if dialect == "sqlite" else PG_FILE
    if database not in files:
        report.problems.append(f"the manifest lists no {database}")
    elif (path / database).is_file():
        if dialect == "sqlite":
            _verify_sqlite(path / database, manifest, report)
        else:
            _verify_pgdump(path / database, manifest, report)
    return report


def _verify_files(path: Path, files: dict, report: VerifyReport) -> None:
    present = {p.relative_to(path).as_posix() for p in path.rglob("*")
               if p.is_file() or p.is_symlink()} - {MANIFEST}
    before = len(report.problems)
    for name in sorted(present - set(files)):
        report.problems.append(f"extra file not in the manifest: {name}")
    for name, expected in sorted(files.items()):
        file = path / name
        if name not in present:
            report.problems.append(f"missing file: {name}")
            continue
        if file.is_symlink() or not isinstance(expected, dict):
            report.problems.append(f"not a plain file as the manifest says: {name}")
            continue
        sha, size = _sha256_file(file)
        if size != expected.get("size"):
            report.problems.append(f"size of {name} is {size}, the manifest says "
                                   f"{expected.get('size')}")
        elif sha != expected.get("sha256"):
            report.problems.append(f"sha256 of {name} differs from the manifest (changed)")
    if len(report.problems) == before:
        total = sum(v.get("size", 0) for v in files.values() if isinstance(v, dict))
        report.checked.append(f"{len(files)} files: sha256 and size as in the manifest, "
                              f"none missing or extra ({total} bytes)")


def _compare_counts(actual: dict[str, int], manifest: dict, report: VerifyReport,
                    where: str) -> None:
    expected = manifest["row_counts"]
    bad = [f"{name}: {actual.get(name, 'no table')} rows, the manifest says {expected[name]}"
           for name in sorted(expected) if actual.get(name) != expected[name]]
    bad += [f"{name}: in the {where} but not in the manifest" for name in sorted(actual)
            if name not in expected]
    if bad:
        report.problems.extend(f"row count {line}" for line in bad)
    else:
        report.checked.append(f"row counts of {len(expected)} tables "
                              f"({sum(expected.values())} rows) match the manifest")


def _verify_sqlite(file: Path, manifest: dict, report: VerifyReport) -> None:
    try:
        conn = _sqlite_readonly(file)
        try:
            integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
            counts = _sqlite_counts(conn)
            revision = _sqlite_revision(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        report.problems.append(f"{SQLITE_FILE} is not a readable SQLite database ({exc})")
        return
    if integrity == ["ok"]:
        report.checked.append("PRAGMA integrity_check: ok")
    else:
        report.problems.extend(f"integrity_check: {line}" for line in integrity[:20])
    if foreign:
        report.problems.extend(f"foreign_key_check: row {row[1]} of {row[0]} points to a "
                               f"missing row of {row[2]}" for row in foreign[:20])
    else:
        report.checked.append("PRAGMA foreign_key_check: no broken references")
    if revision != manifest["schema_revision"]:
        report.problems.append(f"schema revision {revision} differs from the manifest's "
                               f"{manifest['schema_revision']}")
    _compare_counts(counts, manifest, report, "database")


_COPY_RE = re.compile(r"^COPY (.+?) (?:\(.*\) )?FROM stdin;$")


def _unqualified(name: str) -> str:
    """``public."user"`` → ``user``: the last part of a quoted, qualified SQL name."""
    parts, current, quoted, i = [], "", False, 0
    while i < len(name):
        char = name[i]
        if quoted:
            if char == '"' and name[i + 1:i + 2] == '"':
                current += '"'
                i += 1
            elif char == '"':
                quoted = False
            else:
                current += char
        elif char == '"':
            quoted = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    parts.append(current)
    return parts[-1]


def _verify_pgdump(file: Path, manifest: dict, report: VerifyReport) -> None:
    try:
        pg_restore = _pg_tool("pg_restore")
        major, version = _tool_major(pg_restore)
    except BackupError as exc:
        report.problems.append(exc.message)
        return
    dumped = manifest.get("pg_dump_version", "")
    if dumped and major < int(dumped.split(".")[0]):
        report.problems.append(f"pg_restore {version} is older than the pg_dump {dumped} "
                               "that made this backup: install a newer one")
        return
    env = dict(os.environ)
    try:
        _run([pg_restore, "--list", str(file)], env, "pg_restore --list")
    except BackupError as exc:
        report.problems.append(exc.message)
        return
    report.checked.append("pg_restore --list: the archive reads")
    # Count the rows in the dump's data (COPY text: one line per row, newlines escaped),
    # streamed; no database needed.
    counts: dict[str, int] = {}
    table = None
    with subprocess.Popen([pg_restore, "--data-only", "--file=-", str(file)], env=env,  # noqa: S603
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          stdin=subprocess.DEVNULL, text=True, encoding="utf-8",
                          errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            if table is None:
                match = _COPY_RE.match(line)
                if match:
                    table = _unqualified(match.group(1))
                    counts[table] = 0
            elif line == "\\.":
                table = None
            else:
                counts[table] += 1
        status = process.wait(timeout=_TIMEOUT)
    if status != 0:
        report.problems.append(f"pg_restore --data-only failed (exit status {status})")
        return
    # Tables with no rows may have no COPY entry: count them as empty.
    for name in manifest["row_counts"]:
        counts.setdefault(name, 0)
    _compare_counts(counts, manifest, report, "dump")


# --- restore ---------------------------------------------------------------------------------


def _target_has_data(engine: Engine) -> list[str]:
    """Tables of the configured database that hold rows (beyond what a migration seeds)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = conn.execute(text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%'")).scalars().all()
        else:
            names = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )).scalars().all()
        full = [name for name in sorted(names) if name not in SEEDED_TABLES and conn.execute(
            text(f"SELECT 1 FROM {_quote_ident(name)} LIMIT 1")).first() is not None]  # noqa: S608
        conn.rollback()
    return full


def _audio_files(settings: Settings) -> int:
    audio = Path(settings.instance_path) / "audio"
    if not audio.is_dir():
        return 0
    return sum(1 for p in audio.rglob("*") if p.is_file() and not p.name.startswith("."))


def restore_backup(settings: Settings, engine: Engine, path: Path, *,
                   force: bool = False) -> RestoreResult:
    """Verify the backup at ``path``, then restore it into the configured database and
    instance folder. Refuses a database that holds rows or an instance with audio unless
    ``force``. With SQLite the app must be stopped."""
    report = verify_backup(path)
    if not report.ok:
        raise BackupError(f"{report.path} did not verify, nothing was restored:\n  "
                          + "\n  ".join(report.problems))
    manifest = report.manifest or {}
    if manifest["dialect"] != engine.dialect.name:
        raise BackupError(f"this is a {manifest['dialect']} backup and the configured "
                          f"database is {engine.dialect.name}: set DATABASE_URL to a "
                          f"{manifest['dialect']} database")
    if not force:
        reasons = []
        full = _target_has_data(engine)
        if full:
            shown = ", ".join(full[:5]) + (" …" if len(full) > 5 else "")
            reasons.append(f"the database already holds rows ({shown})")
        audio = _audio_files(settings)
        if audio:
            reasons.append(f"the instance folder already has {audio} audio files")
        if reasons:
            raise BackupError("refusing to overwrite: " + " and ".join(reasons)
                              + "; restore into an empty instance, or pass --force to "
                              "replace them with the backup")
    if engine.dialect.name == "sqlite":
        _restore_sqlite(engine, report.path / SQLITE_FILE)
    else:
        _restore_postgresql(engine, report.path / PG_FILE, manifest)
    files = _restore_instance(settings, report.path, manifest)
    with engine.connect() as conn:
        revision = sorted(current_revisions(conn))
        conn.rollback()
    return RestoreResult(revision=revision, head=sorted(head_revisions()), files=files,
                         report=report)


def _restore_sqlite(engine: Engine, copy: Path) -> None:
    target_path = _sqlite_path(engine)
    engine.dispose()
    target_path.parent.mkdir(parents=True, exist_ok=True)
    source = _sqlite_readonly(copy)
    try:
        target = sqlite3.connect(target_path, timeout=30)
        try:
            # Through SQLite (not a file copy): the target's WAL and locks are honoured,
            # and the whole database is replaced in one transaction.
            source.backup(target, pages=-1)
        finally:
            target.close()
    except sqlite3.OperationalError as exc:
        raise BackupError(f"cannot write {target_path} ({exc}): stop Tangent first") from None
    finally:
        source.close()


def _restore_postgresql(engine: Engine, dump: Path, manifest: dict) -> None:
    pg_restore = _pg_tool("pg_restore")
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one_or_none()
        conn.rollback()
    wanted = manifest.get("pg_schema") or "public"
    if schema is not None and schema != wanted:
        raise BackupError(f"the backup holds schema {wanted!r} but the database's search path "
                          f"gives {schema!r}: restore into a database whose schema is "
                          f"{wanted!r}")
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {_quote_ident(wanted)}"))
    engine.dispose()
    url, env = libpq_url(engine)
    listing = _run([pg_restore, "--list", str(dump)], env, "pg_restore --list").stdout
    # Leave the schema itself alone (it exists; dropping "public" needs its owner):
    # restore and replace only what is in it.
    kept = [line for line in listing.splitlines()
            if not re.search(r"^\d+; \d+ \d+ (SCHEMA|COMMENT - SCHEMA) ", line)]
    with tempfile.NamedTemporaryFile("w", suffix=".list", delete=False) as handle:
        handle.write("\n".join(kept) + "\n")
        list_file = handle.name
    try:
        _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--single-transaction", "--exit-on-error", f"--use-list={list_file}",
              f"--dbname={url}", str(dump)], env, "pg_restore")
    finally:
        os.unlink(list_file)


def _restore_instance(settings: Settings, path: Path, manifest: dict) -> int:
    instance = Path(settings.instance_path)
    prefix = INSTANCE_DIR + "/"
    count = 0
    for name in sorted(manifest["files"]):
        if not name.startswith(prefix):
            continue
        relative = name[len(prefix):]
        target = instance / relative
        if ".." in Path(relative).parts or Path(relative).is_absolute():
            raise BackupError(f"the manifest names a file outside the instance: {name}")
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, (path / name).open("rb") as src:
                shutil.copyfileobj(src, out, _CHUNK)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)
        count += 1
    return count
