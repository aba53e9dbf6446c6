"""The explicit registry of job pipelines: what each job kind runs, built from settings.

The runner looks a job's kind up here and builds its pipeline with the app's
settings, so the pipelines (in the services) get their providers and paths as
arguments and never reach for the app themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from webapp.models import GenerationJob
from webapp.providers.text import make_text_provider
from webapp.providers.tts import make_speech_provider
from webapp.services.audio_store import AudioStore
from webapp.services.branches import BranchPipeline
from webapp.services.drafts import CourseDraftPipeline
from webapp.services.narration import NarrationPipeline
from webapp.services.regeneration import RegenerationPipeline
from webapp.settings import Settings


class Pipeline(Protocol):
    """What a job kind does: its steps (which may grow as it learns more) and each step.

    A step flushes its work; the runner commits it with the job's progress."""

    def steps(self, job: GenerationJob) -> Sequence[str]: ...

    def run_step(self, job: GenerationJob, step: str) -> None: ...


def _course_draft(settings: Settings) -> Pipeline:
    return CourseDraftPipeline(make_text_provider(settings))


def _branch(settings: Settings) -> Pipeline:
    return BranchPipeline(make_text_provider(settings))


def _lesson_regeneration(settings: Settings) -> Pipeline:
    return RegenerationPipeline(make_text_provider(settings))


def _narration(settings: Settings) -> Pipeline:
    return NarrationPipeline(make_speech_provider(settings), AudioStore.for_settings(settings))


PIPELINES: dict[str, Callable[[Settings], Pipeline]] = {
    "course_draft": _course_draft,
    "branch": _branch,
    "lesson_regeneration": _lesson_regeneration,
    "narration": _narration,
}
