"""Narration audio: making it, storing it privately, deciding who may hear it, and
bringing legacy audio files into the private store.

Files live in the instance folder's audio store (``<instance>/audio``), never
under ``static/``, named by their content hash: ``ab/abcdef….mp3``. The
``AudioAsset`` row is the only way to a file: the audio view looks a row up by
id, checks who is asking, and ``asset_path`` turns the row's ``storage_name``
into a path only if it is a well-formed content name that stays inside the
store. Nothing a client sends becomes a path.

Narration is derived data: each asset records the lesson version and voice it
was made from, so an edited lesson gets new narration and unchanged text is
never synthesized twice.

Legacy audio (``import_public_audio``): old content packages linked to public
files such as ``/audio/intro.mp3``. Each referenced file is copied into the
store and recorded as an ``AudioAsset`` of the lesson with the voice
``imported:<name>`` (for the lesson version that the rewrite creates), and the
reference in the lesson source becomes ``/audio/<asset id>``, the protected
audio view. ``latest_asset`` (the lesson page's player) ignores imported
assets. The originals are deleted only after the caller has committed
(``remove_imported_files``), so a failed import loses nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.content.render import RENDERER_VERSION, render_lesson
from webapp.extensions import db
from webapp.models import Course, Lesson, User
from webapp.models.base import utcnow
from webapp.models.jobs import AudioAsset, GenerationJob, ProviderCall
from webapp.providers.tts import (
    MP3_MIME,
    SpeechProvider,
    join_mp3,
    mp3_duration_ms,
    mp3_seconds,
    to_ms,
)
from webapp.services import authoring, progress
from webapp.services import courses as course_service
from webapp.services.audit import record_audit
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed

log = logging.getLogger(__name__)

STORE_DIR = "audio"
IMPORTED_PREFIX = "imported:"
# The URL of the protected audio view (blueprint ``audio``, endpoint ``audio.asset``).
AUDIO_URL_PREFIX = "/audio/"
# What may be stored, and the type it is served as.
MIME_TYPES = {
    "mp3": MP3_MIME,
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "wav": "audio/wav",
    "webm": "audio/webm",
    "flac": "audio/flac",
}
_EXTS = "|".join(MIME_TYPES)
# A storage name is exactly "<2 hex>/<64 hex>.<known extension>", the first two
# hex digits repeating the hash's: anything else in the column is refused.
_STORAGE_RE = re.compile(rf"([0-9a-f]{{2}})/(\1[0-9a-f]{{62}})\.({_EXTS})")
# Legacy references: a site-root path /audio/<name>.<audio extension>, not part of
# a longer URL or path (https://host/audio/…, /static/audio/…, ../audio/…).
_LEGACY_RE = re.compile(
    rf"(?<![\w.:/%-])/audio/(?P<name>[A-Za-z0-9_%][A-Za-z0-9._~%+-]*"
    rf"(?:/[A-Za-z0-9._~%+-]+)*\.(?:{_EXTS}))(?![\w/.-])",
    re.IGNORECASE,
)
_COPY_CHUNK = 1024 * 1024
MAX_MEASURED_BYTES = 64 * 1024 * 1024
_BATCH = 200


class UnsafeAudioPath(NotFound):
    """A stored name that is not a content name or escapes the store (served as 404)."""


# --- the store ------------------------------------------------------------------------------


def store_root() -> Path:
    """The private audio store: ``<instance folder>/audio``."""
    from webapp.settings import get_settings

    return Path(get_settings(current_app).instance_path) / STORE_DIR


def _make_private_dir(path: Path) -> None:
    for folder in (path.parent, path):
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)


def _storage_name(sha: str, ext: str) -> str:
    return f"{sha[:2]}/{sha}.{ext}"


def _store_from_temp(tmp: Path, sha: str, ext: str) -> str:
    """Move a finished temporary file (already in the store) to its content name."""
    name = _storage_name(sha, ext)
    target = store_root() / name
    _make_private_dir(target.parent)
    os.chmod(tmp, 0o600)
    # Same content, same name: replacing an existing file changes nothing.
    os.replace(tmp, target)
    return name


def _new_temp(root: Path) -> tuple[int, Path]:
    _make_private_dir(root)
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".incoming-", suffix=".part")
    return fd, Path(tmp)


def write_audio(data: bytes, ext: str = "mp3") -> tuple[str, str]:
    """Store ``data`` under its content name, atomically; returns (storage_name, sha256)."""
    sha = hashlib.sha256(data).hexdigest()
    target = store_root() / _storage_name(sha, ext)
    if target.is_file() and target.stat().st_size == len(data):
        return _storage_name(sha, ext), sha
    fd, tmp = _new_temp(store_root())
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return _store_from_temp(tmp, sha, ext), sha
    finally:
        tmp.unlink(missing_ok=True)


def _copy_into_store(source: Path, ext: str) -> tuple[str, str, int]:
    """Copy a file into the store; returns (storage_name, sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp = _new_temp(store_root())
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(_COPY_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = digest.hexdigest()
        return _store_from_temp(tmp, sha, ext), sha, size
    finally:
        tmp.unlink(missing_ok=True)


def _stored_duration_ms(storage_name: str, ext: str, size: int) -> int:
    """Playing time of a stored MP3 (0 for other formats, or one too large to read whole)."""
    if ext != "mp3" or size > MAX_MEASURED_BYTES:
        return 0
    return mp3_duration_ms((store_root() / storage_name).read_bytes())


def asset_path(asset: AudioAsset) -> Path:
    """The file of ``asset``, inside the store; ``UnsafeAudioPath`` for anything else.

    The name must be a content name (``ab/ab….mp3``) and, resolved (symbolic
    links followed), must stay inside the store and be a regular file.
    """
    name = asset.storage_name or ""
    if not _STORAGE_RE.fullmatch(name):
        log.warning("audio asset %s has a malformed storage name", asset.id)
        raise UnsafeAudioPath("There is no such recording.")
    root = store_root().resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        log.warning("audio asset %s points outside the audio store", asset.id)
        raise UnsafeAudioPath("There is no such recording.")
    if not path.is_file():
        log.warning("audio asset %s: its file is missing from the store", asset.id)
        raise UnsafeAudioPath("There is no such recording.")
    return path


def file_extension(asset: AudioAsset) -> str:
    """The extension of the stored file (``mp3`` …), for the download name."""
    match = _STORAGE_RE.fullmatch(asset.storage_name or "")
    return match.group(3) if match else "mp3"


# --- who may listen ---------------------------------------------------------------------------


def may_listen(user: User | None, course: Course, *, enrolled: bool | None = None) -> bool:
    """Admins, the course's editors, and learners enrolled in the published course.

    ``enrolled`` saves a query when the caller already knows.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.role == "admin" or authoring.can_edit(user, course):
        return True
    if course.status != "published":
        return False
    if enrolled is None:
        enrolled = progress.get_enrollment(user, course.id) is not None
    return enrolled


def can_listen(user: User | None, asset: AudioAsset) -> bool:
    """Whether ``user`` may hear ``asset`` (see ``may_listen``)."""
    lesson = db.session.get(Lesson, asset.lesson_id)
    return lesson is not None and may_listen(user, lesson.course)


def get_asset_for(user: User | None, asset_id: int) -> AudioAsset:
    """The asset, if it exists and ``user`` may hear it; ``NotFound`` otherwise, either way
    (so nobody learns which ids exist)."""
    asset = db.session.get(AudioAsset, asset_id) if 0 < asset_id < 2**31 else None
    if asset is None or not can_listen(user, asset):
        raise NotFound("There is no such recording.")
    return asset


def latest_asset(lesson: Lesson, voice: str | None = None) -> AudioAsset | None:
    """The newest narration of the lesson's current version (in ``voice`` if given)."""
    stmt = (select(AudioAsset)
            .where(AudioAsset.lesson_id == lesson.id,
                   AudioAsset.lesson_version == lesson.version,
                   AudioAsset.voice.not_like(f"{IMPORTED_PREFIX}%"))
            .order_by(AudioAsset.id.desc()).limit(1))
    if voice is not None:
        stmt = stmt.where(AudioAsset.voice == voice)
    return db.session.scalar(stmt)


# --- lesson text ------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
    "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "ol", "p", "section", "summary", "table", "td", "th", "tr", "ul",
})
_SILENT_TAGS = frozenset({"script", "style", "template", "svg", "math", "button"})
_SILENT_CLASSES = frozenset({"footnote-ref", "footnote-backref", "footnotes-sep"})
_VOID_TAGS = frozenset({"br", "hr", "img", "input", "wbr", "source", "track"})
CODE_OMITTED = "Code example omitted."


class _TextOf(HTMLParser):
    """Readable text of sanitized lesson HTML, one block per line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.buffer: list[str] = []
        self.silent: list[str] = []  # open elements whose text is not read
        self.label = ""  # said before the next block (a callout's kind)

    def flush(self) -> None:
        text = " ".join("".join(self.buffer).split())
        self.buffer = []
        if text:
            # A pause after headings, list items and cells, which have no full stop.
            text = self.label + (text if text[-1] in ".!?:;…" else text + ".")
            self.blocks.append(text)
            self.label = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self.silent:
            if tag not in _VOID_TAGS:
                self.silent.append(tag)
            return
        classes = set((attributes.get("class") or "").split())
        if tag == "pre":
            self.flush()
            self.blocks.append(CODE_OMITTED)
            self.silent.append(tag)
            return
        if tag in _SILENT_TAGS or classes & _SILENT_CLASSES:
            if tag not in _VOID_TAGS:
                self.silent.append(tag)
            return
        if tag in _BLOCK_TAGS:
            self.flush()
        if "callout" in classes and attributes.get("aria-label"):
            self.label = f"{attributes['aria-label']}: "
        elif tag == "img" and attributes.get("alt"):
            self.buffer.append(f" {attributes['alt']} ")

    def handle_endtag(self, tag: str) -> None:
        if self.silent:
            if tag == self.silent[-1]:
                self.silent.pop()
            return
        if tag in _BLOCK_TAGS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.silent:
            self.buffer.append(data)

    def text(self) -> str:
        self.close()
        self.flush()
        return "\n".join(self.blocks)


def html_to_speech_text(html: str) -> str:
    """What a narrator reads from sanitized HTML: the text, code blocks announced, not read."""
    parser = _TextOf()
    parser.feed(html)
    return parser.text()


def _section_texts(lesson: Lesson) -> list[tuple[str, str]]:
    parts = []
    for index, section in enumerate(lesson.sections):
        text = html_to_speech_text(section.html or "")
        if index == 0:
            text = f"{lesson.title}.\n{text}".strip()
        parts.append((section.key, text))
    return parts


def narration_text(lesson: Lesson) -> tuple[str, dict[str, int]]:
    """The lesson as plain text to read aloud, and where each section starts in it
    (``{section_key: character offset}``, in section order)."""
    chunks, starts, offset = [], {}, 0
    for key, text in _section_texts(lesson):
        starts[key] = offset
        if text:
            chunks.append(text)
            offset += len(text) + 2
    return "\n\n".join(chunks), starts


# --- narration --------------------------------------------------------------------------------


def asset_voice(provider: SpeechProvider) -> str:
    """The voice an asset records: provider and voice, so switching either re-narrates."""
    return f"{provider.name}:{provider.voice}"[:80]


def _existing(lesson_id: int, version: int, voice: str) -> AudioAsset | None:
    return db.session.scalar(select(AudioAsset).where(
        AudioAsset.lesson_id == lesson_id, AudioAsset.lesson_version == version,
        AudioAsset.voice == voice))


def narrate_lesson(lesson: Lesson, provider: SpeechProvider, *,
                   job: GenerationJob | None = None, actor: User | None = None) -> AudioAsset:
    """Narration of the lesson's current version in the provider's voice.

    Idempotent: an existing asset for (lesson, version, voice) is returned and
    nothing is synthesized. Otherwise each section is synthesized on its own
    (so ``section_offsets`` are exact), the pieces are joined, the file is
    written to the store, and the asset, a ``ProviderCall`` cost row (added to
    ``job.cost`` when a job is given) and an audit row are added. Flushes only.
    Raises ``SpeechError`` when the provider fails, ``ValidationFailed`` when
    the lesson has nothing to read.
    """
    voice = asset_voice(provider)
    version = lesson.version
    found = _existing(lesson.id, version, voice)
    if found is not None:
        return found
    parts = [(key, text) for key, text in _section_texts(lesson)]
    if not any(text for _key, text in parts):
        raise ValidationFailed("This lesson has no text to narrate.")

    pieces: list[bytes] = []
    offsets: dict[str, int] = {}
    elapsed, cost, characters = Decimal(0), Decimal(0), 0
    sources = set()
    for key, text in parts:
        offsets[key] = to_ms(elapsed)
        if not text:
            continue
        speech = provider.synthesize(text)
        pieces.append(speech.audio)
        # Counted from the frames, so the offsets match the joined file exactly.
        elapsed += mp3_seconds(speech.audio)
        characters += speech.characters
        cost += speech.cost
        sources.add(speech.cost_source)
    audio = join_mp3(pieces)
    storage_name, sha = write_audio(audio, "mp3")
    cost_source = next((s for s in ("reported", "configured") if s in sources), "free")

    asset = AudioAsset(
        lesson_id=lesson.id, lesson_version=version, voice=voice, provider=provider.name,
        mime_type=MP3_MIME, storage_name=storage_name, sha256=sha, size_bytes=len(audio),
        duration_ms=mp3_duration_ms(audio), section_offsets=offsets, cost=cost,
    )
    try:
        with db.session.begin_nested():
            db.session.add(asset)
    except IntegrityError:
        # Another process narrated the same version meanwhile: its row stands. The file
        # name is the content hash, so an identical file is shared, not duplicated.
        winner = _existing(lesson.id, version, voice)
        if winner is None:
            raise
        return winner
    db.session.add(ProviderCall(
        job_id=job.id if job is not None else None, course_id=lesson.course_id,
        call_key=f"narration:{lesson.id}:{version}:{voice}"[:120], kind="speech",
        job_kind=job.kind if job is not None else "", provider=provider.name,
        model=getattr(provider, "model", "") or "", characters=characters, cost=cost,
        cost_source=cost_source,
    ))
    if job is not None:
        job.cost = (job.cost or 0) + cost
    record_audit(actor, "audio.narrate", "lesson", lesson.id, {
        "asset_id": asset.id, "version": version, "voice": voice,
        "duration_ms": asset.duration_ms, "cost": str(cost),
    })
    db.session.flush()
    return asset


def lessons_of(course: Course, lesson_slug: str | None = None) -> list[Lesson]:
    """The course's lessons in order (or the one with ``lesson_slug``)."""
    stmt = select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
    if lesson_slug is not None:
        stmt = stmt.where(Lesson.slug == lesson_slug)
    lessons = list(db.session.scalars(stmt))
    if lesson_slug is not None and not lessons:
        raise NotFound(f"The course {course.slug} has no lesson {lesson_slug!r}.")
    return lessons


# --- legacy public audio ----------------------------------------------------------------------


@dataclass
class ImportedReference:
    course_slug: str
    lesson_slug: str
    name: str
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


def import_public_audio(directory: Path, *, dry_run: bool = False) -> ImportReport:
    """Bring audio that lessons reference as ``/audio/<name>`` into the private store.

    For each lesson whose source references ``/audio/<name>`` with a file of
    that name in ``directory``: store the file (content-addressed), add an
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
                stored[found] = _copy_into_store(found, ext)
            storage_name, sha, size = stored[found]
            voice = _imported_voice(unquote(name))
            asset = _existing(lesson.id, lesson.version + 1, voice) or AudioAsset(
                lesson_id=lesson.id, lesson_version=lesson.version + 1, voice=voice,
                provider="imported", mime_type=MIME_TYPES[ext], storage_name=storage_name,
                sha256=sha, size_bytes=size,
                duration_ms=_stored_duration_ms(storage_name, ext, size), section_offsets={},
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
