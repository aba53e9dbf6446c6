"""AI rewrites of a lesson over HTTP: "Regenerate with AI" asks for confirmation first
(and says plainly when no AI model is configured), the job card tells what became of the
rewrite, the editor reviews the proposal (rendered, diffed, its placeholders listed) and
publishes it, edits it first or discards it — all with plain forms — and learners read
the lesson unchanged until then."""

from __future__ import annotations

import html
import re
import shutil

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, enroll, make_user, use_lesson_writer
from webapp.content.placeholders import placeholder_lines
from webapp.extensions import db
from webapp.models import AudioAsset, GenerationJob, Lesson, LessonProposal, User
from webapp.models.base import utcnow
from webapp.services import authoring

SOURCE = "Intro.\n\n## Knead\n\nPush and fold.\n\n## Proof\n\nWait.\n"
REWRITE = "A better intro.\n\n## One\n\nFold it twelve times.\n\n## Two\n\nWait an hour.\n"
LEARNER_PAGE = "/courses/bread/lessons/loaf"


@pytest.fixture
def world(app, client, login):
    """The published course "Bread" (one lesson, "Loaf"), its editor signed in on
    ``client``, and a learner enrolled in it."""
    with app.app_context():
        editor = make_user("ed@example.org", role="editor", display_name="Ed")
        course = authoring.create_course(editor, title="Bread")
        module = authoring.add_module(editor, course, "M")
        lesson = authoring.add_lesson(editor, module, "Loaf", SOURCE)
        authoring.publish(editor, course)
        db.session.commit()
        enroll(make_user("learner@example.org"), course)
        lesson_id = lesson.id
    login(client, "ed@example.org", DEFAULT_PASSWORD)
    return {"lesson_id": lesson_id, "editor": f"/edit/lessons/{lesson_id}"}


@pytest.fixture
def learner(app, login):
    learner_client = app.test_client()
    login(learner_client, "learner@example.org", DEFAULT_PASSWORD)
    return learner_client


@pytest.fixture
def with_model(monkeypatch):
    use_lesson_writer(monkeypatch, REWRITE)


def text(response) -> str:
    return response.get_data(as_text=True)


def main(response) -> str:
    """The page's main element, without its forms' per-request CSRF tokens."""
    page = re.search(r"<main.*</main>", text(response), re.S).group(0)
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def token(client, path: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text(client.get(path)))
    assert match, path
    return match.group(1)


def regenerate(client, world) -> str:
    """Confirm a rewrite (the job runs at once in tests); returns the job page's path."""
    confirm = f"{world['editor']}/regenerate"
    response = client.post(confirm, data={"csrf_token": token(client, confirm)})
    assert response.status_code == 303
    assert re.fullmatch(r"/jobs/\d+", response.headers["Location"])
    return response.headers["Location"]


def proposal_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(LessonProposal.id))


def lesson_row(app, lesson_id: int) -> Lesson:
    with app.app_context():
        lesson = db.session.get(Lesson, lesson_id)
        db.session.expunge(lesson)
        return lesson


# --- asking -----------------------------------------------------------------------------------


def test_regenerate_leads_to_a_confirmation_that_says_what_will_happen(client, world):
    editor_page = text(client.get(world["editor"]))
    # The editor's button is a link to the confirmation, not a form that starts a job.
    assert f'href="{world["editor"]}/regenerate" role="button"' in editor_page
    assert f'action="{world["editor"]}/regenerate"' not in editor_page

    page = text(client.get(f"{world['editor']}/regenerate"))
    assert "<h1>Regenerate “Loaf” with AI?</h1>" in page
    assert "proposal for you to review" in page
    assert "Nothing changes for learners" in page
    # The default provider is the offline scaffold: said plainly, before anything starts.
    assert "No AI model is configured on this site." in page
    assert "prompts for you to fill in" in page
    assert f'<form method="post" action="{world["editor"]}/regenerate"' in page
    assert f'href="{world["editor"]}" role="button" class="secondary outline">Cancel</a>' in page


def test_with_a_model_the_confirmation_names_it(client, world, settings_override):
    settings_override(ai_provider="openai", ai_model="gpt-test-mini")
    page = text(client.get(f"{world['editor']}/regenerate"))
    assert "No AI model is configured" not in page
    assert "The AI model (gpt-test-mini) rewrites" in page


def test_a_confirmed_rewrite_waits_for_review_and_learners_see_no_change(
        app, client, world, learner):
    before = main(learner.get(LEARNER_PAGE))
    job_page = text(client.get(regenerate(client, world)))

    assert lesson_row(app, world["lesson_id"]).version == 1
    assert main(learner.get(LEARNER_PAGE)) == before
    assert "✏️ Editor" not in before
    # The card tells the truth: a proposal is ready, and where to review it.
    pid = proposal_id(app)
    assert "Proposal ready for review." in job_page
    assert "Learners see no change until you publish it." in job_page
    assert f'href="/edit/proposals/{pid}" role="button">Review the proposal</a>' in job_page
    assert "Finished" not in job_page and "started" not in job_page.lower()
    # The lesson editor points to it.
    editor_page = text(client.get(world["editor"]))
    assert "An AI rewrite is waiting for your review." in editor_page
    assert f'href="/edit/proposals/{pid}">Review the AI rewrite</a>' in editor_page
    # Another rewrite waits until this one is decided.
    confirm = text(client.get(f"{world['editor']}/regenerate"))
    assert "already waiting for your review" in confirm and "Start the rewrite" not in confirm
    again = client.post(f"{world['editor']}/regenerate",
                        data={"csrf_token": token(client, world["editor"])})
    assert again.headers["Location"] == f"{world['editor']}/regenerate"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 1


# --- reviewing --------------------------------------------------------------------------------


def test_the_review_page_lists_the_scaffolds_prompts_and_offers_no_publish(app, client, world):
    regenerate(client, world)
    pid = proposal_id(app)
    page = text(client.get(f"/edit/proposals/{pid}"))
    assert "<h1>AI rewrite of “Loaf”</h1>" in page
    assert "written by the offline scaffold, not by an AI model" in page
    assert "Learners do not see this rewrite." in page
    with app.app_context():
        lines = placeholder_lines(db.session.get(LessonProposal, pid).source)
    assert f"Still to write: {len(lines)} prompts for the editor" in page
    for number in lines:
        assert f"<strong>Line {number}</strong>" in page
    assert "Publish this version" not in page
    assert f'href="/edit/proposals/{pid}/edit" role="button">Edit before publishing</a>' in page
    assert f'href="/edit/proposals/{pid}/discard" role="button"' in page
    # The rewrite rendered as learners would see it, and a readable diff.
    assert "The rewrite as learners would see it" in page
    assert '<pre class="diff"' in page and 'class="diff-add"' in page
    # Publishing it anyway (an old page, a crafted request) is refused, saying where.
    response = client.post(f"/edit/proposals/{pid}/publish",
                           data={"csrf_token": token(client, f"/edit/proposals/{pid}")})
    assert response.status_code == 400
    assert f"lines {', '.join(map(str, lines))})" in text(response)
    assert lesson_row(app, world["lesson_id"]).version == 1


def test_publish_this_version_makes_it_the_lesson(app, client, world, learner, with_model):
    job_page = regenerate(client, world)
    pid = proposal_id(app)
    page = text(client.get(f"/edit/proposals/{pid}"))
    assert "written by openai · gpt-test" in page and "Still to write" not in page
    assert "Fold it twelve times." in page
    response = client.post(f"/edit/proposals/{pid}/publish",
                           data={"csrf_token": token(client, f"/edit/proposals/{pid}")})
    assert response.status_code == 303 and response.headers["Location"] == world["editor"]
    editor_page = text(client.get(world["editor"]))
    assert "The AI rewrite is published as version 2." in editor_page
    assert "waiting for your review" not in editor_page
    assert "Fold it twelve times." in text(learner.get(LEARNER_PAGE))
    assert "The proposal was published as version 2 of the lesson by Ed." in text(
        client.get(job_page))
    assert "Regenerated by AI (gpt-test)" in text(client.get(f"{world['editor']}/history"))
    # Decided: the review page says so and offers nothing more.
    page = text(client.get(f"/edit/proposals/{pid}"))
    assert "Published as version 2 by Ed" in page and "Publish this version" not in page
    again = client.post(f"/edit/proposals/{pid}/publish",
                        data={"csrf_token": token(client, world["editor"])})
    assert again.status_code == 409 and "already published by Ed" in text(again)


def test_a_lesson_edited_meanwhile_gets_the_conflict_page_not_an_overwrite(
        app, client, world, with_model):
    regenerate(client, world)
    pid = proposal_id(app)
    csrf = token(client, world["editor"])
    saved = client.post(world["editor"], data={
        "csrf_token": csrf, "title": "Loaf", "version": "1",
        "source": SOURCE.replace("Wait.", "Wait until doubled.")})
    assert saved.status_code == 303
    review = text(client.get(f"/edit/proposals/{pid}"))
    assert "The lesson changed after this rewrite started." in review

    response = client.post(f"/edit/proposals/{pid}/publish", data={"csrf_token": csrf})
    assert response.status_code == 409
    page = text(response)
    assert "The lesson changed after this AI rewrite started" in page
    assert "The AI rewrite (not published)" in page
    assert f'<input id="proposal" name="proposal" type="hidden" value="{pid}">' in page
    assert lesson_row(app, world["lesson_id"]).source.endswith("Wait until doubled.\n")
    assert "Publish the merged text as the next version" in page
    # Both changed the last step: the editor keeps both texts there (deleting the marker
    # lines), and publishing the merge from the conflict page publishes the proposal.
    merged = html.unescape(re.search(
        r'<textarea id="source" name="source" rows="20">\n?(.*?)</textarea>', page, re.S
    ).group(1))
    assert "Wait until doubled." in merged and "Wait an hour." in merged
    combined = "\n".join(line for line in merged.splitlines()
                         if not line.startswith(("<<<<<<<", "=======", ">>>>>>>")))
    response = client.post(world["editor"], data={
        "csrf_token": csrf, "title": "Loaf", "version": "2", "proposal": str(pid),
        "source": combined})
    assert response.status_code == 303
    lesson = lesson_row(app, world["lesson_id"])
    assert lesson.version == 3 and "Fold it twelve times." in lesson.source
    with app.app_context():
        proposal = db.session.get(LessonProposal, pid)
        assert (proposal.status, proposal.published_version) == ("published", 3)


def test_edit_before_publishing_loads_the_rewrite_unsaved(app, client, world, learner):
    regenerate(client, world)
    pid = proposal_id(app)
    page = text(client.get(f"/edit/proposals/{pid}/edit"))
    assert "You are editing the AI rewrite of version 1: it is not saved yet." in page
    assert f'<input id="proposal" name="proposal" type="hidden" value="{pid}">' in page
    assert '<input id="version" name="version" type="hidden" value="1">' in page
    assert "✏️ Editor:" in page  # the rewrite's text is in the box
    assert 'value="Publish this version"' in page
    assert lesson_row(app, world["lesson_id"]).version == 1
    csrf = token(client, world["editor"])
    with app.app_context():
        source = db.session.get(LessonProposal, pid).source

    # Saved with the prompts still in: refused, the text kept, the line named.
    response = client.post(world["editor"], data={
        "csrf_token": csrf, "title": "Loaf", "version": "1", "proposal": str(pid),
        "source": source})
    assert response.status_code == 400
    assert "still has the draft&#39;s prompts for the editor (lines" in text(response)
    assert f'value="{pid}"' in text(response)
    assert lesson_row(app, world["lesson_id"]).version == 1

    written = "\n".join(line for line in source.splitlines()
                        if "Editor:" not in line and "Draft scaffold" not in line)
    written = written.replace("## Knead", "## Knead\n\nFold the dough over itself.")
    response = client.post(world["editor"], data={
        "csrf_token": csrf, "title": "Loaf", "version": "1", "proposal": str(pid),
        "source": written})
    assert response.status_code == 303
    assert "The AI rewrite, as you edited it, is published as version 2." in text(
        client.get(world["editor"]))
    assert "Fold the dough over itself." in text(learner.get(LEARNER_PAGE))
    with app.app_context():
        assert db.session.get(LessonProposal, pid).status == "published"


def test_a_rewrite_discarded_in_another_tab_keeps_the_edited_text(app, client, world):
    regenerate(client, world)
    pid = proposal_id(app)
    csrf = token(client, world["editor"])
    assert client.post(f"/edit/proposals/{pid}/discard",
                       data={"csrf_token": csrf}).status_code == 303
    response = client.post(world["editor"], data={
        "csrf_token": csrf, "title": "Loaf", "version": "1", "proposal": str(pid),
        "source": "My own words.\n"})
    assert response.status_code == 409
    page = text(response)
    assert "already discarded by Ed" in page and "My own words." in page
    assert 'name="proposal"' not in page  # the next Save is an ordinary one
    assert lesson_row(app, world["lesson_id"]).version == 1


def test_discard_asks_first_and_leaves_the_lesson(app, client, world):
    job_page = regenerate(client, world)
    pid = proposal_id(app)
    page = text(client.get(f"/edit/proposals/{pid}/discard"))
    assert "<h1>Discard the AI rewrite of “Loaf”?</h1>" in page
    assert f'<form method="post" action="/edit/proposals/{pid}/discard"' in page
    assert f'href="/edit/proposals/{pid}" role="button">Keep it</a>' in page
    response = client.post(f"/edit/proposals/{pid}/discard",
                           data={"csrf_token": token(client, world["editor"])})
    assert response.status_code == 303 and response.headers["Location"] == world["editor"]
    editor_page = text(client.get(world["editor"]))
    assert "The AI rewrite was discarded; the lesson is unchanged." in editor_page
    assert "waiting for your review" not in editor_page
    assert lesson_row(app, world["lesson_id"]).version == 1
    assert "The proposal was discarded by Ed; the lesson did not change." in text(
        client.get(job_page))
    # And a new rewrite can be asked for.
    assert "Start the rewrite" in text(client.get(f"{world['editor']}/regenerate"))


def test_the_forms_need_a_csrf_token(app, client, world):
    regenerate(client, world)
    pid = proposal_id(app)
    for path in (f"{world['editor']}/regenerate", f"/edit/proposals/{pid}/publish",
                 f"/edit/proposals/{pid}/discard"):
        assert client.post(path).status_code == 400
    with app.app_context():
        assert db.session.get(LessonProposal, pid).status == "pending"


def test_other_peoples_proposals_and_impossible_ids_are_not_found(app, client, world, login):
    regenerate(client, world)
    pid = proposal_id(app)
    with app.app_context():
        make_user("other@example.org", role="editor")
    other = app.test_client()
    login(other, "other@example.org", DEFAULT_PASSWORD)
    csrf = token(other, "/edit/")
    for path in ("", "/edit", "/discard"):
        assert other.get(f"/edit/proposals/{pid}{path}").status_code == 404
    for path in ("/publish", "/discard"):
        assert other.post(f"/edit/proposals/{pid}{path}",
                          data={"csrf_token": csrf}).status_code == 404
    for bad in ("2147483648", "9223372036854775808", "1" + "0" * 30, "0"):
        assert client.get(f"/edit/proposals/{bad}").status_code == 404
        assert client.post(f"/edit/proposals/{bad}/publish",
                           data={"csrf_token": csrf}).status_code in (400, 404)
    # A proposal id out of range in the lesson form is bad input, not a crash.
    response = client.post(world["editor"], data={
        "csrf_token": token(client, world["editor"]), "title": "Loaf", "version": "1",
        "source": "x", "proposal": "9223372036854775808"})
    assert response.status_code == 400
    # A proposal of another lesson does not publish into this one.
    with app.app_context():
        lesson = db.session.get(Lesson, world["lesson_id"])
        owner = db.session.get(User, lesson.course.owner_id)
        other_lesson = authoring.add_lesson(owner, lesson.module, "Other", "Hi.\n")
        db.session.commit()
        other_id = other_lesson.id
    response = client.post(f"/edit/lessons/{other_id}", data={
        "csrf_token": token(client, world["editor"]), "title": "Other", "version": "1",
        "source": "Changed.\n", "proposal": str(pid)})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(LessonProposal, pid).status == "pending"
    assert other.get("/edit/proposals/1/edit").status_code == 404
    assert lesson_row(app, world["lesson_id"]).version == 1


def test_narration_follows_the_published_lesson_not_the_proposal(
        app, client, world, with_model):
    with app.app_context():
        db.session.add(AudioAsset(
            lesson_id=world["lesson_id"], lesson_version=1, voice="en", provider="espeak",
            mime_type="audio/mpeg", storage_name="ab/abc.mp3", sha256="a" * 64,
            size_bytes=10, duration_ms=1000))
        db.session.commit()
    regenerate(client, world)
    with app.app_context():
        # The pending proposal is not lesson content: nothing to narrate.
        assert db.session.scalar(select(func.count()).select_from(GenerationJob).where(
            GenerationJob.kind == "narration")) == 0
    assert "Narrated (1 s of audio for version 1)" in text(client.get(world["editor"]))
    pid = proposal_id(app)
    client.post(f"/edit/proposals/{pid}/publish",
                data={"csrf_token": token(client, world["editor"])})
    with app.app_context():
        job = db.session.scalar(select(GenerationJob).where(GenerationJob.kind == "narration"))
        if shutil.which("espeak-ng"):  # the speech provider tests use, when installed
            assert job is not None and job.params["version"] == 2


# --- the job card -----------------------------------------------------------------------------


def test_while_the_rewrite_is_written_the_card_and_editor_say_so(app, client, world,
                                                                 monkeypatch):
    held: list[int] = []
    monkeypatch.setattr("webapp.jobs.runner.enqueue", held.append)
    job_page = text(client.get(regenerate(client, world)))
    assert held and "Waiting for a worker to start it." in job_page
    assert ("You can leave this page: the job keeps going, and nothing changes in the lesson "
            "until you publish the rewrite.") in job_page
    assert f'href="{world["editor"]}">Open the lesson editor</a>' in job_page
    editor_page = text(client.get(world["editor"]))
    assert "An AI rewrite of version 1 is being written" in editor_page
    assert f'href="/jobs/{held[0]}">See how it is going</a>' in editor_page
    # Asking again shows that job rather than starting another.
    confirm = text(client.get(f"{world['editor']}/regenerate"))
    assert "already being rewritten" in confirm and "Start the rewrite" not in confirm
    again = client.post(f"{world['editor']}/regenerate",
                        data={"csrf_token": token(client, world["editor"])})
    assert again.headers["Location"] == f"/jobs/{held[0]}"
    assert "A rewrite of this lesson was already asked for; here is that job." in text(
        client.get(again.headers["Location"]))


def test_a_failed_rewrite_says_why_and_that_the_lesson_did_not_change(app, client, world):
    with app.app_context():
        job = GenerationJob(
            kind="lesson_regeneration", subject_key=f"regenerate:{world['lesson_id']}:1",
            status="failed", finished_at=utcnow(), step="propose", step_index=1, step_count=2,
            params={"lesson_id": world["lesson_id"], "version": 1},
            lesson_id=world["lesson_id"],
            requester_id=db.session.scalar(select(User.id).filter_by(email="ed@example.org")),
            error="propose: another AI rewrite of this lesson is already waiting for review, "
                  "so this one was not kept (the lesson did not change): publish or discard "
                  "that one, then ask again")
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    card = text(client.get(f"/jobs/{job_id}/card", headers={"HX-Request": "true"}))
    assert "another AI rewrite of this lesson is already waiting for review" in card
    assert "The lesson did not change." in card
    assert "Proposal ready" not in card and "Review the proposal" not in card
    assert f'href="{world["editor"]}">Open the lesson editor</a>' in card
