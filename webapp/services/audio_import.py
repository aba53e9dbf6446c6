"""The one-off import of legacy public audio (``tangent audio import-public``).

Old content packages linked to public files such as ``/audio/intro.mp3``. Each
referenced file is copied into the private store and recorded as an
``AudioAsset`` of the lesson with the voice ``imported:<name>`` (for the lesson
version that the rewrite creates), and the reference in the lesson source
becomes ``/audio/<asset id>``, the protected audio view. ``latest_asset`` (the
lesson page's player) ignores imported assets. The originals are deleted only
after the caller has committed (``remove_imported_files``), so a failed import
loses nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import select, update

from webapp.content.render import RENDERER_VERSION, render_lesson
from webapp.extensions import db
from webapp.models import Lesson
from webapp.models.base import utcnow
from webapp.models.jobs import AudioAsset
from webapp.services import authoring
from webapp.services import courses as course_service
from webapp.services.audio_access import IMPORTED_PREFIX, find_asset
from webapp.services.audio_store import EXTENSIONS_PATTERN, MIME_TYPES, AudioStore
from webapp.services.audit import record_audit
from webapp.services.exceptions import Conflict, ValidationFailed

# The URL of the protected audio view (blueprint ``audio``, endpoint ``audio.asset``).
AUDIO_URL_PREFIX = "/audio/"
# Legacy references: a site-root path /audio/<name>.<audio extension>, not part of
# a longer URL or path (https://host/audio/…, /static/audio/…, ../audio/…).
_LEGACY_RE = re.compile(
    rf"(?<![\w.:/%-])/audio/(?P<name>[A-Za-z0-9_%][A-Za-z0-9._~%+-]*"
    rf"(?:/[A-Za-z0-9._~%+-]+)*\.(?:{EXTENSIONS_PATTERN}))(?![\w/.-])",
    re.IGNORECASE,
)
_BATCH = 200


@dataclass
class ImportedReference:
    """One ``/audio/<name>`` link of a lesson: the asset it became, or why it stays."""

    course_slug: str
    lesson_slug: str
    name: str  # as written after /audio/ (percent-encoded)
    # The imported asset, or why the link was left as it is.
    asset_id: int | None = None
    problem: str | None = None


@dataclass
class ImportReport:
    """What ``import_public_audio`` did (or, with ``dry_run``, would do)."""

    dry_run: bool
    imported: list[ImportedReference] = field(default_factory=list)
    problems: list[ImportedReference] = field(default_factory=list)
    lessons_changed: int = 0
    # Originals to delete once the caller has committed (``remove_imported_files``).
    files: set[Path] = field(default_factory=set)
    unreferenced: list[str] = field(default_factory=list)


def _legacy_file(directory: Path, raw_name: str) -> Path | str:
    """The file ``/audio/<raw_name>`` names inside ``directory``, or why it cannot be used."""
    name = unquote(raw_name)
    parts = name.split("/")
    if ("\\" in name or "\x00" in name or name.startswith("/")
            or any(part in ("", ".", "..") for part in parts)):
        return "unsafe name, left as it is"
    path = (directory / name).resolve()
    if not path.is_relative_to(directory):
        return "points outside the folder, left as it is"
    if not path.is_file():
        return "not found in the folder, left as it is"
    if path.stat().st_size == 0:
        return "empty file, left as it is"
    return path


def _lessons_with_references() -> Iterator[Lesson]:
    last = 0
    while True:
        batch = list(db.session.scalars(
            select(Lesson).where(Lesson.id > last, Lesson.source.contains(AUDIO_URL_PREFIX))
            .order_by(Lesson.id).limit(_BATCH)))
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def _imported_voice(name: str) -> str:
    voice = f"{IMPORTED_PREFIX}{name}"
    if len(voice) <= 80:
        return voice
    return f"{IMPORTED_PREFIX}{hashlib.sha256(name.encode()).hexdigest()[:32]}"


def _rewrite_lesson_source(lesson: Lesson, source: str, names: list[str]) -> None:
    """Save the rewritten source as a new version (revision + audit), like an editor save."""
    base = lesson.version
    done = db.session.execute(
        update(Lesson).where(Lesson.id == lesson.id, Lesson.version == base)
        .values(version=Lesson.version + 1).execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict(f"The lesson {lesson.slug} changed during the import; run it again.")
    before = {"title": lesson.title, "source": lesson.source or ""}
    result = render_lesson(source, lesson.title)
    course_service.store_sections(lesson, result.sections)
    lesson.source = source
    lesson.renderer_version = RENDERER_VERSION
    lesson.updated_at = utcnow()
    db.session.flush()
    db.session.refresh(lesson, ["version"])
    authoring.record_lesson_revision(None, lesson, lesson.version, "import", before,
                                     {"title": lesson.title, "source": source})
    record_audit(None, "lesson.import_audio", "lesson", lesson.id,
                 {"version": [base, lesson.version], "audio": names})


def _replace_references(source: str, replacements: dict[str, str]) -> str:
    return _LEGACY_RE.sub(lambda m: replacements.get(m.group("name")) or m.group(0), source)


def import_public_audio(directory: Path, store: AudioStore, *,
                        dry_run: bool = False) -> ImportReport:
    """Bring audio that lessons reference as ``/audio/<name>`` into the private store.

    For each lesson whose source references ``/audio/<name>`` with a file of
    that name in ``directory``: copy the file into ``store``, add an
    ``AudioAsset`` (voice ``imported:<name>``) for the lesson, and rewrite each
    reference to ``/audio/<asset id>``, the protected view, saving the lesson as
    a new version with an "import" revision and an audit row. References whose
    file is missing or whose name is unsafe stay as they are and are reported.
    With ``dry_run`` nothing is written. Flushes; the caller commits and then
    calls ``remove_imported_files`` to delete the originals.
    """
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise ValidationFailed(f"{directory} is not a folder.")
    report = ImportReport(dry_run=dry_run)
    stored: dict[Path, tuple[str, str, int]] = {}
    referenced: set[Path] = set()
    for lesson in _lessons_with_references():
        source = lesson.source or ""
        names = list(dict.fromkeys(m.group("name") for m in _LEGACY_RE.finditer(source)))
        replacements: dict[str, str] = {}
        for name in names:
            ref = ImportedReference(lesson.course.slug, lesson.slug, name)
            found = _legacy_file(directory, name)
            if isinstance(found, str):
                ref.problem = found
                report.problems.append(ref)
                continue
            referenced.add(found)
            report.imported.append(ref)
            replacements[name] = ""
            if dry_run:
                continue
            # The type comes from the referenced name (its extension matched the pattern).
            ext = name.rsplit(".", 1)[1].lower()
            if found not in stored:
                stored[found] = store.copy_in(found, ext)
            storage_name, sha, size = stored[found]
            voice = _imported_voice(unquote(name))
            asset = find_asset(lesson.id, lesson.version + 1, voice) or AudioAsset(
                lesson_id=lesson.id, lesson_version=lesson.version + 1, voice=voice,
                provider="imported", mime_type=MIME_TYPES[ext], storage_name=storage_name,
                sha256=sha, size_bytes=size,
                duration_ms=store.duration_ms(storage_name, ext, size), section_offsets={},
            )
            db.session.add(asset)
            db.session.flush()
            ref.asset_id = asset.id
            replacements[name] = f"{AUDIO_URL_PREFIX}{asset.id}"
            report.files.add(found)
        if not replacements:
            continue
        report.lessons_changed += 1
        if not dry_run:
            _rewrite_lesson_source(lesson, _replace_references(source, replacements),
                                   list(replacements))
    db.session.flush()
    report.unreferenced = sorted(
        str(path.relative_to(directory)) for path in directory.rglob("*")
        if path.is_file() and path.suffix.lower().lstrip(".") in MIME_TYPES
        and path.resolve() not in referenced
    )
    return report


def remove_imported_files(report: ImportReport) -> list[Path]:
    """Delete the originals an import stored (call after committing it); returns them."""
    removed = []
    for path in sorted(report.files):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed
