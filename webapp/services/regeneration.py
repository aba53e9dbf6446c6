"""Regenerating a lesson with the AI provider: a proposal an editor reviews, then
publishes (keeping learners' progress) or discards.

Nothing the model writes reaches learners unreviewed. The job's last step stores
the rewrite as a ``LessonProposal``; the lesson itself does not change. The
editor compares it with the lesson, and publishing it is an ordinary revision
(restorable from the history) saved against the version that was rewritten: if
someone edited the lesson meanwhile, the save is an ``EditConflict`` with a
merge, never a silent overwrite. A proposal that still holds the offline
scaffold's prompts for the editor cannot be published until they are written.

Progress hangs on sections, and a section's key comes from its ``##`` heading.
The model is asked to keep the lesson's step headings, and the result is then
aligned to them whatever it wrote: step *n* of the new text goes under the
current heading *n*; a step the model left out keeps its current text; steps it
added are kept as sub-steps (``###``) of the last one. So every current section
key survives and no learner loses progress.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp.content.placeholders import placeholder_lines
from webapp.extensions import db
from webapp.models import GenerationJob, Lesson, LessonProposal, User
from webapp.models.base import utcnow
from webapp.models.jobs import ACTIVE_STATUSES
from webapp.providers.text import LESSON_SCHEMA, TextProvider
from webapp.services.audit import record_audit
from webapp.services.authoring import (
    can_edit,
    check_source,
    lesson_text_at,
    require_editor,
    save_lesson,
)
from webapp.services.exceptions import Conflict, NotFound, ValidationFailed
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


# --- asking for a rewrite -----------------------------------------------------------------


def pending_proposal(lesson: Lesson) -> LessonProposal | None:
    """The rewrite of ``lesson`` waiting for review, if any (there is at most one)."""
    return db.session.scalar(select(LessonProposal).where(
        LessonProposal.lesson_id == lesson.id, LessonProposal.status == "pending"))


def active_regeneration(lesson: Lesson) -> GenerationJob | None:
    """The regeneration job of ``lesson`` that is queued or running, if any."""
    return db.session.scalar(select(GenerationJob).where(
        GenerationJob.lesson_id == lesson.id, GenerationJob.kind == "lesson_regeneration",
        GenerationJob.status.in_(ACTIVE_STATUSES)).order_by(GenerationJob.id.desc()).limit(1))


def request_regeneration(actor: User, lesson: Lesson, *,
                         settings: Settings) -> tuple[GenerationJob, bool]:
    """Queue a rewrite of the lesson's current version: ``(job, created)``.

    The job stores a proposal; the lesson changes only when an editor publishes it.
    While a rewrite of the lesson is being written, that job is returned; while one
    waits for review, no other is started (ValidationFailed).
    """
    require_editor(actor, lesson.course)
    if pending_proposal(lesson) is not None:
        raise ValidationFailed("An AI rewrite of this lesson is already waiting for review: "
                               "publish or discard it before asking for another.")
    running = active_regeneration(lesson)
    if running is not None:
        return running, False
    return request_lesson_job(actor, lesson, kind="lesson_regeneration", subject="regenerate",
                              audit_action="lesson.regeneration_request", settings=settings)


class RegenerationPipeline:
    """``write`` asks the model (its answer is kept in the job, so a resumed job does not
    pay twice); ``propose`` aligns it to the lesson's steps and stores it as a proposal
    for an editor to review. Neither changes the lesson."""

    def __init__(self, provider: TextProvider) -> None:
        self.provider = provider

    def steps(self, job: GenerationJob) -> Sequence[str]:
        return ["write", "propose"]

    def _lesson(self, job: GenerationJob) -> Lesson:
        lesson = db.session.get(Lesson, job.params.get("lesson_id"))
        if lesson is None:
            raise ValidationFailed("the lesson was deleted")
        return lesson

    @staticmethod
    def _base(lesson: Lesson, job: GenerationJob) -> tuple[str, str]:
        """Title and text of the version the editor asked to rewrite (the lesson may
        have moved on since)."""
        try:
            return lesson_text_at(lesson, job.params["version"])
        except NotFound:
            raise ValidationFailed(f"version {job.params['version']} of the lesson is no "
                                   "longer in its history") from None

    def run_step(self, job: GenerationJob, step: str) -> None:
        lesson = self._lesson(job)
        if step == "write":
            self._write(job, lesson)
        elif step == "propose":
            self._propose(job, lesson)
        else:
            raise ValidationFailed(f"unknown step {step!r}")

    def _write(self, job: GenerationJob, lesson: Lesson) -> None:
        if "markdown" in job.state:
            return
        title, source = self._base(lesson, job)
        _intro, steps = split_steps(source)
        headings = "; ".join(f"“{h}”" for h, _body in steps) or "(none: one page)"
        course = lesson.course
        # The model sees the lesson as it stands (the version asked about), so that it
        # improves this text instead of writing another lesson under the same headings.
        completion = self.provider.complete_json("lesson_rewrite", {
            "topic": course.title, "level": course.level, "course_title": course.title,
            "module_title": lesson.module.title, "lesson_title": title,
            "headings": headings, "current_lesson": source,
        }, LESSON_SCHEMA)
        job.state = {**job.state, "markdown": str(completion.data["markdown"])}
        record_usage(job, completion.usage, "write")
        if completion.usage:
            last = completion.usage[-1]
            job.state = {**job.state, "provenance": [last.provider, last.model,
                                                     last.prompt_version]}

    def _propose(self, job: GenerationJob, lesson: Lesson) -> None:
        stored = db.session.scalar(select(LessonProposal.id).where(
            LessonProposal.job_id == job.id))
        if stored is not None:  # the step ran before and committed
            return
        waiting = Conflict("another AI rewrite of this lesson is already waiting for review, "
                           "so this one was not kept (the lesson did not change): publish or "
                           "discard that one, then ask again")
        if pending_proposal(lesson) is not None:
            raise waiting
        title, base_source = self._base(lesson, job)
        provider, model, prompt_version = job.state.get("provenance", ["", "", ""])
        proposal = LessonProposal(
            lesson_id=lesson.id, job_id=job.id, base_version=job.params["version"],
            title=title, source=check_source(align_to(base_source, job.state["markdown"])),
            provider=provider[:40], model=model[:120], prompt_version=prompt_version[:40],
            requested_by_id=job.requester_id,
        )
        try:
            # One pending proposal per lesson (a partial unique index) holds even when
            # two jobs store theirs at the same moment.
            with db.session.begin_nested():
                db.session.add(proposal)
        except IntegrityError:
            raise waiting from None
        requester = db.session.get(User, job.requester_id) if job.requester_id else None
        record_audit(requester, "lesson.proposal_create", "lesson_proposal", proposal.id,
                     {"lesson_id": [None, lesson.id], "base_version": [None,
                                                                        proposal.base_version]})
        job.state = {**job.state, "proposal_id": proposal.id}


# --- reviewing ------------------------------------------------------------------------------


def get_proposal_for(actor: User, proposal_id: int) -> LessonProposal:
    """A proposal of a lesson the actor may edit; anyone else is told it does not exist."""
    proposal = db.session.get(LessonProposal, proposal_id)
    if proposal is None:
        raise NotFound("There is no such AI rewrite.")
    lesson = db.session.get(Lesson, proposal.lesson_id)
    if lesson is None or not can_edit(actor, lesson.course):
        raise NotFound("There is no such AI rewrite.")
    return proposal


def proposal_lesson(proposal: LessonProposal) -> Lesson:
    lesson = db.session.get(Lesson, proposal.lesson_id)
    if lesson is None:
        raise NotFound("There is no such lesson.")
    return lesson


class ProposalDecided(ValidationFailed):
    """The proposal was published or discarded already (in another tab, or by a co-editor)."""

    status = 409

    def __init__(self, proposal: LessonProposal) -> None:
        who = proposal.decided_by.display_name if proposal.decided_by else "someone"
        super().__init__(f"This AI rewrite was already {proposal.status} by {who}.",
                         field="source")


def _require_pending(proposal: LessonProposal) -> None:
    if proposal.status != "pending":
        raise ProposalDecided(proposal)


def refuse_placeholders(source: str) -> None:
    """ValidationFailed, naming the lines, while ``source`` holds the scaffold's prompts."""
    lines = placeholder_lines(source)
    if lines:
        where = ", ".join(str(n) for n in lines[:12]) + (" …" if len(lines) > 12 else "")
        raise ValidationFailed(
            f"This text still has the draft's prompts for the editor (line"
            f"{'s' if len(lines) > 1 else ''} {where}). Write those parts and delete the "
            "prompts (and the “Draft scaffold” note) before publishing.", field="source")


def _decide(actor: User, proposal: LessonProposal, status: str, **extra: list) -> None:
    before = proposal.status
    proposal.status = status
    proposal.decided_by_id = actor.id
    proposal.decided_at = utcnow()
    db.session.flush()
    record_audit(actor, f"lesson.proposal_{status.removesuffix('ed')}", "lesson_proposal",
                 proposal.id, {"status": [before, status], **extra})


def publish_proposal(actor: User, proposal: LessonProposal, *, title: str | None = None,
                     source: str | None = None, base_version: int | None = None) -> Lesson:
    """Make the rewrite (or the editor's edit of it) the lesson's next version.

    An ordinary save against ``base_version`` (the version the rewrite started
    from, unless the editor resolved a conflict since): a lesson edited meanwhile
    raises ``EditConflict``. Refused while the text holds the scaffold's prompts.
    """
    lesson = proposal_lesson(proposal)
    require_editor(actor, lesson.course)
    _require_pending(proposal)
    title = proposal.title if title is None else title
    source = proposal.source if source is None else source
    refuse_placeholders(source)
    base = proposal.base_version if base_version is None else base_version
    extra: dict[str, list] = {"ai_model": [lesson.ai_model, proposal.model],
                              "proposal": [None, proposal.id]}
    if (title, source) != (proposal.title, proposal.source):
        extra["proposal_edited"] = [False, True]
    before = lesson.version
    save_lesson(actor, lesson, base_version=base, title=title, source=source,
                extra_delta=extra)
    lesson.ai_provider, lesson.ai_model = proposal.provider, proposal.model
    lesson.ai_prompt_version, lesson.ai_generated_at = proposal.prompt_version, utcnow()
    proposal.published_version = lesson.version
    _decide(actor, proposal, "published", lesson_version=[before, lesson.version])
    return lesson


def discard_proposal(actor: User, proposal: LessonProposal) -> None:
    """Drop the rewrite; the lesson stays as it is."""
    lesson = proposal_lesson(proposal)
    require_editor(actor, lesson.course)
    _require_pending(proposal)
    _decide(actor, proposal, "discarded")


# --- what a job card says ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProposalState:
    """What became of a regeneration job's proposal, for its job card."""

    id: int
    status: str
    base_version: int
    lesson_version: int
    published_version: int | None
    decided_by: str | None

    @property
    def lesson_changed(self) -> bool:
        """The lesson moved past the rewritten version while the rewrite waits."""
        return self.status == "pending" and self.lesson_version != self.base_version


def proposal_state(job_id: int) -> ProposalState | None:
    """The proposal the job stored, with the lesson's version, in one query."""
    row = db.session.execute(
        select(LessonProposal.id, LessonProposal.status, LessonProposal.base_version,
               Lesson.version, LessonProposal.published_version, User.display_name)
        .join(Lesson, Lesson.id == LessonProposal.lesson_id)
        .outerjoin(User, User.id == LessonProposal.decided_by_id)
        .where(LessonProposal.job_id == job_id)).first()
    return ProposalState(*row) if row is not None else None
