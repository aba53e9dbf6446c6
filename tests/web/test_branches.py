"""Branch lessons over HTTP: the lesson page's "Go deeper" panel, asking for a branch
(page and htmx partial, validation, CSRF, quotas, permissions), the branch card that
polls and stops with 286, the branch page without JavaScript, progress and promotion."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.jobs import runner
from webapp.models import Branch, BranchProgress, GenerationJob, User
from webapp.settings import get_settings
from webapp.web.polling import CARD_LIMIT

HX = {"HX-Request": "true"}
LESSON = "/courses/bread/lessons/lesson-1-1"


@pytest.fixture
def world(app, make_user, make_learner, make_branch_course):
    """A published course "Bread" with one lesson suggesting the branch "Wild yeast";
    Ada enrolled, Bob enrolled, an editor."""
    with app.app_context():
        course = make_branch_course("Bread", owner=make_user("ed@example.org", role="editor"))
        for email in ("ada@example.org", "bob@example.org"):
            make_learner(email, enrolled_in=course)
        make_user("eve@example.org")
        return {"lesson_id": course.modules[0].lessons[0].id}


@pytest.fixture
def client_for(login):
    def client_for_(app, email: str):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return client_for_


@pytest.fixture
def ada(app, world, client_for):
    return client_for(app, "ada@example.org")


@pytest.fixture
def paused(monkeypatch):
    """The queue holds jobs instead of running them at once (as tests otherwise do)."""
    monkeypatch.setattr(runner, "enqueue", lambda job_id: None)


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def ask(csrf_token):
    def ask_(client, lesson_id: int, topic: str, *, headers=None, token=True):
        data = {"topic": topic}
        if token:
            data["csrf_token"] = csrf_token(client, LESSON)
        return client.post(f"/lessons/{lesson_id}/branches", data=data, headers=headers or {})

    return ask_


def db_count_branches(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Branch))


def only_branch(app) -> tuple[int, int | None]:
    with app.app_context():
        branch = db.session.scalar(select(Branch))
        return branch.id, branch.job_id


# --- the lesson page ----------------------------------------------------------------------


def test_lesson_page_offers_suggestions_and_a_field(ada, world):
    page = text(ada.get(LESSON))
    assert 'id="branch-heading">Go deeper</h2>' in page
    url = f'/lessons/{world["lesson_id"]}/branches'
    # Each suggestion is a real form, enhanced by htmx.
    assert page.count(f'action="{url}"') == 4  # Wild yeast, Step 2, Step 3, own subtopic
    assert page.count(f'hx-post="{url}"') == 4
    assert 'name="topic" value="Wild yeast"' in page
    assert 'minlength="3" maxlength="80"' in page
    assert "No branch lessons yet." in page


def test_lesson_page_for_visitors_and_outsiders(app, client, world, client_for):
    page = text(client.get(LESSON))
    assert "and enroll to ask this lesson" in page and "branch-list" not in page
    eve = client_for(app, "eve@example.org")
    page = text(eve.get(LESSON))
    assert "Enroll in this course to ask for branch lessons" in page
    assert 'name="topic"' not in page


def test_focus_mode_has_no_branch_panel(ada):
    assert "branch-heading" not in text(ada.get(f"{LESSON}?focus=1"))


# --- asking -------------------------------------------------------------------------------------


def test_ask_without_javascript_lands_on_the_status_page(app, ada, world, paused, ask):
    response = ask(ada, world["lesson_id"], "Wild yeast")
    branch_id, job_id = only_branch(app)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/branches/{branch_id}"
    page = text(ada.get(f"/branches/{branch_id}"))
    assert "Waiting for a worker to start it." in page
    assert f'<a id="branch-{branch_id}-refresh" href="/branches/{branch_id}">Refresh status</a>' \
        in page
    # The job runs (a worker would); refreshing shows the branch itself.
    with app.app_context():
        assert runner.run_job(job_id) == "succeeded"
    page = text(ada.get(f"/branches/{branch_id}"))
    assert "<h1 id=\"branch-page-title\">Going deeper: Wild yeast</h1>" in page
    assert "Refresh status" not in page and "Mark as done" in page


def test_ask_with_htmx_returns_the_list_with_a_polling_card(app, ada, world, paused, ask):
    response = ask(ada, world["lesson_id"], "Wild yeast", headers=HX)
    assert response.status_code == 200
    branch_id, _ = only_branch(app)
    page = text(response)
    assert page.startswith('<div id="branch-list"')
    assert f'hx-get="/branches/{branch_id}/card" data-hx-trigger="every 2s"' in page
    assert "HX-Request" in response.headers["Vary"]


def test_ask_runs_the_job_and_the_list_shows_the_ready_branch(app, ada, world, ask):
    response = ask(ada, world["lesson_id"], "Wild yeast", headers=HX)
    branch_id, _ = only_branch(app)
    page = text(response)
    assert f'href="/branches/{branch_id}">Going deeper: Wild yeast</a>' in page
    assert "hx-get" not in page
    # The lesson page lists it too.
    assert f'href="/branches/{branch_id}">Going deeper: Wild yeast</a>' in text(ada.get(LESSON))


def test_a_second_learner_joins_the_same_branch(app, ada, world, paused, ask, client_for):
    ask(ada, world["lesson_id"], "Wild yeast")
    bob = client_for(app, "bob@example.org")
    response = ask(bob, world["lesson_id"], "  WILD   yeast ")
    branch_id, _ = only_branch(app)
    assert response.headers["Location"] == f"/branches/{branch_id}"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GenerationJob)) == 1
    assert bob.get(f"/branches/{branch_id}").status_code == 200


@pytest.mark.parametrize("topic, message", [
    ("", "at least 3 characters"),
    ("x" * 121, "under 120 characters"),
    ("yeast " * 15, "under 80 characters"),
])
@pytest.mark.parametrize("headers", [None, HX])
def test_bad_topics_are_refused_with_the_reason(app, ada, world, topic, message, headers, ask):
    response = ask(ada, world["lesson_id"], topic, headers=headers)
    if headers:
        assert response.status_code == 400
        assert response.headers["HX-Retarget"] == "#branch-topic-error"
        assert message in text(response)
    else:
        assert response.status_code == 303
        assert message in text(ada.get(response.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Branch)) == 0


def test_asking_needs_the_csrf_token(app, ada, world, ask):
    response = ask(ada, world["lesson_id"], "Wild yeast", token=False)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Branch)) == 0


def test_outsiders_and_visitors_cannot_ask(app, client, world, csrf_token, ask, client_for):
    eve = client_for(app, "eve@example.org")
    assert ask(eve, world["lesson_id"], "Wild yeast").status_code == 403
    response = client.post(f"/lessons/{world['lesson_id']}/branches",
                           data={"topic": "Wild yeast", "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert ask(eve, 987654, "Wild yeast").status_code == 404


def test_over_quota_is_429_with_retry_after(app, ada, world, paused, ask):
    original = get_settings(app)
    app.extensions["tangent.settings"] = replace(original, ai_requests_per_minute=1)
    try:
        assert ask(ada, world["lesson_id"], "Wild yeast").status_code == 303
        response = ask(ada, world["lesson_id"], "Yeast starters")
    finally:
        app.extensions["tangent.settings"] = original
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Branch)) == 1


# --- the card ----------------------------------------------------------------------------------


@pytest.fixture
def pending(app, ada, world, paused, ask) -> tuple[int, int]:
    ask(ada, world["lesson_id"], "Wild yeast")
    return only_branch(app)


def test_card_of_a_pending_branch_polls(ada, pending):
    branch_id, _ = pending
    response = ada.get(f"/branches/{branch_id}/card", headers=HX)
    assert response.status_code == 200
    page = text(response)
    assert page.startswith(f'<article id="branch-{branch_id}"')
    assert 'hx-trigger="every 2s"' in page and "Waiting for a worker" in page
    assert '<progress value="0" max="100"' in page


def test_card_shows_the_running_step(app, ada, pending):
    branch_id, job_id = pending
    with app.app_context():
        job = db.session.get(GenerationJob, job_id)
        job.status, job.step, job.step_index, job.step_count = "running", "render", 1, 2
        db.session.commit()
    page = text(ada.get(f"/branches/{branch_id}/card", headers=HX))
    assert "Step 2 of 2: checking and formatting it" in page
    assert '<progress value="50" max="100"' in page


def test_card_of_a_ready_branch_is_286_with_the_branch(app, ada, pending):
    branch_id, job_id = pending
    with app.app_context():
        runner.run_job(job_id)
    response = ada.get(f"/branches/{branch_id}/card", headers=HX)
    assert response.status_code == 286
    page = text(response)
    assert "hx-get" not in page and "Going deeper: Wild yeast" in page
    # No AI model here (the offline default): the truth and the lesson's own sections,
    # never the scaffold's prompts for editors, and no "AI-generated" label.
    assert f'id="branch-{branch_id}-in-this-lesson"' in page
    assert "No AI model is set up on this site" in page
    assert "Editor:" not in page and "AI-generated" not in page
    assert "Mark as done" in page


def test_card_of_a_cancelled_job_is_286_failed(app, ada, pending, csrf_token):
    branch_id, job_id = pending
    ada.post(f"/jobs/{job_id}/cancel", data={"csrf_token": csrf_token(ada, LESSON)})
    response = ada.get(f"/branches/{branch_id}/card", headers=HX)
    assert response.status_code == 286
    assert "could not be written: its job was cancelled" in text(response)
    assert "Try again" in text(response)


def test_card_without_htmx_is_the_status_page(ada, pending):
    branch_id, _ = pending
    response = ada.get(f"/branches/{branch_id}/card")
    assert response.status_code == 200
    assert "<h1>Branch lesson: Wild yeast</h1>" in text(response)


def test_card_polls_are_rate_limited(ada, pending):
    branch_id, _ = pending
    for _ in range(CARD_LIMIT.amount):
        assert ada.get(f"/branches/{branch_id}/card", headers=HX).status_code == 200
    # The limit is a sliding window counter: when the polls above straddle the start of a
    # minute, the earlier minute's share fades while they run and a few more get through
    # (a slow machine meets this). The limit still comes, within another budget's worth.
    for _ in range(CARD_LIMIT.amount + 1):
        limited = ada.get(f"/branches/{branch_id}/card", headers=HX)
        if limited.status_code != 200:
            break
    assert limited.status_code == 429
    wait = int(limited.headers["Retry-After"])
    assert f'hx-trigger="every {wait}s"' in text(limited)
    plain = ada.get(f"/branches/{branch_id}/card")
    assert plain.status_code == 429 and "checked too often" in text(plain)
    assert ada.get(f"/branches/{branch_id}").status_code == 200


def test_other_learners_get_404(app, pending, csrf_token, client_for):
    branch_id, _ = pending
    for email in ("bob@example.org", "eve@example.org"):
        other = client_for(app, email)
        assert other.get(f"/branches/{branch_id}").status_code == 404
        assert other.get(f"/branches/{branch_id}/card", headers=HX).status_code == 404
        assert other.post(f"/branches/{branch_id}/complete",
                          data={"csrf_token": csrf_token(other, LESSON)}).status_code == 404


# --- progress and promotion -----------------------------------------------------------------


@pytest.fixture
def ready_branch(app, ada, world, ask) -> int:
    ask(ada, world["lesson_id"], "Wild yeast")  # runs at once (immediate mode)
    return only_branch(app)[0]


def test_mark_as_done_with_htmx(app, ada, ready_branch, csrf_token):
    response = ada.post(f"/branches/{ready_branch}/complete",
                        data={"csrf_token": csrf_token(ada, LESSON)}, headers=HX)
    assert response.status_code == 200
    assert text(response).startswith(f'<form id="branch-{ready_branch}-done"')
    assert "disabled>Done</button>" in text(response)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BranchProgress)) == 1
    assert "<span class=\"badge\">Done</span>" in text(ada.get(LESSON))


def test_mark_as_done_without_javascript(ada, ready_branch, csrf_token):
    response = ada.post(f"/branches/{ready_branch}/complete",
                        data={"csrf_token": csrf_token(ada, LESSON)})
    assert response.status_code == 303
    assert "disabled>Done</button>" in text(ada.get(f"/branches/{ready_branch}"))


def test_mark_as_done_needs_the_csrf_token(ada, ready_branch):
    assert ada.post(f"/branches/{ready_branch}/complete").status_code == 400


def test_editor_promotes_a_branch_to_the_course(app, ada, ready_branch, csrf_token, client_for):
    assert "Promote" not in text(ada.get(f"/branches/{ready_branch}"))
    assert ada.post(f"/branches/{ready_branch}/promote",
                    data={"csrf_token": csrf_token(ada, LESSON)}).status_code == 403
    bob = client_for(app, "bob@example.org")
    assert bob.get(f"/branches/{ready_branch}").status_code == 404
    ed = client_for(app, "ed@example.org")
    assert "Promote" in text(ed.get(f"/branches/{ready_branch}"))
    response = ed.post(f"/branches/{ready_branch}/promote",
                       data={"csrf_token": csrf_token(ed, LESSON)})
    assert response.status_code == 303
    with app.app_context():
        branch = db.session.get(Branch, ready_branch)
        assert branch.visibility == "course"
        assert branch.promoted_by_id == db.session.scalar(
            select(User.id).where(User.email == "ed@example.org"))
    assert bob.get(f"/branches/{ready_branch}").status_code == 200
    assert "Going deeper: Wild yeast" in text(bob.get(LESSON))


def test_editors_list_what_learners_asked_for_and_promote_or_hide_it(
    app, ada, world, ask, client_for, csrf_token
):
    assert ask(ada, world["lesson_id"], "Wild yeast").status_code == 303
    assert ask(ada, world["lesson_id"], "Something else entirely").status_code == 303
    assert db_count_branches(app) == 1
    branch_id, _job = only_branch(app)
    with app.app_context():
        course_id = db.session.get(Branch, branch_id).course_id
    ed = client_for(app, "ed@example.org")
    listing = ed.get(f"/edit/courses/{course_id}/branches")
    page = text(listing)
    assert listing.status_code == 200
    assert f'href="/branches/{branch_id}">Wild yeast</a>' in page and "1 learner" in page
    assert "Those who asked" in page and ">Promote</button>" in page
    token = csrf_token(ed, f"/edit/courses/{course_id}/branches")
    url = f"/edit/branches/{branch_id}/visibility"
    assert ed.post(url, data={"visibility": "sideways", "csrf_token": token}).status_code == 400
    promoted = ed.post(url, data={"visibility": "course", "csrf_token": token})
    assert promoted.status_code == 303
    assert "Every learner of the course now sees" in text(ed.get(promoted.headers["Location"]))
    hidden = ed.post(url, data={"visibility": "hidden", "csrf_token": token})
    assert hidden.status_code == 303
    with app.app_context():
        assert db.session.get(Branch, branch_id).visibility == "hidden"
    assert ada.get(f"/branches/{branch_id}").status_code == 404
    # Learners neither see the list nor change who sees a branch.
    assert ada.get(f"/edit/courses/{course_id}/branches").status_code in (403, 404)
    assert ada.post(url, data={"visibility": "course",
                               "csrf_token": csrf_token(ada, LESSON)}).status_code in (403, 404)


def test_a_refused_subtopic_is_explained_under_the_field(app, ada, world, ask):
    partial = ask(ada, world["lesson_id"], "<b>yeast</b>", headers=HX)
    assert partial.status_code == 400
    assert partial.headers["HX-Retarget"] == "#branch-topic-error"
    assert 'id="branch-topic-error" class="field-error" role="alert">Name the subtopic in words' \
        in text(partial)
    # Without JavaScript: back to the lesson's panel, with the reason.
    plain = ask(ada, world["lesson_id"], "Quantum chromodynamics")
    assert plain.status_code == 303 and plain.headers["Location"].endswith("#branch-heading")
    assert "none of the words of your subtopic appear in it" in text(
        ada.get(plain.headers["Location"]))
