"""Narration jobs: one job per lesson version, which synthesizes it once.

The work itself is ``webapp.services.audio.narrate_lesson`` (idempotent per
lesson version and voice); this module requests it from the authoring pages
and runs it as a background job, with its cost in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app

from webapp.extensions import db
from webapp.models import GenerationJob, Lesson, User
from webapp.services.audit import record_audit
from webapp.services.authoring import require_editor
from webapp.services.exceptions import ValidationFailed
from webapp.services.jobs import register_pipeline, request_job


def _provider():
    from webapp.providers.tts import make_speech_provider
    from webapp.settings import get_settings

    return make_speech_provider(get_settings(current_app))


def request_narration(actor: User, lesson: Lesson) -> tuple[GenerationJob, bool]:
    """Queue narration of the lesson's current version (an active job is reused)."""
    require_editor(actor, lesson.course)
    if _provider() is None:
        raise ValidationFailed("No speech provider is configured: install espeak-ng "
                               "(apt-get install espeak-ng) or set TANGENT_TTS_PROVIDER.")
    job, created = request_job(
        actor, kind="narration", subject_key=f"narration:{lesson.id}:{lesson.version}",
        params={"lesson_id": lesson.id, "version": lesson.version},
        course_id=lesson.course_id, lesson_id=lesson.id,
    )
    if created:
        record_audit(actor, "lesson.narration_request", "lesson", lesson.id,
                     {"version": [None, lesson.version]})
    return job, created


def renarrate_if_narrated(actor: User, lesson: Lesson, previous_version: int,
                          ) -> GenerationJob | None:
    """After a save: if the previous version was narrated, queue narration of the new one.

    Returns the job, or None when there was no narration to keep up to date (or no
    provider). Over a quota it raises QuotaExceeded; the save itself stands.
    """
    from sqlalchemy import select

    from webapp.models import AudioAsset
    from webapp.services.audio import IMPORTED_PREFIX

    if lesson.version == previous_version or _provider() is None:
        return None
    narrated = db.session.scalar(select(AudioAsset.id).where(
        AudioAsset.lesson_id == lesson.id, AudioAsset.lesson_version == previous_version,
        AudioAsset.voice.not_like(f"{IMPORTED_PREFIX}%")).limit(1))
    if narrated is None:
        return None
    job, _created = request_narration(actor, lesson)
    return job


class NarrationPipeline:
    """One step: synthesize the lesson version the job was asked for."""

    def __init__(self) -> None:
        self.provider = _provider()

    def steps(self, job: GenerationJob) -> Sequence[str]:
        return ["narrate"]

    def run_step(self, job: GenerationJob, step: str) -> None:
        from webapp.services import audio

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
        asset = audio.narrate_lesson(lesson, self.provider, job=job, actor=actor)
        job.state = {**job.state, "asset_id": asset.id}
        job.provider = self.provider.name


register_pipeline("narration", NarrationPipeline)
