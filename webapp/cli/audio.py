"""``tangent audio``: narrate lessons; move legacy public audio into the private store."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import course_by_slug, fail_on_domain_error, needs_schema, plural
from webapp.settings import ConfigError

NO_SPEECH_PROVIDER = (
    "No speech provider: install espeak-ng (apt-get install espeak-ng) or set "
    "TANGENT_TTS_PROVIDER=openai with TANGENT_TTS_API_KEY (and TANGENT_TTS_BASE_URL for "
    "another OpenAI-compatible server)."
)


@click.group()
def audio() -> None:
    """Narrate lessons; move legacy public audio into the private store."""


def _minutes(ms: int) -> str:
    seconds = round(ms / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


@audio.command("narrate")
@click.argument("course_slug")
@click.option("--lesson", "lesson_slug", metavar="SLUG", help="Only the lesson with this slug.")
@with_appcontext
@needs_schema
@fail_on_domain_error
def audio_narrate(course_slug: str, lesson_slug: str | None) -> None:
    """Narrate the lessons of COURSE_SLUG that have no narration of their current text."""
    from webapp.extensions import db
    from webapp.providers.tts import SpeechError, make_speech_provider
    from webapp.services import audio as audio_service
    from webapp.services.costs import format_money
    from webapp.services.exceptions import ValidationFailed
    from webapp.settings import get_settings

    settings = get_settings(current_app)
    try:
        provider = make_speech_provider(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if provider is None:
        raise click.ClickException(NO_SPEECH_PROVIDER)
    course = course_by_slug(course_slug)
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
                   f"cost {format_money(asset.cost, settings.cost_currency)})")
    click.echo(f"Narrated {plural(made, 'lesson')}; {current} up to date"
               + (f"; {skipped} skipped." if skipped else "."))


@audio.command("import-public")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only report what would change.")
@with_appcontext
@needs_schema
@fail_on_domain_error
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
        click.echo(f"Dry run: {plural(report.lessons_changed, 'lesson')} and "
                   f"{plural(files, 'file')} would change; nothing was changed.")
    else:
        db.session.commit()
        audio_service.remove_imported_files(report)
        click.echo(f"Moved {plural(files, 'file')} into the private audio store; rewrote "
                   f"{plural(report.lessons_changed, 'lesson')}.")
    if report.unreferenced:
        click.echo(f"Left {plural(len(report.unreferenced), 'audio file')} in {directory} "
                   "that no lesson links to.")
