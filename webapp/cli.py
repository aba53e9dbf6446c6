"""The ``tangent`` command: Flask's CLI group plus Tangent's own commands."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import NoReturn

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import select

from webapp.settings import ConfigError

DEMO_USERS = (
    ("learner@example.com", "learner", "Demo Learner"),
    ("editor@example.com", "editor", "Demo Editor"),
    ("admin@example.com", "admin", "Demo Admin"),
)
DEMO_PASSWORD_ENV = "TANGENT_DEMO_PASSWORD"  # noqa: S105 - a variable name
DEMO_LOGINS_FILE = "demo-logins.txt"


def _create_app():
    from webapp import create_app

    try:
        return create_app()
    except ConfigError as exc:
        # Flask's group prints a full traceback when the app fails to load while
        # listing commands (``tangent``, ``tangent --help``); stop here instead,
        # with the same one line as ``main``.
        _exit_on_config_error(exc)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             set_debug_flag=False, load_dotenv=False)
def cli() -> None:
    """Tangent, a server-rendered learning platform."""


def _exit_on_config_error(exc: ConfigError) -> NoReturn:
    click.echo(f"Configuration error: {exc}", err=True)
    sys.exit(2)


def main() -> None:
    """Console entry point: configuration errors are one line and exit status 2."""
    try:
        cli.main(prog_name="tangent")
    except ConfigError as exc:
        _exit_on_config_error(exc)


def _fail_on_domain_error(func):
    """Turn domain errors into a one-line CLI error (exit status 1)."""
    from functools import wraps

    from webapp.services.exceptions import DomainError

    @wraps(func)
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            from webapp.extensions import db

            db.session.rollback()
            raise click.ClickException(exc.message) from None

    return wrapped


# --- database --------------------------------------------------------------


def upgrade_database() -> None:
    """Apply pending migrations (the only way the schema changes)."""
    from flask_migrate import upgrade

    upgrade()


# --- users -----------------------------------------------------------------


@cli.group()
def users() -> None:
    """Create users and manage their role and status."""


def _user_by_email(email: str):
    from webapp.services import accounts

    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    return user


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(["learner", "editor", "admin"]), default="learner",
              show_default=True)
@click.option("--name", "display_name", help="Display name (default: the part before the @).")
@click.option("--password", help="Password; prompted for (hidden) when not given.")
@with_appcontext
@_fail_on_domain_error
def users_create(email: str, role: str, display_name: str | None, password: str | None) -> None:
    """Create a user with EMAIL."""
    from webapp.extensions import db
    from webapp.services import accounts

    if password is None:
        if not sys.stdin.isatty():
            raise click.ClickException("--password is required when not run interactively")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = accounts.create_user(email, password, display_name=display_name, role=role)
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(["learner", "editor", "admin"]))
@with_appcontext
@_fail_on_domain_error
def users_set_role(email: str, role: str) -> None:
    """Give the user with EMAIL a new ROLE."""
    from webapp.extensions import db
    from webapp.services import accounts

    user = _user_by_email(email)
    accounts.set_role(user, role, actor=None)
    db.session.commit()
    click.echo(f"{user.email} is now {user.role}.")


def _set_status(email: str, status: str, reason: str) -> None:
    from webapp.extensions import db
    from webapp.services import accounts

    user = _user_by_email(email)
    accounts.set_status(user, status, actor=None, reason=reason)
    db.session.commit()
    click.echo(f"{user.email} is now {user.status}.")


@users.command("suspend")
@click.argument("email")
@click.option("--reason", default="", help="Recorded in the security log.")
@with_appcontext
@_fail_on_domain_error
def users_suspend(email: str, reason: str) -> None:
    """Suspend the user with EMAIL and end all their sessions."""
    _set_status(email, "suspended", reason)


@users.command("ban")
@click.argument("email")
@click.option("--reason", default="", help="Recorded in the security log.")
@with_appcontext
@_fail_on_domain_error
def users_ban(email: str, reason: str) -> None:
    """Ban the user with EMAIL and end all their sessions."""
    _set_status(email, "banned", reason)


@users.command("activate")
@click.argument("email")
@with_appcontext
@_fail_on_domain_error
def users_activate(email: str) -> None:
    """Lift a suspension or ban."""
    _set_status(email, "active", "")


@users.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@with_appcontext
def users_list(limit: int) -> None:
    """List users, newest first."""
    from webapp.extensions import db
    from webapp.models import User

    rows = db.session.scalars(select(User).order_by(User.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("No users yet. Create one with: tangent users create EMAIL --role admin")
    for user in rows:
        click.echo(f"{user.id:>6}  {user.role:<8} {user.status:<10} {user.email}")


# --- content ---------------------------------------------------------------


@cli.group()
def content() -> None:
    """Export and import course packages; re-render stored lesson HTML."""


def _course_by_slug(slug: str):
    from webapp.extensions import db
    from webapp.models import Course

    course = db.session.scalar(select(Course).where(Course.slug == slug))
    if course is None:
        raise click.ClickException(f"no course with slug {slug!r}")
    return course


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


@content.command("export")
@click.argument("course_slug")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the zip (default: COURSE_SLUG.zip here).")
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@with_appcontext
@_fail_on_domain_error
def content_export(course_slug: str, output: Path | None, force: bool) -> None:
    """Write the course COURSE_SLUG (any status) as a course package."""
    from webapp.services import packages

    course = _course_by_slug(course_slug)
    output = output or Path(f"{course.slug}.zip")
    data = packages.export_course(course)
    try:
        with open(output, "wb" if force else "xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise click.ClickException(f"{output} exists; use --force to overwrite it") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"Exported {course.slug} to {output} ({len(data):,} bytes).")


@content.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "email", required=True, metavar="EMAIL",
              help="The editor or admin account that owns the import.")
@click.option("--replace", "replace_slug", metavar="COURSE_SLUG",
              help="Replace this draft course instead of creating a new one.")
@with_appcontext
@_fail_on_domain_error
def content_import(file: Path, email: str, replace_slug: str | None) -> None:
    """Import the course package FILE as a new draft (or into a draft with --replace)."""
    from webapp.extensions import db
    from webapp.services import authoring, packages

    actor = _user_by_email(email)
    if actor.role not in authoring.EDITOR_ROLES:
        raise click.ClickException(f"{actor.email} is a {actor.role}; imports need an editor "
                                   "or admin account")
    course = _course_by_slug(replace_slug) if replace_slug else None
    try:
        with open(file, "rb") as handle:
            data = handle.read(packages.MAX_PACKAGE_BYTES + 1)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    try:
        package = packages.read_package(data)
    except packages.PackageInvalid as exc:
        report = "\n".join(f"  - {problem}" for problem in exc.problems)
        raise click.ClickException(f"{file}: {exc.message}\n{report}") from None
    if course is None:
        course = packages.import_new(actor, package)
        note = f" (the slug {package.slug!r} was taken)" if course.slug != package.slug else ""
        verb = f"Imported {file} as the new draft {course.slug}{note}"
    else:
        packages.replace_draft(actor, course, package)
        verb = f"Replaced the draft {course.slug} from {file}"
    db.session.commit()
    click.echo(f"{verb}: {_plural(len(package.modules), 'module')}, "
               f"{_plural(len(package.lessons), 'lesson')}, "
               f"{_plural(len(package.quizzes), 'quiz', 'quizzes')}.")


@content.command("rerender")
@click.option("--all", "everything", is_flag=True,
              help="Re-render every lesson, not only those made by an older renderer.")
@with_appcontext
@_fail_on_domain_error
def content_rerender(everything: bool) -> None:
    """Rebuild stored lesson HTML after a renderer or sanitizer change, in batches."""
    from webapp.extensions import db
    from webapp.services import authoring

    total, last = 0, 0
    while True:
        done = authoring.rerender_lessons(everything=everything, after_id=last)
        if not done:
            break
        db.session.commit()
        total += len(done)
        last = done[-1]
    click.echo(f"Re-rendered {_plural(total, 'lesson')}.")


# --- demo ------------------------------------------------------------------


def load_demo(instance_path: Path) -> list[tuple[str, str, str | None]]:
    """Create the demo users and courses if missing; returns (email, role, password or None).

    Passwords come from $TANGENT_DEMO_PASSWORD when set; otherwise they are
    generated once and kept in the instance folder (mode 0600) so that later
    runs can print them again.
    """
    from werkzeug.security import check_password_hash

    from webapp.extensions import db
    from webapp.services import accounts

    saved_path = instance_path / DEMO_LOGINS_FILE
    saved = _read_demo_logins(saved_path)
    fixed = os.environ.get(DEMO_PASSWORD_ENV)
    result = []
    for email, role, name in DEMO_USERS:
        user = accounts.find_user_by_email(email)
        if user is None:
            password = fixed or saved.get(email) or secrets.token_urlsafe(12)
            accounts.create_user(email, password, display_name=name, role=role)
            saved[email] = password
            result.append((email, role, password))
            continue
        # The account was made earlier (by another run, another password or by
        # hand): print a password only if it really opens it.
        candidates = [p for p in (fixed, saved.get(email)) if p]
        opens = next((p for p in candidates if check_password_hash(user.password_hash, p)), None)
        result.append((email, role, opens))
    from webapp.services.demo import load_demo_content

    # Courses are owned by the demo editor; one transaction with the users.
    load_demo_content(accounts.find_user_by_email("editor@example.com"))
    db.session.commit()
    if not fixed:
        _write_demo_logins(saved_path, saved)
    return result


def _read_demo_logins(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split(" ", 1) for line in path.read_text().splitlines() if " " in line)
    return {email: password for email, password in pairs}


def _write_demo_logins(path: Path, logins: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{email} {password}\n" for email, password in sorted(logins.items()))
    tmp.replace(path)


def _print_demo_logins(logins: list[tuple[str, str, str | None]]) -> None:
    click.echo("Demo logins:")
    for email, role, password in logins:
        shown = password or "(existing account; password unchanged)"
        click.echo(f"  {role:<8} {email:<22} {shown}")


@cli.command("demo")
@with_appcontext
@_fail_on_domain_error
def demo() -> None:
    """Load demo users and courses; safe to run again."""
    logins = load_demo(Path(current_app.instance_path))
    _print_demo_logins(logins)


# --- serve -----------------------------------------------------------------


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--demo", "with_demo", is_flag=True, help="Load demo users and content first.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes. Use more than 1 only with REDIS_URL set, so that "
                   "rate limits are shared.")
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--no-job-worker", "no_job_worker", is_flag=True,
              help="Do not run background jobs in this process (run `tangent worker` instead).")
@with_appcontext
@_fail_on_domain_error
def serve(host: str, port: int, with_demo: bool, workers: int, threads: int,
          no_job_worker: bool) -> None:
    """Apply migrations, start the job worker and serve Tangent with gunicorn."""
    from webapp.extensions import db
    from webapp.settings import get_settings
    from webapp.wsgi_server import serve_app

    app = current_app._get_current_object()
    settings = get_settings(app)
    if workers > 1 and not settings.redis_url:
        raise click.BadParameter("more than one worker needs REDIS_URL for shared rate limits",
                                 param_hint="--workers")
    upgrade_database()
    if with_demo:
        _print_demo_logins(load_demo(Path(app.instance_path)))
    db.session.remove()
    db.engine.dispose()
    display_host = f"[{host}]" if ":" in host else host
    click.echo(f"Tangent is running at http://{display_host}:{port}/  (Ctrl+C to stop)")
    serve_app(app, host=host, port=port, workers=workers, threads=threads,
              job_workers=0 if no_job_worker else settings.job_workers)


@cli.command("worker")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Job threads (default: TANGENT_JOB_WORKERS, 2).")
@with_appcontext
@_fail_on_domain_error
def worker(workers: int | None) -> None:
    """Run background jobs (AI drafts, narration) until stopped; resumes interrupted jobs."""
    from webapp.extensions import db
    from webapp.jobs import recover
    from webapp.settings import get_settings

    app = current_app._get_current_object()
    settings = get_settings(app)
    upgrade_database()
    db.session.remove()
    huey = app.extensions["tangent.huey"]
    consumer = huey.create_consumer(workers=workers or settings.job_workers,
                                    worker_type="thread", periodic=True)
    resumed = recover(app)
    click.echo(f"Tangent job worker running ({workers or settings.job_workers} threads"
               f"{f'; resumed jobs {resumed}' if resumed else ''}). Ctrl+C to stop.")
    consumer.run()


# --- audio -----------------------------------------------------------------

NO_SPEECH_PROVIDER = (
    "No speech provider: install espeak-ng (apt-get install espeak-ng) or set "
    "TANGENT_TTS_PROVIDER=openai with TANGENT_TTS_API_KEY (and TANGENT_TTS_BASE_URL for "
    "another OpenAI-compatible server)."
)


@cli.group()
def audio() -> None:
    """Narrate lessons; move legacy public audio into the private store."""


def _minutes(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


@audio.command("narrate")
@click.argument("course_slug")
@click.option("--lesson", "lesson_slug", metavar="SLUG", help="Only the lesson with this slug.")
@with_appcontext
@_fail_on_domain_error
def audio_narrate(course_slug: str, lesson_slug: str | None) -> None:
    """Narrate the lessons of COURSE_SLUG that have no narration of their current text."""
    from webapp.extensions import db
    from webapp.providers.tts import SpeechError, make_speech_provider
    from webapp.services import audio as audio_service
    from webapp.services.exceptions import ValidationFailed
    from webapp.settings import get_settings

    settings = get_settings(current_app)
    try:
        provider = make_speech_provider(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if provider is None:
        raise click.ClickException(NO_SPEECH_PROVIDER)
    course = _course_by_slug(course_slug)
    store = audio_service.AudioStore.for_settings(settings)
    voice = audio_service.asset_voice(provider)
    made = current = skipped = 0
    for lesson in audio_service.lessons_of(course, lesson_slug):
        if audio_service.latest_asset(lesson, voice) is not None:
            current += 1
            click.echo(f"  {lesson.slug}: up to date (version {lesson.version})")
            continue
        try:
            asset = audio_service.narrate_lesson(lesson, provider, store)
        except ValidationFailed as exc:
            db.session.rollback()
            skipped += 1
            click.echo(f"  {lesson.slug}: skipped ({exc.message})")
            continue
        except SpeechError as exc:
            db.session.rollback()
            raise click.ClickException(f"{lesson.slug}: {exc}") from None
        # One lesson per transaction: an interrupted run keeps what it finished.
        db.session.commit()
        made += 1
        click.echo(f"  {lesson.slug}: narrated version {asset.lesson_version} with {voice} "
                   f"({_minutes(asset.duration_ms)}, {asset.size_bytes // 1024} KB, "
                   f"cost {asset.cost})")
    click.echo(f"Narrated {_plural(made, 'lesson')}; {current} up to date"
               + (f"; {skipped} skipped." if skipped else "."))


@audio.command("import-public")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only report what would change.")
@with_appcontext
@_fail_on_domain_error
def audio_import_public(directory: Path, dry_run: bool) -> None:
    """Move audio files that lessons link as /audio/NAME from DIRECTORY into the private
    store, and point those links at the protected audio view (a one-time migration)."""
    from webapp.extensions import db
    from webapp.services import audio as audio_service
    from webapp.settings import get_settings

    store = audio_service.AudioStore.for_settings(get_settings(current_app))
    report = audio_service.import_public_audio(directory, store, dry_run=dry_run)
    for ref in report.imported:
        target = "would be imported" if dry_run else f"-> /audio/{ref.asset_id}"
        click.echo(f"  {ref.course_slug}/{ref.lesson_slug}: /audio/{ref.name} {target}")
    for ref in report.problems:
        click.echo(f"  {ref.course_slug}/{ref.lesson_slug}: /audio/{ref.name}: {ref.problem}")
    files = len({ref.name for ref in report.imported}) if dry_run else len(report.files)
    if dry_run:
        db.session.rollback()
        click.echo(f"Dry run: {_plural(report.lessons_changed, 'lesson')} and "
                   f"{_plural(files, 'file')} would change; nothing was changed.")
    else:
        db.session.commit()
        audio_service.remove_imported_files(report)
        click.echo(f"Moved {_plural(files, 'file')} into the private audio store; rewrote "
                   f"{_plural(report.lessons_changed, 'lesson')}.")
    if report.unreferenced:
        click.echo(f"Left {_plural(len(report.unreferenced), 'audio file')} in {directory} "
                   "that no lesson links to.")
