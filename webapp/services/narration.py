"""Narration jobs: one job per lesson version, which synthesizes it once.

The work itself is ``webapp.services.audio.narrate_lesson`` (idempotent per
lesson version and voice); this module requests it from the authoring pages
and runs it as a background job, with its cost in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AudioAsset, GenerationJob, Lesson, User
from webapp.providers.tts import SpeechProvider, make_speech_provider
from webapp.services import audio
from webapp.services.audio_access import IMPORTED_PREFIX
from webapp.services.audio_store import AudioStore
from webapp.services.authoring import require_editor
from webapp.services.exceptions import ValidationFailed
from webapp.services.jobs import request_lesson_job
from webapp.settings import Settings

NO_PROVIDER = ("No speech provider is configured: install espeak-ng "
               "(apt-get install espeak-ng) or set TANGENT_TTS_PROVIDER.")


def request_narration(actor: User, lesson: Lesson, *,
                      settings: Settings) -> tuple[GenerationJob, bool]:
    """Queue narration of the lesson's current version (an active job is reused)."""
    require_editor(actor, lesson.course)
    if make_speech_provider(settings) is None:
        raise ValidationFailed(NO_PROVIDER)
    return request_lesson_job(actor, lesson, kind="narration", subject="narration",
                              audit_action="lesson.narration_request", settings=settings)


def renarrate_if_narrated(actor: User, lesson: Lesson, previous_version: int, *,
                          settings: Settings) -> GenerationJob | None:
    """After a save: if the previous version was narrated, queue narration of the new one.

    Returns the job, or None when there was no narration to keep up to date (or no
    provider). Over a quota it raises QuotaExceeded; the save itself stands.
    """
    if lesson.version == previous_version or make_speech_provider(settings) is None:
        return None
    narrated = db.session.scalar(select(AudioAsset.id).where(
        AudioAsset.lesson_id == lesson.id, AudioAsset.lesson_version == previous_version,
        AudioAsset.voice.not_like(f"{IMPORTED_PREFIX}%")).limit(1))
    if narrated is None:
        return None
    job, _created = request_narration(actor, lesson, settings=settings)
    return job


class NarrationPipeline:
    """One step: synthesize the lesson version the job was asked for, into ``store``."""

    def __init__(self, provider: SpeechProvider | None, store: AudioStore) -> None:
        self.provider, self.store = provider, store

    def steps(self, job: GenerationJob) -> Sequence[str]:
        return ["narrate"]

    def run_step(self, job: GenerationJob, step: str) -> None:
        if self.provider is None:
            raise ValidationFailed("no speech provider is configured")
        lesson = db.session.get(Lesson, job.params.get("lesson_id"))
        if lesson is None:
            raise ValidationFailed("the lesson was deleted")
        if lesson.version != job.params.get("version"):
            # Edited since: narrate what learners now read (its own subject key is
            # free for a later request; the result is the same idempotent asset).
            job.params = {**job.params, "narrated_version": lesson.version}
        actor = db.session.get(User, job.requester_id) if job.requester_id else None
        asset = audio.narrate_lesson(lesson, self.provider, self.store, job=job, actor=actor)
        job.state = {**job.state, "asset_id": asset.id}
        job.provider = self.provider.name
