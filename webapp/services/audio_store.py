"""The private audio store: content-addressed files under the instance folder.

Files live in ``<instance>/audio``, never under ``static/``, named by their
content hash: ``ab/abcdef….mp3``. The ``AudioAsset`` row is the only way to a
file: ``AudioStore.path_of`` turns the row's ``storage_name`` into a path only if
it is a well-formed content name that stays inside the store. Nothing a client
sends becomes a path. The store's root is given by the caller (``for_settings``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from webapp.extensions import db
from webapp.models.jobs import AudioAsset
from webapp.providers.tts import MP3_MIME, mp3_duration_ms
from webapp.services.exceptions import NotFound
from webapp.settings import Settings

log = logging.getLogger(__name__)

STORE_DIR = "audio"
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
# The extensions as a regular-expression alternative ("mp3|ogg|…").
EXTENSIONS_PATTERN = "|".join(MIME_TYPES)
# A storage name is exactly "<2 hex>/<64 hex>.<known extension>", the first two
# hex digits repeating the hash's: anything else in the column is refused.
_STORAGE_RE = re.compile(rf"([0-9a-f]{{2}})/(\1[0-9a-f]{{62}})\.({EXTENSIONS_PATTERN})")
_COPY_CHUNK = 1024 * 1024
# Files younger than this are never pruned: a narration writes its file before the
# transaction that adds its row commits.
PRUNE_MIN_AGE_SECONDS = 3600
MAX_MEASURED_BYTES = 64 * 1024 * 1024


class UnsafeAudioPath(NotFound):
    """A stored name that is not a content name or escapes the store (served as 404)."""


def _make_private_dir(path: Path) -> None:
    for folder in (path.parent, path):
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(folder, 0o700)


def _storage_name(sha: str, ext: str) -> str:
    return f"{sha[:2]}/{sha}.{ext}"


def file_extension(asset: AudioAsset) -> str:
    """The extension of the stored file (``mp3`` …), for the download name."""
    match = _STORAGE_RE.fullmatch(asset.storage_name or "")
    return match.group(3) if match else "mp3"


@dataclass(frozen=True)
class PruneResult:
    files: int
    bytes: int


class AudioStore:
    """The content-addressed files under ``root``; written atomically, private (0600)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_settings(cls, settings: Settings) -> AudioStore:
        """The app's store: ``<instance folder>/audio``."""
        return cls(Path(settings.instance_path) / STORE_DIR)

    def _new_temp(self) -> tuple[int, Path]:
        _make_private_dir(self.root)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-", suffix=".part")
        return fd, Path(tmp)

    def _store_from_temp(self, tmp: Path, sha: str, ext: str) -> str:
        """Move a finished temporary file (already in the store) to its content name."""
        name = _storage_name(sha, ext)
        target = self.root / name
        _make_private_dir(target.parent)
        os.chmod(tmp, 0o600)
        # Same content, same name: replacing an existing file changes nothing.
        os.replace(tmp, target)
        return name

    def write(self, data: bytes, ext: str = "mp3") -> tuple[str, str]:
        """Store ``data`` under its content name, atomically; returns (storage_name, sha256)."""
        sha = hashlib.sha256(data).hexdigest()
        target = self.root / _storage_name(sha, ext)
        if target.is_file() and target.stat().st_size == len(data):
            # Reused for a row not committed yet: young again, so pruning leaves it alone.
            os.utime(target)
            return _storage_name(sha, ext), sha
        fd, tmp = self._new_temp()
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            return self._store_from_temp(tmp, sha, ext), sha
        finally:
            tmp.unlink(missing_ok=True)

    def copy_in(self, source: Path, ext: str) -> tuple[str, str, int]:
        """Copy a file into the store; returns (storage_name, sha256, size)."""
        digest = hashlib.sha256()
        size = 0
        fd, tmp = self._new_temp()
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(_COPY_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            return self._store_from_temp(tmp, sha, ext), sha, size
        finally:
            tmp.unlink(missing_ok=True)

    def duration_ms(self, storage_name: str, ext: str, size: int) -> int:
        """Playing time of a stored MP3 (0 for other formats, or one too large to read)."""
        if ext != "mp3" or size > MAX_MEASURED_BYTES:
            return 0
        return mp3_duration_ms((self.root / storage_name).read_bytes())

    def path_of(self, asset: AudioAsset) -> Path:
        """The file of ``asset``, inside the store; ``UnsafeAudioPath`` for anything else.

        The name must be a content name (``ab/ab….mp3``) and, resolved (symbolic
        links followed), must stay inside the store and be a regular file.
        """
        name = asset.storage_name or ""
        if not _STORAGE_RE.fullmatch(name):
            log.warning("audio asset %s has a malformed storage name", asset.id)
            raise UnsafeAudioPath("There is no such recording.")
        root = self.root.resolve()
        path = (root / name).resolve()
        if not path.is_relative_to(root):
            log.warning("audio asset %s points outside the audio store", asset.id)
            raise UnsafeAudioPath("There is no such recording.")
        if not path.is_file():
            log.warning("audio asset %s: its file is missing from the store", asset.id)
            raise UnsafeAudioPath("There is no such recording.")
        return path

    def prune_unreferenced(self, *, now: float | None = None,
                           min_age_seconds: int = PRUNE_MIN_AGE_SECONDS) -> PruneResult:
        """Remove files of the store that no ``audio_asset`` row names, and temporary files
        a crashed write left, when older than ``min_age_seconds`` (a file being written or
        waiting for its row's commit is younger). A file any row names is never removed.
        Safe to repeat and to run in several processes at once."""
        if not self.root.is_dir():
            return PruneResult(0, 0)
        cutoff = (time.time() if now is None else now) - min_age_seconds
        candidates = [path for path in self.root.rglob("*") if path.is_file()
                      and not path.is_symlink()]
        # Read after listing: a row committed before this query keeps its file.
        referenced = set(db.session.scalars(select(AudioAsset.storage_name).distinct()))
        files = size = 0
        for path in candidates:
            name = path.relative_to(self.root).as_posix()
            content = _STORAGE_RE.fullmatch(name)
            temporary = path.name.startswith(".incoming-") and path.suffix == ".part"
            if name in referenced or not (content or temporary):
                continue
            try:
                stat = path.stat()
                if stat.st_mtime > cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:
                continue  # another process removed it first
            files += 1
            size += stat.st_size
        if files:
            log.info("pruned %s unreferenced audio files (%s bytes)", files, size)
        return PruneResult(files, size)
