"""Generation jobs: one active job per subject, quotas, claiming, steps that commit with
their ledger rows, cancelling, failures, and recovery of jobs whose worker died."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from tests.factories import make_user
from webapp.extensions import db
from webapp.jobs import pipelines, runner
from webapp.models import Course, GenerationJob, Lesson, ProviderCall
from webapp.models.base import utcnow
from webapp.models.jobs import JOB_KINDS
from webapp.providers.text import ProviderError, TransientProviderError, Usage
from webapp.services import jobs
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed
from webapp.settings import get_settings


@pytest.fixture
def editor(app_ctx):
    return make_user("ed@example.org", role="editor")


def usage(cost: str = "0.01") -> Usage:
    return Usage(provider="fake", model="fake-1", prompt_version="t.v1", input_tokens=10,
                 output_tokens=5, cost=Decimal(cost), cost_source="configured")


class ScriptedPipeline:
    """Steps a, b, c; each records one provider call. ``fail`` maps step -> exception."""

    runs: list[str] = []
    fail: dict[str, list[Exception]] = {}

    def steps(self, job):
        return ["a", "b", "c"]

    def run_step(self, job, step):
        ScriptedPipeline.runs.append(step)
        queue = ScriptedPipeline.fail.get(step)
        if queue:
            raise queue.pop(0)
        job.state = {**job.state, step: True}
        jobs.record_usage(job, [usage()], step)


@pytest.fixture
def scripted(monkeypatch):
    ScriptedPipeline.runs = []
    ScriptedPipeline.fail = {}
    monkeypatch.setitem(pipelines.PIPELINES, "narration", lambda settings: ScriptedPipeline())
    return ScriptedPipeline


def app_settings():
    """The app's current settings (``settings_override`` may have changed them)."""
    return get_settings(current_app)


def new_job(editor, subject="narration:1:1") -> GenerationJob:
    job, created = jobs.request_job(editor, kind="narration", subject_key=subject, params={},
                                    settings=app_settings())
    db.session.commit()
    assert created
    return job


# --- requesting ---------------------------------------------------------------------------


def test_one_active_job_per_subject(editor):
    first, created = jobs.request_course_draft(editor, topic="  Bread  Baking ",
                                               level="beginner", settings=app_settings())
    db.session.commit()
    again, created_again = jobs.request_course_draft(editor, topic="bread baking",
                                                     level="advanced", settings=app_settings())
    assert created and not created_again and again.id == first.id
    assert first.subject_key == "course:bread baking"
    # The database itself refuses a second active job for the subject.
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(GenerationJob(kind="course_draft", subject_key=first.subject_key,
                                     status="running", params={}, cost=Decimal(0)))
    db.session.rollback()
    first.status, first.finished_at = "failed", utcnow()
    db.session.commit()
    third, created_third = jobs.request_course_draft(editor, topic="Bread baking",
                                                     level="beginner", settings=app_settings())
    assert created_third and third.id != first.id


def test_concurrent_requests_for_one_topic_make_one_job(app, editor):
    """Two sessions (connections) at once: the partial unique index decides."""
    editor_id = editor.id
    db.session.remove()
    barrier = threading.Barrier(2)
    results: list[tuple[int, bool] | str] = []

    def ask() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                user = db.session.get(jobs.User, editor_id)
                job, created = jobs.request_course_draft(user, topic="Knots", level="beginner",
                                                         settings=app_settings())
                db.session.commit()
                results.append((job.id, created))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                db.session.rollback()
                results.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and all(isinstance(r, tuple) for r in results), results
    assert len({job_id for job_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, True]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 1


def test_topic_and_role_validation(editor):
    with pytest.raises(ValidationFailed, match="at least 3"):
        jobs.request_course_draft(editor, topic=" a ", level="beginner", settings=app_settings())
    with pytest.raises(ValidationFailed, match="under 120"):
        jobs.request_course_draft(editor, topic="x" * 121, level="beginner",
                                  settings=app_settings())
    with pytest.raises(ValidationFailed, match="control"):
        jobs.request_course_draft(editor, topic="abc\x07def", level="beginner",
                                  settings=app_settings())
    with pytest.raises(ValidationFailed, match="Level"):
        jobs.request_course_draft(editor, topic="Knots", level="expert", settings=app_settings())
    with pytest.raises(PermissionDenied):
        jobs.request_course_draft(make_user(), topic="Knots", level="beginner",
                                  settings=app_settings())


def test_per_minute_and_daily_quotas(editor, settings_override):
    settings_override(ai_requests_per_minute=2, ai_daily_requests=3)
    new_job(editor, "narration:1:1")
    new_job(editor, "narration:2:1")
    with pytest.raises(jobs.QuotaExceeded, match="2 generations a minute") as caught:
        jobs.request_job(editor, kind="narration", subject_key="narration:3:1", params={},
                         settings=app_settings())
    assert caught.value.status == 429 and 1 <= caught.value.retry_after <= 60
    # Asking again for an active subject is not a new request: no quota needed.
    _, created = jobs.request_job(editor, kind="narration", subject_key="narration:1:1",
                                    params={}, settings=app_settings())
    assert not created
    db.session.execute(update(GenerationJob).values(created_at=utcnow() - timedelta(hours=2)))
    db.session.commit()
    new_job(editor, "narration:3:1")
    with pytest.raises(jobs.QuotaExceeded, match="today's limit of 3"):
        jobs.request_job(editor, kind="narration", subject_key="narration:4:1", params={},
                         settings=app_settings())
    assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 3


def test_monthly_budgets(editor, settings_override):
    settings_override(ai_monthly_budget=Decimal("1.00"), ai_course_monthly_budget=Decimal("0.5"))
    course = Course(slug="c", title="C")
    db.session.add(course)
    db.session.flush()
    db.session.add(ProviderCall(call_key="x", kind="text", provider="p", cost=Decimal("0.5"),
                                cost_source="reported", course_id=course.id))
    db.session.commit()
    with pytest.raises(jobs.QuotaExceeded, match="course's AI budget"):
        jobs.request_job(editor, kind="narration", subject_key="s1", params={},
                         course_id=course.id, settings=app_settings())
    new_job(editor, "s2")  # no course: only the site budget applies, 0.5 of 1.00 used
    db.session.add(ProviderCall(call_key="y", kind="text", provider="p", cost=Decimal("0.5"),
                                cost_source="reported"))
    db.session.commit()
    with pytest.raises(jobs.QuotaExceeded, match="site's AI budget"):
        jobs.request_job(editor, kind="narration", subject_key="s3", params={},
                         settings=app_settings())


# --- running ----------------------------------------------------------------------------------


def test_steps_commit_with_their_costs(editor, scripted):
    job = new_job(editor)
    assert runner.run_job(job.id) == "succeeded"
    db.session.refresh(job)
    assert (job.step_index, job.step_count, job.attempts, job.percent) == (3, 3, 1, 100)
    assert job.cost == Decimal("0.03")
    calls = db.session.scalars(select(ProviderCall).order_by(ProviderCall.id)).all()
    assert [c.call_key for c in calls] == ["a#1.0", "b#1.0", "c#1.0"]
    assert sum(c.cost for c in calls) == job.cost
    assert runner.run_job(job.id) is None  # finished: nothing to claim


def test_a_resumed_job_skips_finished_steps_and_never_double_counts(editor, scripted):
    job = new_job(editor)
    # A worker ran step a, then died in step b: its heartbeat is old.
    scripted.fail["b"] = [RuntimeError("worker died")]
    assert runner.run_job(job.id) == "failed"
    db.session.execute(update(GenerationJob).where(GenerationJob.id == job.id).values(
        status="running", finished_at=None, error="", step_index=1,
        heartbeat_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    assert runner.stale_job_ids(120) == [job.id]
    assert runner.run_job(job.id) == "succeeded"
    assert scripted.runs == ["a", "b", "b", "c"]
    calls = db.session.scalars(select(ProviderCall.call_key).order_by(ProviderCall.id)).all()
    assert calls == ["a#1.0", "b#2.0", "c#2.0"]
    db.session.refresh(job)
    assert job.cost == Decimal("0.03") and job.attempts == 2


def test_a_live_running_job_is_not_taken_over(editor, scripted):
    job = new_job(editor)
    db.session.execute(update(GenerationJob).values(status="running", heartbeat_at=utcnow()))
    db.session.commit()
    assert runner.stale_job_ids(120) == []
    assert runner.run_job(job.id) is None
    assert scripted.runs == []


def test_transient_errors_are_retried_then_fail(editor, scripted):
    job = new_job(editor)
    scripted.fail["b"] = [TransientProviderError("429")]
    sleeps: list[float] = []
    assert runner.run_job(job.id, sleep=sleeps.append) == "succeeded"
    assert sleeps == [2]
    job2 = new_job(editor, "narration:9:9")
    scripted.fail["a"] = [TransientProviderError("503")] * 3
    assert runner.run_job(job2.id, sleep=sleeps.append) == "failed"
    db.session.refresh(job2)
    assert "kept failing" in job2.error and job2.finished_at is not None


def test_provider_and_internal_errors_fail_readably(editor, scripted):
    job = new_job(editor)
    error = ProviderError("the model returned invalid JSON 3 times")
    error.usage = [usage("0.001")] * 3  # the invalid answers were paid for
    scripted.fail["a"] = [error]
    assert runner.run_job(job.id) == "failed"
    db.session.refresh(job)
    assert job.error == "a: the model returned invalid JSON 3 times"
    keys = db.session.scalars(select(ProviderCall.call_key).order_by(ProviderCall.id)).all()
    assert keys == ["a#1-failed1.0", "a#1-failed1.1", "a#1-failed1.2"]
    assert job.cost == Decimal("0.003")
    other = new_job(editor, "narration:7:7")
    scripted.fail["a"] = [KeyError("bug")]
    assert runner.run_job(other.id) == "failed"
    db.session.refresh(other)
    assert "internal error" in other.error


def test_every_job_kind_has_a_pipeline():
    assert set(pipelines.PIPELINES) == set(JOB_KINDS)


def test_a_job_whose_pipeline_cannot_be_built_fails_readably(editor, settings_override):
    job, _ = jobs.request_course_draft(editor, topic="Knots", level="beginner",
                                       settings=app_settings())
    db.session.commit()
    settings_override(ai_provider="magic")
    assert runner.run_job(job.id) == "failed"
    db.session.refresh(job)
    assert job.error.startswith("course_draft: unknown AI provider 'magic'")
    assert job.finished_at is not None


def test_cancel(editor, scripted):
    queued = new_job(editor)
    jobs.cancel_job(editor, queued)
    db.session.commit()
    assert queued.status == "cancelled" and queued.finished_at is not None
    assert runner.run_job(queued.id) is None
    with pytest.raises(ValidationFailed):
        jobs.cancel_job(editor, queued)
    running = new_job(editor, "narration:5:5")
    running.cancel_requested = True
    db.session.commit()
    assert runner.run_job(running.id) == "cancelled"
    assert scripted.runs == []


def test_job_visibility(editor):
    job = new_job(editor)
    assert jobs.get_job_for(editor, job.id) is job
    assert jobs.get_job_for(make_user("admin@example.org", role="admin"), job.id) is job
    with pytest.raises(NotFound):
        jobs.get_job_for(make_user("other@example.org", role="editor"), job.id)
    with pytest.raises(NotFound):
        jobs.get_job_for(editor, 999999)


def test_list_jobs_keyset(editor, settings_override):
    settings_override(ai_requests_per_minute=10)
    for n in range(5):
        new_job(editor, f"narration:{n}:1")
    page, cursor = jobs.list_jobs(page_size=2)
    rest, _ = jobs.list_jobs(page_size=10, before=cursor)
    assert len(page) == 2 and len(rest) == 3
    assert [j.id for j in page + rest] == sorted((j.id for j in page + rest), reverse=True)


# --- the course draft pipeline with the offline scaffold provider ---------------------------


def test_scaffold_course_draft_end_to_end(editor):
    job, _ = jobs.request_course_draft(editor, topic="Bread baking", level="beginner",
                                       settings=app_settings())
    db.session.commit()
    assert runner.run_job(job.id) == "succeeded"
    db.session.refresh(job)
    course = db.session.get(Course, job.course_id)
    assert course.status == "draft" and course.owner_id == editor.id
    assert course.ai_provider == "scaffold" and course.ai_generated_at is not None
    lessons = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)).all()
    assert len(lessons) == len(job.state["lessons"]) == job.step_count - 2
    assert all(lesson.sections and lesson.ai_provider == "scaffold" for lesson in lessons)
    assert job.state["quiz_id"]
    assert job.cost == Decimal(0)
    # Running the finished job again changes nothing.
    assert runner.run_job(job.id) is None
    assert db.session.scalar(select(func.count()).select_from(Lesson)) == len(lessons)


def test_a_draft_from_the_offline_scaffold_cannot_be_published_until_edited(editor):
    """Learners never read the scaffold's prompts: publishing lists every one left."""
    from webapp.content.placeholders import LESSON_MARK
    from webapp.models import Choice, Question, Quiz
    from webapp.services import authoring

    job, _created = jobs.request_course_draft(editor, topic="Sourdough bread",
                                              level="beginner", settings=app_settings())
    db.session.commit()
    assert runner.run_job(job.id) == "succeeded"
    course = db.session.get(Course, db.session.get(GenerationJob, job.id).course_id)
    problems = authoring.publish_problems(course)
    lessons = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)).all()
    assert [p for p in problems if p.startswith("Lesson")] and len(
        [p for p in problems if "still has the draft's prompts" in p and "Lesson" in p]
    ) == len(lessons)
    assert any(p.startswith("Quiz") and "question 1" in p for p in problems)
    with pytest.raises(ValidationFailed, match="still has the draft's prompts"):
        authoring.publish(editor, course)

    # Once an editor has written the lessons and the questions, it publishes.
    for lesson in lessons:
        text = "\n".join(line for line in lesson.source.splitlines()
                         if LESSON_MARK not in line and "Draft scaffold" not in line)
        authoring.save_lesson(editor, lesson, base_version=lesson.version, title=lesson.title,
                              source=text.replace("<Callout kind=\"tip\">\n</Callout>", "")
                              + "\n\nWritten by the editor.\n")
    for question in db.session.scalars(select(Question).join(Quiz)
                                       .where(Quiz.course_id == course.id)):
        question.prompt = f"A real question {question.id}?"
        question.explanation = "Because."
        for choice in db.session.scalars(select(Choice).where(Choice.question_id == question.id)):
            choice.text = f"Answer {choice.id}" if choice.text.startswith("Editor") else choice.text
    db.session.flush()
    assert authoring.publish_problems(course) == []
