"""The course-draft pipeline: outline → one step per lesson → starter quiz.

Each step is idempotent and commits with the job's progress (``webapp.jobs.runner``
runs it): the outline step creates the draft course and its modules and stores
their ids in the job's state; a lesson step that finds its lesson id in the
state does nothing, so a job resumed after its worker died never duplicates a
lesson. The draft is owned by the requester, labelled with the provider, model,
prompt version and date, and stays a draft: a person reviews and publishes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from webapp.content.render import slugify
from webapp.extensions import db
from webapp.models import Course, GenerationJob, Lesson, Module, User
from webapp.models.base import utcnow
from webapp.providers.text import LESSON_SCHEMA, OUTLINE_SCHEMA, QUIZ_SCHEMA, TextProvider
from webapp.services import courses as course_service
from webapp.services.authoring import check_source
from webapp.services.exceptions import ValidationFailed
from webapp.services.jobs import record_usage
from webapp.services.quizzes import QuestionSpec, create_quiz, validate_question

MAX_MODULES = 6
MAX_LESSONS_PER_MODULE = 6


def _lesson_keys(outline: dict[str, Any]) -> list[tuple[int, int]]:
    return [(m, n)
            for m, module in enumerate(outline.get("modules", [])[:MAX_MODULES])
            for n, _lesson in enumerate(module.get("lessons", [])[:MAX_LESSONS_PER_MODULE])]


def _stamp(row: Course | Lesson, usage) -> None:
    row.ai_provider = usage.provider
    row.ai_model = usage.model[:120]
    row.ai_prompt_version = usage.prompt_version
    row.ai_generated_at = utcnow()


class CourseDraftPipeline:
    """Steps of a ``course_draft`` job; see the module docstring."""

    def __init__(self, provider: TextProvider) -> None:
        self.provider = provider

    def steps(self, job: GenerationJob) -> Sequence[str]:
        outline = job.state.get("outline")
        if outline is None:
            return ["outline", "quiz"]
        return ["outline", *(f"lesson:{m}:{n}" for m, n in _lesson_keys(outline)), "quiz"]

    def run_step(self, job: GenerationJob, step: str) -> None:
        if step == "outline":
            self._outline(job)
        elif step.startswith("lesson:"):
            _, m, n = step.split(":")
            self._lesson(job, int(m), int(n))
        elif step == "quiz":
            self._quiz(job)
        else:
            raise ValidationFailed(f"unknown step {step!r}")

    def _requester(self, job: GenerationJob) -> User:
        user = db.session.get(User, job.requester_id) if job.requester_id else None
        if user is None:
            raise ValidationFailed("the account that asked for this draft no longer exists")
        return user

    def _outline(self, job: GenerationJob) -> None:
        if job.state.get("outline") is not None:
            return
        topic, level = job.params["topic"], job.params.get("level", "beginner")
        completion = self.provider.complete_json(
            "course_outline", {"topic": topic, "level": level}, OUTLINE_SCHEMA)
        outline = completion.data
        actor = self._requester(job)
        course = course_service.create_course_unchecked(
            actor, title=str(outline["title"])[:160] or topic,
            summary=str(outline.get("summary", ""))[:500],
            level=outline.get("level") if outline.get("level") in ("beginner", "intermediate",
                                                                   "advanced") else level,
        )
        if completion.usage:
            _stamp(course, completion.usage[-1])
        modules = [course_service.add_module_unchecked(actor, course, str(module["title"])[:160])
                   for module in outline["modules"][:MAX_MODULES]]
        job.course_id = course.id
        job.state = {**job.state, "outline": outline, "modules": [m.id for m in modules],
                     "lessons": {}}
        db.session.flush()
        record_usage(job, completion.usage, "outline")

    def _lesson(self, job: GenerationJob, m: int, n: int) -> None:
        key = f"{m}:{n}"
        if key in job.state.get("lessons", {}):
            return
        outline = job.state["outline"]
        module_plan = outline["modules"][m]
        plan = module_plan["lessons"][n]
        completion = self.provider.complete_json("lesson", {
            "topic": job.params["topic"], "level": job.params.get("level", "beginner"),
            "course_title": outline["title"], "module_title": module_plan["title"],
            "lesson_title": plan["title"], "lesson_goal": plan.get("goal", ""),
        }, LESSON_SCHEMA)
        source = check_source(str(completion.data["markdown"]))
        module = db.session.get(Module, job.state["modules"][m])
        if module is None:
            raise ValidationFailed("the draft's module was deleted; the draft cannot continue")
        title = str(plan["title"]).strip()[:160] or f"Lesson {n + 1}"
        lesson = course_service.add_lesson_unchecked(self._requester(job), module, title, source,
                                                     slug=self._free_slug(module.course_id, title))
        if completion.usage:
            _stamp(lesson, completion.usage[-1])
        job.state = {**job.state, "lessons": {**job.state.get("lessons", {}), key: lesson.id}}
        record_usage(job, completion.usage, f"lesson:{key}")

    @staticmethod
    def _free_slug(course_id: int, title: str) -> str:
        base = slugify(title, 70) or "lesson"
        slug, k = base, 2
        while db.session.scalar(select(Lesson.id).where(Lesson.course_id == course_id,
                                                        Lesson.slug == slug)) is not None:
            slug, k = f"{base}-{k}", k + 1
        return slug

    def _quiz(self, job: GenerationJob) -> None:
        if job.state.get("quiz_id") or not job.state.get("modules"):
            return
        outline = job.state["outline"]
        titles = [lesson["title"] for module in outline["modules"] for lesson in module["lessons"]]
        completion = self.provider.complete_json("quiz", {
            "topic": job.params["topic"], "course_title": outline["title"],
            "lesson_titles": "\n".join(f"- {t}" for t in titles),
        }, QUIZ_SCHEMA)
        specs = []
        for raw in completion.data["questions"]:
            choices = [(str(c["text"])[:500], bool(c["correct"])) for c in raw["choices"]]
            spec = QuestionSpec(kind=raw["kind"], prompt=str(raw["prompt"])[:2000],
                                explanation=str(raw.get("explanation", ""))[:2000],
                                choices=choices)
            try:
                validate_question(spec)
            except ValidationFailed:
                continue  # one unusable question does not sink the draft
            specs.append(spec)
        if not specs:
            raise ValidationFailed("the model's quiz had no usable question")
        module = db.session.get(Module, job.state["modules"][-1])
        course = db.session.get(Course, job.course_id)
        quiz = create_quiz(self._requester(job), module,
                           key=f"check-{slugify(course.title, 60) or 'course'}",
                           title=f"Check: {course.title}"[:160], questions=specs)
        job.state = {**job.state, "quiz_id": quiz.id}
        record_usage(job, completion.usage, "quiz")

