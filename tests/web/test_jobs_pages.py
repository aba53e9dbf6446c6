"""Job pages over HTTP: asking for an AI course draft (validation, quotas, the offline
scaffold provider end to end), the status page and its polling card (page and htmx
partial, 286 when finished, back-off, rate limit), cancelling, the drafts list,
permissions, and the admin job list, cost ledger and CSV export."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from flask import render_template
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Course, GenerationJob, ProviderCall, User
from webapp.models.base import utcnow
from webapp.services import costs
from webapp.services.costs import format_money
from webapp.web.jobs.views import money
from webapp.web.polling import CARD_LIMIT, poll_seconds

HX = {"HX-Request": "true"}
_n = itertools.count(1)


@pytest.fixture
def signed_in(login, make_user):
    def signed_in_(app, email: str, role: str):
        with app.app_context():
            make_user(email, role=role, display_name=email.split("@")[0].capitalize())
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return signed_in_


@pytest.fixture
def ed(app, signed_in):
    return signed_in(app, "ed@example.org", "editor")


@pytest.fixture
def admin(app, signed_in):
    return signed_in(app, "admin@example.org", "admin")


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def make_job(app, email: str = "ed@example.org", *, status: str = "running",
             age: timedelta = timedelta(seconds=5), **kw) -> int:
    """A job row written directly (no queue), requested by ``email``; returns its id."""
    n = next(_n)
    finished = status in ("succeeded", "failed", "cancelled")
    with app.app_context():
        job = GenerationJob(
            kind=kw.pop("kind", "course_draft"), subject_key=f"course:topic {n}", status=status,
            params={"topic": kw.pop("topic", f"Topic {n}"), "level": "beginner"},
            requester_id=user_id(app, email), created_at=utcnow() - age,
            finished_at=utcnow() if finished else None, cost=kw.pop("cost", Decimal(0)), **kw)
        db.session.add(job)
        db.session.commit()
        return job.id


def job_row(app, job_id: int) -> GenerationJob:
    with app.app_context():
        job = db.session.get(GenerationJob, job_id)
        db.session.expunge(job)
        return job


def count_jobs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(GenerationJob))


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def post_draft(csrf_token):
    def post_draft_(client, topic: str, level: str = "beginner", **kwargs):
        token = csrf_token(client, "/edit/drafts/new")
        return client.post("/edit/drafts/new", data={"topic": topic, "level": level,
                                                     "csrf_token": token}, **kwargs)

    return post_draft_


# --- asking for a draft ----------------------------------------------------------------------


def test_draft_form_explains_what_happens(ed):
    page = text(ed.get("/edit/drafts/new"))
    assert "Tangent drafts the outline, lessons and a starter quiz as a draft course for you " \
           "to review; it is never published without you." in page
    assert '<option value="intermediate">Intermediate</option>' in page


@pytest.mark.parametrize("topic, message", [
    ("ab", "Use 3 to 120 characters."),
    ("  a  ", "Use 3 to 120 characters."),
    ("x" * 121, "Use 3 to 120 characters."),
    ("", "Say what the course should be about."),
    ("abc\x07def", "The topic contains control characters."),  # the service's own check
])
def test_draft_form_validation_is_400(app, ed, topic, message, post_draft):
    response = post_draft(ed, topic)
    assert response.status_code == 400
    assert message in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert count_jobs(app) == 0


def test_draft_form_refuses_an_unknown_level(app, ed, post_draft):
    response = post_draft(ed, "Bread baking", level="expert")
    assert response.status_code == 400 and count_jobs(app) == 0


def test_over_quota_is_429_with_retry_after_and_no_job(app, ed, settings_override, post_draft):
    settings_override(ai_requests_per_minute=1)
    make_job(app, status="succeeded")
    response = post_draft(ed, "Bread baking")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    page = text(response)
    assert "1 generations a minute" in page and 'role="alert"' in page
    assert 'value="Bread baking"' in page  # the form is kept
    assert count_jobs(app) == 1


def test_a_draft_runs_with_the_scaffold_provider(app, ed, post_draft):
    response = post_draft(ed, "Bread baking", level="intermediate")
    assert response.status_code == 303
    match = re.fullmatch(r"/jobs/(\d+)", response.headers["Location"])
    assert match
    job = job_row(app, int(match.group(1)))
    # Tests run jobs immediately: the draft is there by the time the page redirects.
    assert job.status == "succeeded" and job.course_id
    ed_id = user_id(app, "ed@example.org")
    with app.app_context():
        course = db.session.get(Course, job.course_id)
        assert course.status == "draft" and course.published_at is None
        assert course.owner_id == ed_id
        assert course.ai_provider == "scaffold" and course.level == "intermediate"
    page = text(ed.get(response.headers["Location"]))
    # No "Drafting started" flash above a card that says the draft is done: the card is
    # the one place that says how the job is going.
    assert "Drafting started" not in page and 'class="flash' not in page
    assert "Finished: all" in page and "You can leave this page" not in page
    # Nor does one turn up on the next page.
    assert 'class="flash' not in text(ed.get("/edit/drafts"))
    assert "AI-generated draft: review before publishing" in page
    assert f'href="/edit/courses/{job.course_id}"' in page
    # The card stops polling (the header's notification badge polls on every page).
    assert f'hx-get="/jobs/{job.id}/card"' not in page and "Refresh status" not in page


def test_an_active_draft_for_the_same_topic_is_reused(app, ed, post_draft):
    job_id = make_job(app, status="running")
    with app.app_context():
        db.session.get(GenerationJob, job_id).subject_key = "course:bread baking"
        db.session.commit()
    response = post_draft(ed, "  Bread   BAKING ")
    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{job_id}"
    assert "A draft for this topic was already asked for; here it is." in text(
        ed.get(f"/jobs/{job_id}"))
    assert count_jobs(app) == 1


# --- the status page and its polling card ------------------------------------------------------


def test_card_of_a_running_job_polls(app, ed):
    job_id = make_job(app, step="lesson:0:1", step_index=2, step_count=8,
                      cost=Decimal("0.012"))
    response = ed.get(f"/jobs/{job_id}/card", headers=HX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    # One root element with the job's id, which replaces itself (then the header's unread
    # badge, out of band).
    body = text(response).strip().split('<span id="notification-badge"')[0].strip()
    assert body.startswith(f'<article id="job-{job_id}"') and body.endswith("</article>")
    assert body.count("<article") == 1 and "<html" not in body
    assert f'hx-get="/jobs/{job_id}/card"' in body
    assert 'hx-trigger="every 2s"' in body and 'hx-swap="outerHTML"' in body
    assert "Step 3 of 8: module 1, lesson 2" in body
    assert '<progress value="25" max="100"' in body
    assert "0.012" in body  # cost so far
    assert "AI-generated draft: review before publishing" in body
    # Without JavaScript: a link that reloads the status page, and a real form to cancel.
    assert re.search(rf'<a id="job-{job_id}-refresh" href="/jobs/{job_id}">Refresh status</a>',
                     body)
    assert f'<form method="post" action="/jobs/{job_id}/cancel"' in body
    assert f'hx-post="/jobs/{job_id}/cancel"' in body


def test_status_page_includes_the_card(app, ed):
    job_id = make_job(app, step="outline", step_index=0, step_count=2)
    response = ed.get(f"/jobs/{job_id}")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    page = text(response)
    assert "<html" in page and f'<article id="job-{job_id}"' in page
    assert 'hx-trigger="every 2s"' in page and "Step 1 of 2: outline" in page
    assert "You can leave this page: the job keeps going." in page
    assert "css/jobs.css" in page
    # The card address without htmx (a bookmarked link) is the full page, never a 286.
    full = ed.get(f"/jobs/{job_id}/card")
    assert full.status_code == 200 and "<html" in text(full)


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_card_of_a_finished_job_stops_polling_with_286(app, ed, status):
    job_id = make_job(app, status=status, step="quiz", step_index=7, step_count=8,
                      error="quiz: the model returned invalid JSON 3 times"
                      if status == "failed" else "")
    response = ed.get(f"/jobs/{job_id}/card", headers=HX)
    # htmx 2 cancels polling on 286 and still swaps the response in (see htmx-2.0.11.min.js:
    # "if(n.status===286){ct(t)}" sits inside "if(m.shouldSwap)" before the swap).
    assert response.status_code == 286
    body = text(response)
    assert f'<article id="job-{job_id}"' in body
    assert "hx-get" not in body and "hx-trigger" not in body
    assert "Refresh status" not in body and "Cancel</button>" not in body
    if status == "failed":
        assert "Stopped at step 8 of 8: starter quiz." in body
        assert "the model returned invalid JSON 3 times" in body
    page = ed.get(f"/jobs/{job_id}")
    assert page.status_code == 200


def test_money_is_shown_with_two_to_six_decimals_and_the_currency():
    assert [format_money(Decimal(v), "USD") for v in (
        "0", "0.3", "0.000120", "12.5", "0.0000004", "0.0000015", "0E-10")] == [
        "0.00 USD", "0.30 USD", "0.00012 USD", "12.50 USD", "< 0.000001 USD", "0.000002 USD",
        "0.00 USD"]
    assert format_money(None, "EUR") == "0.00 EUR"


def test_pages_show_costs_in_the_configured_currency(app, settings_override):
    settings_override(cost_currency="EUR")
    with app.test_request_context():
        assert money(Decimal("0.3")) == "0.30 EUR"


def test_polling_backs_off_as_the_job_ages(app, ed):
    now = utcnow()

    def after(seconds: int) -> int:
        return poll_seconds(GenerationJob(created_at=now - timedelta(seconds=seconds)), now)

    assert [after(s) for s in (0, 59, 60, 299, 300, 3600)] == [2, 2, 5, 5, 15, 15]
    middle = make_job(app, age=timedelta(minutes=2))
    old = make_job(app, status="queued", age=timedelta(minutes=10))
    assert 'hx-trigger="every 5s"' in text(ed.get(f"/jobs/{middle}/card", headers=HX))
    assert 'hx-trigger="every 15s"' in text(ed.get(f"/jobs/{old}/card", headers=HX))


def test_card_polls_are_rate_limited(app, ed):
    job_id = make_job(app)
    for _ in range(CARD_LIMIT.amount):
        assert ed.get(f"/jobs/{job_id}/card", headers=HX).status_code == 200
    limited = ed.get(f"/jobs/{job_id}/card", headers=HX)
    assert limited.status_code == 429
    wait = int(limited.headers["Retry-After"])
    assert 1 <= wait <= 60
    # htmx swaps the card back in, asking again only when the limit allows.
    assert f'hx-trigger="every {wait}s"' in text(limited)
    plain = ed.get(f"/jobs/{job_id}/card")
    assert plain.status_code == 429 and "checked too often" in text(plain)
    # The status page itself is not part of the polling budget.
    assert ed.get(f"/jobs/{job_id}").status_code == 200


# --- cancelling --------------------------------------------------------------------------------


def test_cancel_a_queued_job_without_javascript(app, ed, csrf_token):
    job_id = make_job(app, status="queued")
    token = csrf_token(ed, f"/jobs/{job_id}")
    response = ed.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == f"/jobs/{job_id}"
    assert job_row(app, job_id).status == "cancelled"
    page = text(ed.get(f"/jobs/{job_id}"))
    assert "Cancelled." in page and "Cancelled before it started." in page
    # Cancelling a finished job is refused.
    again = ed.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token})
    assert again.status_code == 400 and "already finished" in text(again)


def test_cancel_with_htmx_swaps_the_card(app, ed, csrf_token):
    queued = make_job(app, status="queued")
    running = make_job(app, step="lesson:1:0", step_index=3, step_count=6)
    token = csrf_token(ed, f"/jobs/{queued}")
    headers = {**HX, "X-CSRFToken": token}
    response = ed.post(f"/jobs/{queued}/cancel", headers=headers)
    assert response.status_code == 200
    body = text(response).strip()
    assert body.startswith(f'<article id="job-{queued}"') and "hx-trigger" not in body
    assert job_row(app, queued).status == "cancelled"
    response = ed.post(f"/jobs/{running}/cancel", headers=headers)
    body = text(response)
    # A running job stops between steps: it keeps polling until then, without a Cancel button.
    assert "Cancelling after this step." in body and "hx-trigger" in body
    assert "Cancel</button>" not in body
    job = job_row(app, running)
    assert job.status == "running" and job.cancel_requested


def test_cancel_needs_the_csrf_token(app, ed):
    job_id = make_job(app, status="queued")
    assert ed.post(f"/jobs/{job_id}/cancel").status_code == 400
    assert job_row(app, job_id).status == "queued"


# --- permissions -------------------------------------------------------------------------------


def test_other_editors_cannot_see_or_cancel_a_job(app, ed, csrf_token, signed_in):
    job_id = make_job(app, status="queued", topic="Ed's secret topic")
    other = signed_in(app, "other@example.org", "editor")
    assert other.get(f"/jobs/{job_id}").status_code == 404
    assert other.get(f"/jobs/{job_id}/card", headers=HX).status_code == 404
    token = csrf_token(other, "/edit/drafts/new")
    assert other.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 404
    assert job_row(app, job_id).status == "queued"
    assert "secret topic" not in text(other.get("/edit/drafts"))
    assert other.get("/jobs/999999").status_code == 404


def test_learners_cannot_ask_for_drafts(app, csrf_token, signed_in):
    learner = signed_in(app, "lea@example.org", "learner")
    assert learner.get("/edit/drafts/new").status_code == 403
    assert learner.get("/edit/drafts").status_code == 403
    token = csrf_token(learner, "/courses/")
    assert learner.post("/edit/drafts/new", data={"topic": "Knots", "level": "beginner",
                                                  "csrf_token": token}).status_code == 403
    assert count_jobs(app) == 0


def test_learners_follow_their_own_branch_jobs(app, signed_in):
    learner = signed_in(app, "lea@example.org", "learner")
    job_id = make_job(app, "lea@example.org", kind="branch", topic="Why knots hold")
    page = text(learner.get(f"/jobs/{job_id}"))
    assert "Branch lesson" in page and "Why knots hold" in page
    assert "review before publishing" not in page and "/edit/" not in page
    assert learner.get(f"/jobs/{job_id}/card", headers=HX).status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(app, client):
    for path in ("/edit/drafts/new", "/edit/drafts", "/jobs/1", "/admin/jobs", "/admin/costs"):
        response = client.get(path)
        assert response.status_code in (302, 303) and "/login" in response.headers["Location"]


def test_admin_pages_are_for_admins(app, ed):
    for path in ("/admin/jobs", "/admin/costs", "/admin/costs.csv?month=2025-03"):
        assert ed.get(path).status_code == 403


def test_admins_see_and_cancel_anyones_job(app, ed, admin, csrf_token):
    job_id = make_job(app, status="queued")
    assert admin.get(f"/jobs/{job_id}").status_code == 200
    token = csrf_token(admin, f"/jobs/{job_id}")
    assert admin.post(f"/jobs/{job_id}/cancel", data={"csrf_token": token}).status_code == 303
    assert job_row(app, job_id).status == "cancelled"


# --- the drafts list ---------------------------------------------------------------------------


def test_drafts_list_empty_state(ed):
    page = text(ed.get("/edit/drafts"))
    assert "No AI drafts yet." in page and 'href="/edit/drafts/new"' in page


def test_drafts_list_shows_active_jobs_first_and_pages(app, ed, signed_in):
    finished = [make_job(app, status="succeeded", topic=f"Done {n}") for n in range(52)]
    running = make_job(app, topic="Still running")
    signed_in(app, "other@example.org", "editor")
    make_job(app, "other@example.org", topic="Someone else's")
    page = text(ed.get("/edit/drafts"))
    assert page.index("In progress") < page.index("Still running") < page.index("Finished")
    assert page.count("Still running") == 1
    assert "Someone else" not in page and "Done 51" in page and "Done 0<" not in page
    older = re.search(r'href="/edit/drafts\?before=(\d+)"', page)
    assert older
    second = text(ed.get(f"/edit/drafts?before={older.group(1)}"))
    assert "Done 1<" in second and "Done 0<" in second and "Still running" not in second
    assert "Done 51" not in second
    assert running > finished[-1]


def test_admins_drafts_list_has_everyones_jobs(app, ed, admin):
    make_job(app, topic="Ed's topic")
    page = text(admin.get("/edit/drafts"))
    assert "All AI drafts and jobs" in page and "Ed&#39;s topic" in page and ">Ed<" in page


# --- admin: jobs -------------------------------------------------------------------------------


def test_admin_jobs_page(app, ed, admin):
    make_job(app, status="failed", error="outline: the provider kept failing (503).",
             attempts=3, step="outline", step_count=2)
    make_job(app, status="running", attempts=1, heartbeat_at=utcnow() - timedelta(seconds=30),
             cost=Decimal("0.25"))
    page = text(admin.get("/admin/jobs"))
    assert "outline: the provider kept failing (503)." in page
    assert "ed@example.org" in page and "0.25" in page
    assert re.search(r"\b(30|31|32) s ago", page)
    failed_only = text(admin.get("/admin/jobs?status=failed"))
    assert "kept failing" in failed_only and "0.25" not in failed_only
    assert "No jobs with this status." in text(admin.get("/admin/jobs?status=cancelled"))
    bad = admin.get("/admin/jobs?status=exploded")
    assert bad.status_code == 400 and "Status must be one of" in text(bad)


def test_admin_jobs_page_queries_do_not_grow(app, ed, admin, query_counter, signed_in):
    def measure() -> int:
        with query_counter() as counted:
            assert admin.get("/admin/jobs").status_code == 200
        return counted.n

    make_job(app)
    first = measure()
    for n in range(6):
        email = f"e{n}@example.org"
        signed_in(app, email, "editor")
        make_job(app, email, status="failed", error="boom")
    assert measure() == first


# --- admin: costs ------------------------------------------------------------------------------


@pytest.fixture
def ledger(app):
    """Calls in March 2025 (two courses, two providers, text and speech) and one in April."""
    with app.app_context():
        bread = Course(slug="bread", title="Bread baking")
        db.session.add(bread)
        db.session.flush()

        def add(at, cost, **kw):
            db.session.add(ProviderCall(
                created_at=at, cost=Decimal(cost), call_key=f"k{next(_n)}",
                kind=kw.pop("kind", "text"), provider=kw.pop("provider", "openai"),
                model="gpt-4o-mini", cost_source="reported", **kw))

        add(datetime(2025, 3, 1, tzinfo=UTC), "0.1", course_id=bread.id, input_tokens=1000,
            output_tokens=500)
        add(datetime(2025, 3, 31, 23, 59, tzinfo=UTC), "0.2", course_id=bread.id,
            input_tokens=10, output_tokens=5)
        add(datetime(2025, 3, 15, tzinfo=UTC), "0.03", course_id=bread.id, kind="speech",
            provider="openai-tts", characters=2000)
        add(datetime(2025, 4, 1, tzinfo=UTC), "7")
        db.session.commit()
        return bread.id


def test_admin_costs_empty_state(admin):
    page = text(admin.get("/admin/costs"))
    assert "No AI or audio costs recorded in" in page


def test_admin_costs_month_totals(admin, ledger):
    latest = text(admin.get("/admin/costs"))
    assert "April 2025" in latest and "7.00" in latest and "No course" in latest
    page = text(admin.get("/admin/costs?month=2025-03"))
    assert '<option value="2025-03" selected>March 2025</option>' in page
    assert '<option value="2025-04">April 2025</option>' in page
    assert "Bread baking" in page and "1,010" in page and "2,000" in page
    assert "0.30" in page and "0.03" in page
    assert re.search(r"Total for March 2025</th><td class=\"num\"><strong>0.33 USD</strong>", page)
    assert 'href="/admin/costs.csv?month=2025-03"' in page
    empty = text(admin.get("/admin/costs?month=2025-01"))
    assert "No AI or audio costs recorded in January 2025" in empty
    assert '<option value="2025-01" selected>January 2025</option>' in empty


@pytest.mark.parametrize("path", ["/admin/costs?month=2025-13", "/admin/costs?month=march",
                                  "/admin/costs.csv?month=nope", "/admin/costs.csv"])
def test_admin_costs_bad_month_is_400(admin, path):
    response = admin.get(path)
    assert response.status_code == 400
    assert "2025-03" in text(response)  # says what a month looks like


def test_admin_costs_csv_download(app, admin, ledger):
    response = admin.get("/admin/costs.csv?month=2025-03")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == \
        "attachment; filename=tangent-costs-2025-03.csv"
    assert response.headers["Cache-Control"] == "no-store"
    header, *calls, total = list(csv.reader(io.StringIO(text(response))))
    assert header == list(costs.CSV_COLUMNS)
    assert len(calls) == 3
    assert [Decimal(row[13]) for row in calls] == [Decimal("0.1"), Decimal("0.03"),
                                                   Decimal("0.2")]
    assert total[0] == "total" and Decimal(total[13]) == Decimal("0.33")


# --- the course page's costs partial -------------------------------------------------------------


def test_course_costs_partial(app, ledger):
    with app.test_request_context("/"), app.app_context():
        course = db.session.get(Course, ledger)
        html = render_template("jobs/_course_costs.html", course=course,
                               costs=costs.course_costs(course.id))
        assert f'id="course-{course.id}-costs"' in html
        assert "0.30" in html and "0.03" in html
        assert "AI-generated" not in html
        course.ai_provider, course.ai_model, course.ai_prompt_version = (
            "scaffold", "scaffold-1", "course_outline.v1")
        course.ai_generated_at = datetime(2025, 3, 2, tzinfo=UTC)
        html = render_template("jobs/_course_costs.html", course=course,
                               costs=costs.course_costs(course.id))
        assert "AI-generated draft: review before publishing." in html
        assert ("Drafted by scaffold (scaffold-1), prompt course_outline.v1, on <time "
                'datetime="2025-03-02T00:00:00Z">2 Mar 2025</time>.') in html
        db.session.rollback()
