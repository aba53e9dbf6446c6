"""Activity per week: ISO weeks (Monday, UTC) around a week boundary, empty weeks as
zeros, the page, and a statement count that does not grow with the learners."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import case, func, select, update

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_user
from webapp.extensions import db
from webapp.models import Course, Enrollment, SectionProgress, User
from webapp.services import progress
from webapp.services.insight import activity

URL = "/edit/courses/{}/insight/activity"
# A Wednesday; its week starts on Monday 2026-03-02.
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
SUNDAY_LATE = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)  # last second of week 11
MONDAY = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # first second of week 12 (this week)


def test_week_starts_are_mondays_in_utc():
    bounds = activity.week_starts(NOW)
    assert len(bounds) == activity.WEEKS + 1
    assert bounds[-2] == MONDAY and bounds[-1] == MONDAY + timedelta(weeks=1)
    assert all(b.weekday() == 0 and b.tzinfo is not None for b in bounds)
    # Monday 00:00 itself is the start of its own week.
    assert activity.week_starts(MONDAY)[-2] == MONDAY


@pytest.fixture
def world(app):
    with app.app_context():
        editor = make_user("editor@example.org", role="editor")
        course = make_course("Weeks", modules=1, lessons=1, sections=2, owner=editor)
        section = course.modules[0].lessons[0].sections[0]
        for name, at in (("a", SUNDAY_LATE), ("b", MONDAY), ("c", MONDAY + timedelta(days=1)),
                         ("d", MONDAY - timedelta(weeks=5))):
            learner = make_user(f"{name}@example.org")
            enroll(learner, course)
            progress.complete_section(learner, section.id)
            db.session.execute(update(Enrollment).where(Enrollment.user_id == learner.id)
                               .values(created_at=at))
            db.session.execute(update(SectionProgress)
                               .where(SectionProgress.user_id == learner.id)
                               .values(completed_at=at + timedelta(hours=1)))
        # C completed the course on Tuesday of this week.
        c = db.session.scalar(select(User).where(User.email == "c@example.org"))
        db.session.execute(update(Enrollment).where(Enrollment.user_id == c.id)
                           .values(completed_at=MONDAY + timedelta(days=1, hours=2)))
        db.session.commit()
        return course.id


def test_rows_fall_in_their_iso_week_and_empty_weeks_are_zero(app, world):
    with app.app_context():
        weeks = activity.course_activity(db.session.get(Course, world), now=NOW)
        assert [w.start for w in weeks][-2:] == [date(2026, 2, 23), date(2026, 3, 2)]
        by_start = {w.start: (w.enrollments, w.active, w.completions) for w in weeks}
        # A enrolled on Sunday 23:59:59 (its section an hour later, on Monday).
        assert by_start[date(2026, 2, 23)] == (1, 0, 0)
        assert by_start[date(2026, 3, 2)] == (2, 3, 1)
        assert by_start[date(2026, 1, 26)] == (1, 1, 0)
        others = [v for start, v in by_start.items()
                  if start not in (date(2026, 2, 23), date(2026, 3, 2), date(2026, 1, 26))]
        assert len(others) == activity.WEEKS - 3 and set(others) == {(0, 0, 0)}


def test_the_page_lists_every_week_with_the_charts(app, world, client, login):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    response = client.get(URL.format(world))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('<svg class="chart-svg" role="img"') == 3
    assert page.count('<tr><th scope="row"><time datetime="') == activity.WEEKS
    assert "marked at least one section" in " ".join(page.split())


def test_a_course_without_activity_says_so(app, client, login):
    with app.app_context():
        editor = make_user("editor@example.org", role="editor")
        course_id = make_course("Quiet", modules=1, lessons=1, owner=editor).id
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    page = " ".join(client.get(URL.format(course_id)).get_data(as_text=True).split())
    assert "Nothing happened in this course in the last 12 weeks" in page


def test_bad_input_never_500(app, world, client, login):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    for path in (URL.format(world) + "?weeks=abc&x=%00", URL.format(0), URL.format(2**40),
                 URL.format(world) + "/../activity"):
        assert client.get(path).status_code in (200, 400, 404), path


def test_statements_do_not_grow_with_learners(app, world, client, login, query_counter):
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    url = URL.format(world)

    def count() -> int:
        client.get(url)
        with query_counter() as counted:
            assert client.get(url).status_code == 200
        return counted.n

    def grow(n: int, start: int) -> None:
        with app.app_context():
            course = db.session.get(Course, world)
            section = course.modules[0].lessons[0].sections[0]
            for k in range(start, start + n):
                learner = make_user(f"grow{k}@example.org")
                enroll(learner, course)
                progress.complete_section(learner, section.id)
            db.session.commit()

    grow(3, 0)
    before = count()
    grow(30, 100)
    assert count() == before


def test_the_demo_seeds_a_class_with_activity_a_funnel_and_a_hardest_question(app, tmp_path):
    import time

    from webapp.models import Answer, Question
    from webapp.services import demo
    from webapp.services.insight import funnel

    with app.app_context():
        started = time.monotonic()
        demo.load_demo(tmp_path, fixed_password="demo-password-123")
        db.session.commit()
        course = db.session.scalar(select(Course).where(Course.slug == "practical-python"))
        weeks = activity.course_activity(course)
        assert sum(w.enrollments for w in weeks) >= demo.DEMO_CLASS_SIZE
        assert sum(1 for w in weeks if w.active) >= 5
        assert sum(w.completions for w in weeks) >= 2
        f = funnel.course_funnel(course)
        completed = [lesson.completed for lesson in f.lessons]
        assert completed[0] > completed[-1] >= 2 and f.stopped
        rates = db.session.execute(
            select(Answer.question_id, func.avg(case((Answer.is_correct, 1.0), else_=0.0)))
            .join(Question, Question.id == Answer.question_id)
            .group_by(Answer.question_id)).all()
        ordered = sorted(rate for _, rate in rates)
        assert len(ordered) >= 3 and ordered[0] < 0.4 < 0.6 < ordered[1]
        assert time.monotonic() - started < 20
        # Loading again adds nobody.
        enrolled = db.session.scalar(select(func.count()).select_from(Enrollment))
        demo.load_demo(tmp_path, fixed_password="demo-password-123")
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Enrollment)) == enrolled
