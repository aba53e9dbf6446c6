"""``tangent backup``: create, verify and restore backups of the database and instance files."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import fail_on_domain_error, plural

_PATH = click.Path(path_type=Path, file_okay=True, dir_okay=True)


@click.group()
def backup() -> None:
    """Back up the database and the instance folder's files; verify and restore backups."""


def _megabytes(manifest: dict) -> str:
    size = sum(entry["size"] for entry in manifest["files"].values())
    return f"{size / 1_000_000:.1f} MB"


@backup.command("create")
@click.argument("path", required=False, type=_PATH)
@click.option("--keep", type=click.IntRange(min=1), metavar="N",
              help="Then delete all but the N newest Tangent backups in the same folder "
                   "(folders with a Tangent manifest; nothing else is touched).")
@with_appcontext
@fail_on_domain_error
def backup_create(path: Path | None, keep: int | None) -> None:
    """Back up into PATH, a new folder (default: <instance>/backups/tangent-<UTC time>).

    Safe while Tangent is serving and writing: the database is copied as one consistent
    snapshot (SQLite's online backup; pg_dump on PostgreSQL), then the instance folder's
    audio and other files. Written to a hidden folder and renamed when complete.
    """
    from webapp.extensions import db
    from webapp.services import backup as backup_service
    from webapp.settings import get_settings

    result = backup_service.create_backup(get_settings(current_app), db.engine, path,
                                          keep=keep)
    manifest = result.manifest
    rows = sum(manifest["row_counts"].values())
    instance = sum(1 for name in manifest["files"] if name.startswith("instance/"))
    click.echo(f"Backed up to {result.path}: {manifest['dialect']} database "
               f"({plural(rows, 'row')} in {plural(len(manifest['row_counts']), 'table')}, "
               f"schema {', '.join(manifest['schema_revision'])}), "
               f"{plural(instance, 'instance file')}, {_megabytes(manifest)}.")
    click.echo(f"Snapshot taken at {manifest['snapshot_started_at']}.")
    for removed in result.removed:
        click.echo(f"Removed older backup {removed}.")


@backup.command("verify")
@click.argument("path", type=_PATH)
@with_appcontext
@fail_on_domain_error
def backup_verify(path: Path) -> None:
    """Check the backup at PATH without restoring it: every file's sha256 and size, no file
    missing or extra, and the database copy (SQLite: integrity and foreign keys, row counts;
    PostgreSQL: the archive reads and its row counts)."""
    from webapp.services import backup as backup_service

    report = backup_service.verify_backup(path)
    for line in report.checked:
        click.echo(f"ok: {line}")
    for line in report.problems:
        click.echo(f"PROBLEM: {line}", err=True)
    if not report.ok:
        click.echo(f"{report.path} is NOT a good backup "
                   f"({plural(len(report.problems), 'problem')}).", err=True)
        sys.exit(1)
    click.echo(f"{report.path} is a good backup.")


@backup.command("restore")
@click.argument("path", type=_PATH)
@click.option("--force", is_flag=True,
              help="Replace a database that already holds rows, and audio already in the "
                   "instance folder.")
@with_appcontext
@fail_on_domain_error
def backup_restore(path: Path, force: bool) -> None:
    """Verify the backup at PATH, then restore it into the configured database and instance
    folder.

    Stop Tangent (web and job workers) first. Refuses a database that holds rows or an
    instance folder with audio unless --force. Files in the instance folder that the
    backup does not hold are left in place.
    """
    from webapp.extensions import db
    from webapp.services import backup as backup_service
    from webapp.settings import get_settings

    db.session.remove()
    result = backup_service.restore_backup(get_settings(current_app), db.engine, path,
                                           force=force)
    manifest = result.report.manifest or {}
    click.echo(f"Restored {result.report.path} (made {manifest.get('created_at')}): "
               f"{manifest.get('dialect')} database, {plural(result.files, 'instance file')}.")
    click.echo(f"Schema revision: {', '.join(result.revision) or 'none'}.")
    if result.behind_head:
        click.echo(f"This Tangent's schema is {', '.join(result.head)}: run `tangent db "
                   "upgrade` before starting it.")
