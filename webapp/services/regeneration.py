"""Regenerating a lesson with the AI provider: a new revision that keeps learners' progress.

Progress hangs on sections, and a section's key comes from its ``##`` heading.
The model is asked to keep the lesson's step headings, and the result is then
aligned to them whatever it wrote: step *n* of the new text is saved under the
current heading *n*; a step the model left out keeps its current text; steps
it added are kept as sub-steps (``###``) of the last one. So every current
section key survives and no learner loses progress. The save is an ordinary
revision (restorable from the lesson's history) made against the version the
editor asked to regenerate: if someone edited the lesson meanwhile, the job
fails with a conflict instead of overwriting their work.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from webapp.extensions import db
from webapp.models import GenerationJob, Lesson, User
from webapp.models.base import utcnow
from webapp.providers.text import LESSON_SCHEMA, TextProvider
from webapp.services.authoring import require_editor, save_lesson
from webapp.services.exceptions import ValidationFailed
from webapp.services.jobs import record_usage, request_lesson_job
from webapp.settings import Settings

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_STEP = re.compile(r"^##\s+(.*?)\s*#*\s*$")


def split_steps(source: str) -> tuple[str, list[tuple[str, str]]]:
    """``(introduction, [(heading, body), …])`` at level-2 headings outside code fences."""
    intro: list[str] = []
    steps: list[tuple[str, list[str]]] = []
    fence: str | None = None
    for line in source.replace("\r\n", "\n").split("\n"):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * len(opened.group(1))
        elif fence is not None and line.strip().startswith(fence):
            fence = None
        elif fence is None and (heading := _STEP.match(line)):
            steps.append((heading.group(1), []))
            continue
        (steps[-1][1] if steps else intro).append(line)
    return "\n".join(intro).strip("\n"), [(h, "\n".join(b).strip("\n")) for h, b in steps]


def align_to(current: str, generated: str) -> str:
    """``generated`` re-cut so that it has exactly the step headings of ``current``."""
    _old_intro, old_steps = split_steps(current)
    new_intro, new_steps = split_steps(generated)
    if not old_steps:
        return generated.strip() + "\n"
    parts = [new_intro] if new_intro else []
    for n, (heading, old_body) in enumerate(old_steps):
        body = new_steps[n][1] if n < len(new_steps) else old_body
        if n == len(old_steps) - 1:
            body = "\n\n".join([body, *(f"### {h}\n\n{b}" for h, b in new_steps[n + 1:])])
        parts.append(f"## {heading}\n\n{body.strip()}")
    return "\n\n".join(parts).strip() + "\n"


def request_regeneration(actor: User, lesson: Lesson, *,
                         settings: Settings) -> tuple[GenerationJob, bool]:
    """Queue a rewrite of the lesson's current version by the AI provider."""
    require_editor(actor, lesson.course)
    return request_lesson_job(actor, lesson, kind="lesson_regeneration", subject="regenerate",
                              audit_action="lesson.regeneration_request", settings=settings)


class RegenerationPipeline:
    """``write`` asks the model (its answer is kept in the job, so a resumed job does not
    pay twice); ``save`` aligns it to the lesson's steps and saves a revision."""

    def __init__(self, provider: TextProvider) -> None:
        self.provider = provider

    def steps(self, job: GenerationJob) -> Sequence[str]:
        return ["write", "save"]

    def _lesson(self, job: GenerationJob) -> Lesson:
        lesson = db.session.get(Lesson, job.params.get("lesson_id"))
        if lesson is None:
            raise ValidationFailed("the lesson was deleted")
        return lesson

    def run_step(self, job: GenerationJob, step: str) -> None:
        lesson = self._lesson(job)
        if step == "write":
            if "markdown" in job.state:
                return
            _intro, steps = split_steps(lesson.source or "")
            headings = "; ".join(f"“{h}”" for h, _body in steps) or "(none: one page)"
            course = lesson.course
            completion = self.provider.complete_json("lesson", {
                "topic": course.title, "level": course.level, "course_title": course.title,
                "module_title": lesson.module.title, "lesson_title": lesson.title,
                "lesson_goal": f"a better version of this lesson; keep exactly these step "
                               f"headings, in this order: {headings}",
            }, LESSON_SCHEMA)
            job.state = {**job.state, "markdown": str(completion.data["markdown"])}
            record_usage(job, completion.usage, "write")
            if completion.usage:
                last = completion.usage[-1]
                job.state = {**job.state, "provenance": [last.provider, last.model,
                                                         last.prompt_version]}
            return
        if step != "save":
            raise ValidationFailed(f"unknown step {step!r}")
        requester = db.session.get(User, job.requester_id) if job.requester_id else None
        if requester is None:
            raise ValidationFailed("the account that asked for this no longer exists")
        provider, model, prompt_version = job.state.get("provenance", ["", "", ""])
        source = align_to(lesson.source or "", job.state["markdown"])
        save_lesson(requester, lesson, base_version=job.params["version"], title=lesson.title,
                    source=source, extra_delta={"ai_model": [lesson.ai_model, model]})
        lesson.ai_provider, lesson.ai_model = provider, model[:120]
        lesson.ai_prompt_version, lesson.ai_generated_at = prompt_version, utcnow()
        job.state = {**job.state, "saved_version": lesson.version}

