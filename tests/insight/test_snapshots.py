"""Kept figures: the funnel, the weekly activity and what is hard are read from the kept
row while it is young (new progress shows after "Recompute now" or once the figures are
older than MAX_AGE), and the codecs give back exactly what was computed."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, enroll, make_user
from tests.insight.test_funnel import world  # noqa: F401 - the fixture
from webapp.extensions import db
from webapp.models import Course, InsightSnapshot, User
from webapp.models.base import utcnow
from webapp.services import progress
from webapp.services.insight import activity, difficulty, funnel, snapshots

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _learners_line(page: str) -> str:
    return re.search(r"(\d+) learners? enrolled now", page).group(1)


def test_the_codecs_give_back_what_was_computed(app, world):  # noqa: F811
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        for module in (funnel, activity, difficulty):
            compute = {funnel: funnel.course_funnel, activity: activity.course_activity,
                       difficulty: difficulty.overview}[module]
            value = compute(course)
            assert module.from_json(module.to_json(value)) == value


def test_pages_read_kept_figures_until_recomputed(app, world, login):  # noqa: F811
    client = app.test_client()
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    path = f"/edit/courses/{world['course_id']}/insight/funnel"
    first = client.get(path).get_data(as_text=True)
    assert _learners_line(first) == "4" and "Figures as of" in first
    with app.app_context():
        course = db.session.get(Course, world["course_id"])
        newcomer = make_user("late@example.org")
        enroll(newcomer, course)
        progress.complete_section(newcomer, world["sections"][0])
        db.session.commit()
    # Kept: the new learner is not counted yet.
    assert _learners_line(client.get(path).get_data(as_text=True)) == "4"
    token = CSRF_RE.search(first).group(1)
    done = client.post(f"/edit/courses/{world['course_id']}/insight/recompute/funnel",
                       data={"csrf_token": token})
    assert done.status_code == 303 and done.headers["Location"].endswith("/insight/funnel")
    assert _learners_line(client.get(path).get_data(as_text=True)) == "5"
    # Old figures are worked out again by the next page view.
    with app.app_context():
        late = db.session.scalar(select(User).where(User.email == "late@example.org"))
        progress.unenroll(late, db.session.get(Course, world["course_id"]))
        row = db.session.scalar(select(InsightSnapshot).where(
            InsightSnapshot.name == "funnel"))
        row.computed_at = utcnow() - snapshots.MAX_AGE - timedelta(seconds=1)
        db.session.commit()
    assert _learners_line(client.get(path).get_data(as_text=True)) == "4"
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(InsightSnapshot)) == 1
    bad = client.post(f"/edit/courses/{world['course_id']}/insight/recompute/nothing",
                      data={"csrf_token": token})
    assert bad.status_code == 404
