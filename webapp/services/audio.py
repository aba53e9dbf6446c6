"""Narration audio: synthesizing a lesson version once per voice into the private store.

Narration is derived data: each asset records the lesson version and voice it
was made from, so an edited lesson gets new narration and unchanged text is
never synthesized twice. The rest of the audio domain has a module each:
``audio_store`` (the content-addressed files), ``audio_access`` (who may hear
an asset), ``audio_text`` (what a narrator reads) and ``audio_import`` (the
one-off import of legacy public audio). The names callers use from those are
importable from here too.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Course, Lesson, User
from webapp.models.jobs import AudioAsset, GenerationJob, ProviderCall
from webapp.providers.tts import (
    MP3_MIME,
    SpeechProvider,
    join_mp3,
    mp3_duration_ms,
    mp3_seconds,
    to_ms,
)
from webapp.services import audio_access
from webapp.services.audio_access import (
    IMPORTED_PREFIX,
    can_listen,
    get_asset_for,
    latest_asset,
    may_listen,
)
from webapp.services.audio_import import ImportReport, import_public_audio, remove_imported_files
from webapp.services.audio_store import AudioStore, UnsafeAudioPath, file_extension
from webapp.services.audio_text import (
    CODE_OMITTED,
    html_to_speech_text,
    narration_text,
    section_texts,
)
from webapp.services.audit import record_audit
from webapp.services.exceptions import NotFound, ValidationFailed

__all__ = [
    "CODE_OMITTED",
    "IMPORTED_PREFIX",
    "AudioStore",
    "ImportReport",
    "UnsafeAudioPath",
    "asset_voice",
    "can_listen",
    "file_extension",
    "get_asset_for",
    "html_to_speech_text",
    "import_public_audio",
    "latest_asset",
    "lessons_of",
    "may_listen",
    "narrate_lesson",
    "narration_text",
    "remove_imported_files",
]


def asset_voice(provider: SpeechProvider) -> str:
    """The voice an asset records: provider and voice, so switching either re-narrates."""
    return f"{provider.name}:{provider.voice}"[:80]


def narrate_lesson(lesson: Lesson, provider: SpeechProvider, store: AudioStore, *,
                   job: GenerationJob | None = None, actor: User | None = None) -> AudioAsset:
    """Narration of the lesson's current version in the provider's voice.

    Idempotent: an existing asset for (lesson, version, voice) is returned and
    nothing is synthesized. Otherwise each section is synthesized on its own
    (so ``section_offsets`` are exact), the pieces are joined, the file is
    written to ``store``, and the asset, a ``ProviderCall`` cost row (added to
    ``job.cost`` when a job is given) and an audit row are added. Flushes only.
    Raises ``SpeechError`` when the provider fails, ``ValidationFailed`` when
    the lesson has nothing to read.
    """
    voice = asset_voice(provider)
    version = lesson.version
    found = audio_access.find_asset(lesson.id, version, voice)
    if found is not None:
        return found
    parts = section_texts(lesson)
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
    storage_name, sha = store.write(audio, "mp3")
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
        winner = audio_access.find_asset(lesson.id, version, voice)
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

