"""Regenerating a lesson: the job stores a proposal and the lesson stays as learners know
it; an editor publishes the proposal (a revision aligned to the lesson's steps, so every
learner keeps their progress), or discards it. Edits made meanwhile are never overwritten
and the offline scaffold's prompts are never published."""

from __future__ import annotations

import pytest
from flask import current_app
from sqlalchemy import func, select

from tests.factories import LessonWriter, enroll, make_user, use_lesson_writer
from webapp.content.placeholders import placeholder_lines
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import (
    AuditEvent,
    GenerationJob,
    Lesson,
    LessonProposal,
    LessonRevision,
    Section,
    SectionProgress,
    User,
)
from webapp.services import authoring, progress, regeneration
from webapp.services.exceptions import NotFound, PermissionDenied, ValidationFailed
from webapp.services.regeneration import align_to, split_steps
from webapp.settings import get_settings

SOURCE = "Intro.\n\n## Knead\n\nPush and fold.\n\n## Proof\n\nWait.\n\n## Bake\n\nHot oven.\n"
REWRITE = ("A better intro.\n\n## One\n\nFold it twelve times.\n\n## Two\n\nWait an hour.\n\n"
           "## Three\n\nBake at 230 °C.\n")


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
def with_model(monkeypatch):
    """Jobs get a stand-in AI model that writes ``REWRITE``, not the offline scaffold."""
    use_lesson_writer(monkeypatch, REWRITE)


@pytest.fixture
def lesson(app_ctx):
    editor = make_user("ed@example.org", role="editor")
    course = authoring.create_course(editor, title="Bread")
    module = authoring.add_module(editor, course, "M")
    lesson = authoring.add_lesson(editor, module, "Loaf", SOURCE)
    authoring.publish(editor, course)
    db.session.commit()
    return lesson


def _editor(email: str = "ed@example.org") -> User:
    return db.session.scalar(select(User).filter_by(email=email))


def _regenerate(lesson: Lesson, editor: User | None = None) -> GenerationJob:
    job, created = regeneration.request_regeneration(editor or _editor(), lesson,
                                                     settings=get_settings(current_app))
    db.session.commit()
    assert created and runner.run_job(job.id) == "succeeded"
    db.session.expire_all()
    return db.session.get(GenerationJob, job.id)


def _section_html(lesson_id: int) -> list[tuple[str, str]]:
    return list(db.session.execute(select(Section.key, Section.html).where(
        Section.lesson_id == lesson_id).order_by(Section.position)).tuples())


def test_regeneration_stores_a_proposal_and_learners_still_read_the_lesson(lesson, with_model):
    learner = make_user("learner@example.org")
    enroll(learner, lesson.course)
    progress.complete_section(learner, lesson.sections[0].id)
    db.session.commit()
    sections_before = _section_html(lesson.id)

    job = _regenerate(lesson)

    lesson = db.session.get(Lesson, lesson.id)
    assert (lesson.version, lesson.source, lesson.ai_provider) == (1, SOURCE, None)
    assert _section_html(lesson.id) == sections_before
    assert db.session.scalar(select(func.count()).select_from(LessonRevision)) == 1
    assert db.session.scalar(select(func.count()).select_from(SectionProgress)) == 1
    proposal = regeneration.pending_proposal(lesson)
    assert proposal is not None and proposal.job_id == job.id
    assert (proposal.base_version, proposal.title, proposal.status) == (1, "Loaf", "pending")
    assert (proposal.provider, proposal.model) == ("openai", "gpt-test")
    assert proposal.requested_by_id == _editor().id
    # Aligned to the lesson's step headings, so publishing keeps every section key.
    assert [h for h, _ in split_steps(proposal.source)[1]] == ["Knead", "Proof", "Bake"]
    assert "Fold it twelve times." in proposal.source
    assert job.state["proposal_id"] == proposal.id
    assert db.session.scalar(select(AuditEvent.target_id).where(
        AuditEvent.action == "lesson.proposal_create")) == proposal.id


def test_running_the_job_again_stores_one_proposal(lesson, with_model):
    job = _regenerate(lesson)
    regeneration.RegenerationPipeline(LessonWriter(REWRITE)).run_step(job, "propose")
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(LessonProposal)) == 1


def test_publishing_the_proposal_is_a_revision_that_keeps_progress(lesson, with_model):
    learner = make_user("learner@example.org")
    enroll(learner, lesson.course)
    for section in lesson.sections:
        progress.complete_section(learner, section.id)
    db.session.commit()
    keys_before = [s.key for s in lesson.sections]
    done_before = db.session.scalar(select(func.count()).select_from(SectionProgress))
    _regenerate(lesson)
    proposal = regeneration.pending_proposal(db.session.get(Lesson, lesson.id))

    lesson = regeneration.publish_proposal(_editor(), proposal)
    db.session.commit()

    db.session.expire_all()
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.version == 2 and "Fold it twelve times." in lesson.source
    assert (lesson.ai_provider, lesson.ai_model) == ("openai", "gpt-test")
    assert lesson.ai_generated_at is not None
    assert [s.key for s in lesson.sections][:len(keys_before)] == keys_before
    assert db.session.scalar(select(func.count()).select_from(SectionProgress)) == done_before
    revision = db.session.scalar(select(LessonRevision).where(LessonRevision.version == 2))
    assert revision.delta["ai_model"] == [None, "gpt-test"]
    assert revision.actor_id == _editor().id
    assert authoring.lesson_text_at(lesson, 1)[1] == SOURCE
    proposal = db.session.get(LessonProposal, proposal.id)
    assert (proposal.status, proposal.published_version) == ("published", 2)
    assert proposal.decided_by_id == _editor().id and proposal.decided_at is not None
    assert db.session.scalar(select(AuditEvent.delta).where(
        AuditEvent.action == "lesson.proposal_publish")) == {
            "status": ["pending", "published"], "lesson_version": [1, 2]}


def test_an_edit_made_meanwhile_is_a_conflict_not_an_overwrite(lesson, with_model):
    _regenerate(lesson)
    lesson = db.session.get(Lesson, lesson.id)
    authoring.save_lesson(_editor(), lesson, base_version=1, title="Loaf",
                          source=SOURCE.replace("Hot oven.", "Very hot oven."))
    db.session.commit()
    proposal = regeneration.pending_proposal(lesson)

    with pytest.raises(authoring.EditConflict) as caught:
        regeneration.publish_proposal(_editor(), proposal)
    db.session.rollback()

    assert caught.value.current_version == 2
    assert caught.value.yours["source"] == proposal.source
    # The three-way merge keeps both: the rewrite's steps and the later edit.
    assert "Fold it twelve times." in caught.value.merged_source
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.version == 2 and "Very hot oven." in lesson.source
    assert db.session.get(LessonProposal, proposal.id).status == "pending"


def test_the_merged_text_publishes_the_proposal(lesson, with_model):
    _regenerate(lesson)
    lesson = db.session.get(Lesson, lesson.id)
    authoring.save_lesson(_editor(), lesson, base_version=1, title="Loaf", source=SOURCE + "x\n")
    db.session.commit()
    proposal = regeneration.pending_proposal(lesson)
    regeneration.publish_proposal(_editor(), proposal, title="Loaf",
                                  source=proposal.source + "x\n", base_version=2)
    db.session.commit()
    assert db.session.get(Lesson, lesson.id).version == 3
    revision = db.session.scalar(select(LessonRevision).where(LessonRevision.version == 3))
    assert revision.delta["proposal_edited"] == [False, True]
    assert db.session.get(LessonProposal, proposal.id).published_version == 3


def test_discarding_leaves_the_lesson_alone(lesson, with_model):
    _regenerate(lesson)
    proposal = regeneration.pending_proposal(db.session.get(Lesson, lesson.id))
    regeneration.discard_proposal(_editor(), proposal)
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Lesson, lesson.id).version == 1
    proposal = db.session.get(LessonProposal, proposal.id)
    assert proposal.status == "discarded" and proposal.published_version is None
    assert regeneration.pending_proposal(db.session.get(Lesson, lesson.id)) is None
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.target_type == "lesson_proposal", AuditEvent.target_id == proposal.id,
        AuditEvent.action != "lesson.proposal_create")) == "lesson.proposal_discard"
    with pytest.raises(regeneration.ProposalDecided):
        regeneration.publish_proposal(_editor(), proposal)
    with pytest.raises(regeneration.ProposalDecided):
        regeneration.discard_proposal(_editor(), proposal)


def test_the_scaffolds_prompts_are_never_published(lesson):
    # No model configured: the offline scaffold writes prompts for the editor.
    _regenerate(lesson)
    proposal = regeneration.pending_proposal(db.session.get(Lesson, lesson.id))
    assert proposal.provider == "scaffold" and "✏️ Editor:" in proposal.source
    # Every line of the scaffold's own text is a marked prompt, including the one that
    # repeats the instruction given to the model.
    instruction = [n for n, line in enumerate(proposal.source.splitlines(), 1)
                   if "keep exactly these step headings" in line]
    assert instruction and set(instruction) <= set(placeholder_lines(proposal.source))
    with pytest.raises(ValidationFailed) as caught:
        regeneration.publish_proposal(_editor(), proposal)
    db.session.rollback()
    lines = placeholder_lines(proposal.source)
    assert len(lines) > 2
    assert f"lines {', '.join(map(str, lines))})" in caught.value.message
    assert caught.value.field == "source"
    # Edited, but one prompt left: still refused, and that line is named.
    rest = proposal.source.splitlines()
    kept = [line for line in rest if "✏️ Editor:" not in line and "Draft scaffold" not in line]
    edited = "\n".join([*kept, "", "> ✏️ Editor: one left"]) + "\n"
    with pytest.raises(ValidationFailed, match=f"line {len(kept) + 2}\\)"):
        regeneration.publish_proposal(_editor(), proposal, source=edited)
    db.session.rollback()
    assert db.session.get(Lesson, lesson.id).version == 1
    regeneration.publish_proposal(_editor(), proposal, source="\n".join(kept) + "\n")
    db.session.commit()
    assert db.session.get(Lesson, lesson.id).version == 2


def test_only_editors_of_the_course_see_and_decide_a_proposal(lesson, with_model):
    _regenerate(lesson)
    proposal = regeneration.pending_proposal(db.session.get(Lesson, lesson.id))
    stranger = make_user("other@example.org", role="editor")
    learner = make_user("learner@example.org")
    for outsider in (stranger, learner):
        with pytest.raises(NotFound):
            regeneration.get_proposal_for(outsider, proposal.id)
        with pytest.raises(PermissionDenied):
            regeneration.publish_proposal(outsider, proposal)
        with pytest.raises(PermissionDenied):
            regeneration.discard_proposal(outsider, proposal)
    with pytest.raises(NotFound):
        regeneration.get_proposal_for(stranger, 2**31 - 1)
    co_editor = make_user("co@example.org", role="editor")
    authoring.invite_editor(_editor(), db.session.get(Lesson, lesson.id).course,
                            "co@example.org")
    db.session.commit()
    assert regeneration.get_proposal_for(co_editor, proposal.id) == proposal
    regeneration.publish_proposal(co_editor, proposal)
    db.session.commit()
    assert db.session.get(Lesson, lesson.id).version == 2


def test_one_rewrite_at_a_time(lesson, with_model):
    settings = get_settings(current_app)
    job, created = regeneration.request_regeneration(_editor(), lesson, settings=settings)
    db.session.commit()
    # While it is being written, asking again returns that job.
    again, created = regeneration.request_regeneration(_editor(), lesson, settings=settings)
    assert (again.id, created) == (job.id, False)
    assert runner.run_job(job.id) == "succeeded"
    # While its proposal waits for review, no other rewrite starts.
    with pytest.raises(ValidationFailed, match="already waiting for review"):
        regeneration.request_regeneration(_editor(), db.session.get(Lesson, lesson.id),
                                          settings=settings)


def test_a_second_proposal_for_the_lesson_fails_its_job_and_says_why(lesson, with_model):
    settings = get_settings(current_app)
    first, _ = regeneration.request_regeneration(_editor(), lesson, settings=settings)
    db.session.commit()
    # A second job of another version, asked for just before the first one's proposal.
    authoring.save_lesson(_editor(), lesson, base_version=1, title="Loaf", source=SOURCE + "x\n")
    db.session.commit()
    second, _ = regeneration.request_lesson_job(
        _editor(), db.session.get(Lesson, lesson.id), kind="lesson_regeneration",
        subject="regenerate", audit_action="lesson.regeneration_request", settings=settings)
    db.session.commit()
    assert runner.run_job(first.id) == "succeeded"
    assert runner.run_job(second.id) == "failed"
    second = db.session.get(GenerationJob, second.id)
    assert "another AI rewrite of this lesson is already waiting for review" in second.error
    assert db.session.scalar(select(func.count()).select_from(LessonProposal)) == 1


def test_the_job_card_state_follows_the_proposal(lesson, with_model):
    job = _regenerate(lesson)
    state = regeneration.proposal_state(job.id)
    assert (state.status, state.base_version, state.lesson_version) == ("pending", 1, 1)
    assert not state.lesson_changed
    authoring.save_lesson(_editor(), db.session.get(Lesson, lesson.id), base_version=1,
                          title="Loaf", source=SOURCE + "x\n")
    db.session.commit()
    assert regeneration.proposal_state(job.id).lesson_changed
    regeneration.discard_proposal(_editor(), db.session.get(LessonProposal, state.id))
    db.session.commit()
    state = regeneration.proposal_state(job.id)
    assert (state.status, state.decided_by) == ("discarded", _editor().display_name)
    assert regeneration.proposal_state(job.id + 1000) is None


def test_the_model_is_shown_the_lesson_as_it_stands(lesson):
    """The rewrite prompt carries the lesson's text and the headings to keep, over real
    HTTP to an OpenAI-compatible server; the model's answer becomes the proposal."""
    from dataclasses import replace

    from tests.fake_openai import chat_reply, fake_openai_server
    from webapp.providers.text import make_text_provider

    with fake_openai_server() as server:
        server.push(chat_reply({"markdown": REWRITE}))
        settings = replace(get_settings(current_app), ai_provider="openai",
                           ai_base_url=server.url, ai_model="test-model", ai_api_key="k")
        job, _created = regeneration.request_regeneration(_editor(), lesson, settings=settings)
        db.session.commit()
        pipeline = regeneration.RegenerationPipeline(make_text_provider(settings))
        pipeline.run_step(job, "write")
        [request] = server.requests
    user_message = request.json()["messages"][-1]["content"]
    assert "Push and fold." in user_message and "Hot oven." in user_message
    assert "“Knead”; “Proof”; “Bake”" in user_message
    assert job.state["markdown"] == REWRITE
    assert job.state["provenance"][2] == "lesson_rewrite.v1"
