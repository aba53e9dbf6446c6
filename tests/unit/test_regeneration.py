"""Regenerating a lesson: a new revision aligned to the lesson's steps, so every
learner keeps their progress; a concurrent edit wins over the regeneration."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, enroll, make_user
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import GenerationJob, Lesson, LessonRevision, Section, SectionProgress, User
from webapp.services import authoring, progress, regeneration
from webapp.services.regeneration import align_to, split_steps
from webapp.settings import get_settings

SOURCE = "Intro.\n\n## Knead\n\nPush and fold.\n\n## Proof\n\nWait.\n\n## Bake\n\nHot oven.\n"


def test_split_steps_ignores_headings_in_code():
    intro, steps = split_steps("Hi\n\n```md\n## not a step\n```\n\n## Real\n\nBody\n")
    assert intro == "Hi\n\n```md\n## not a step\n```"
    assert steps == [("Real", "Body")]


@pytest.mark.parametrize(("generated", "expected_headings", "keeps"), [
    ("New intro.\n\n## A\n\nnew 1\n\n## B\n\nnew 2\n\n## C\n\nnew 3\n",
     ["Knead", "Proof", "Bake"], ["new 1", "new 2", "new 3", "New intro."]),
    ("## Only one\n\nnew 1\n", ["Knead", "Proof", "Bake"], ["new 1", "Wait.", "Hot oven."]),
    ("## A\n\n1\n\n## B\n\n2\n\n## C\n\n3\n\n## D\n\n4\n", ["Knead", "Proof", "Bake"],
     ["### D\n\n4"]),
])
def test_alignment_keeps_every_step_heading(generated, expected_headings, keeps):
    aligned = align_to(SOURCE, generated)
    assert [h for h, _ in split_steps(aligned)[1]] == expected_headings
    for text in keeps:
        assert text in aligned


def test_a_lesson_without_steps_takes_the_new_text():
    assert align_to("Just one page.\n", "## New\n\nText\n") == "## New\n\nText\n"


@pytest.fixture
def lesson(app_ctx):
    editor = make_user("ed@example.org", role="editor")
    course = authoring.create_course(editor, title="Bread")
    module = authoring.add_module(editor, course, "M")
    lesson = authoring.add_lesson(editor, module, "Loaf", SOURCE)
    authoring.publish(editor, course)
    db.session.commit()
    return lesson


def test_regeneration_is_a_revision_that_keeps_progress(lesson):
    learner = make_user("learner@example.org")
    enroll(learner, lesson.course)
    for section in lesson.sections:
        progress.complete_section(learner, section.id)
    db.session.commit()
    done_before = db.session.scalar(select(func.count()).select_from(SectionProgress))
    keys_before = [s.key for s in lesson.sections]
    editor = db.session.scalar(select(User).filter_by(email="ed@example.org"))
    job, created = regeneration.request_regeneration(editor, lesson,
                                                     settings=get_settings(current_app))
    db.session.commit()
    assert created and runner.run_job(job.id) == "succeeded"
    db.session.expire_all()
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.version == 2 and lesson.source != SOURCE
    assert lesson.ai_provider == "scaffold" and lesson.ai_generated_at is not None
    assert [s.key for s in db.session.scalars(select(Section).where(
        Section.lesson_id == lesson.id).order_by(Section.position))][:len(keys_before)] \
        == keys_before
    assert db.session.scalar(select(func.count()).select_from(SectionProgress)) == done_before
    revision = db.session.scalar(select(LessonRevision).where(LessonRevision.version == 2))
    assert revision.delta["ai_model"] == [None, "scaffold-1"]
    assert authoring.lesson_text_at(lesson, 1)[1] == SOURCE


def test_an_edit_made_meanwhile_wins(lesson):
    editor = db.session.scalar(select(User).filter_by(email="ed@example.org"))
    job, _ = regeneration.request_regeneration(editor, lesson, settings=get_settings(current_app))
    db.session.commit()
    authoring.save_lesson(editor, lesson, base_version=1, title="Loaf", source="Mine.\n")
    db.session.commit()
    assert runner.run_job(job.id) == "failed"
    db.session.refresh(job)
    assert job.error.startswith("save: A newer version (version 2, saved by ")
    assert db.session.get(Lesson, lesson.id).source == "Mine.\n"


def test_regenerate_from_the_editor(app, client, csrf_token, login):
    with app.app_context():
        editor = make_user("ed@example.org", role="editor")
        course = authoring.create_course(editor, title="Bread")
        module = authoring.add_module(editor, course, "M")
        lesson_id = authoring.add_lesson(editor, module, "Loaf", SOURCE).id
        db.session.commit()
    login(client, "ed@example.org", DEFAULT_PASSWORD)
    url = f"/edit/lessons/{lesson_id}"
    response = client.post(f"{url}/regenerate", data={"csrf_token": csrf_token(client, url)})
    assert response.status_code == 303 and "/jobs/" in response.headers["Location"]
    with app.app_context():
        job = db.session.scalar(select(GenerationJob))
        assert (job.kind, job.status) == ("lesson_regeneration", "succeeded")
    assert "Regenerated by AI (scaffold-1)" in client.get(f"{url}/history").get_data(
        as_text=True)
