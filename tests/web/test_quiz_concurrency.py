"""Two submissions of the same attempt at the same moment record it once.

Each thread has its own app context, hence its own database session and
connection. Runs on whichever database the suite uses: SQLite by default,
PostgreSQL when DATABASE_URL names one (CI runs both).
"""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from tests.web.quiz_helpers import build_world
from webapp.extensions import db
from webapp.models import (
    Answer,
    AnswerChoice,
    Attempt,
    AuditEvent,
    Certificate,
    SectionProgress,
    User,
)
from webapp.services import progress, quizzes
from webapp.services.exceptions import Conflict
from webapp.web.quiz.forms import answers_from_form


def test_two_concurrent_submissions_of_one_attempt_record_it_once(app):
    with app.app_context():
        world = build_world()
        user = db.session.get(User, world.user_id)
        for section_id in world.section_ids:
            progress.complete_section(user, section_id)
        attempt_id = quizzes.start_attempt(user, quizzes.get_quiz(world.quiz_id)).id
        db.session.commit()
        db.session.remove()
    answers = answers_from_form(MultiDict(world.right()))
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit_in_own_session() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                learner = db.session.get(User, world.user_id)
                quizzes.submit_attempt(learner, attempt_id, answers)
                db.session.commit()
                outcomes.append("recorded")
            except Conflict:
                db.session.rollback()
                outcomes.append("conflict")
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                outcomes.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=submit_in_own_session) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "recorded"]

    with app.app_context():
        attempt = db.session.get(Attempt, attempt_id)
        assert attempt.status == "submitted" and attempt.score == 6 and attempt.passed
        assert db.session.scalar(
            select(func.count(Attempt.id)).where(Attempt.user_id == world.user_id)
        ) == 1
        assert db.session.scalar(
            select(func.count(Answer.id)).where(Answer.attempt_id == attempt_id)
        ) == 6
        # single 1 + multiple 2 + true/false 1 + ordering 4
        assert db.session.scalar(select(func.count()).select_from(AnswerChoice)) == 8
        assert db.session.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "attempt.submit")
        ) == 1
        assert db.session.scalar(
            select(func.count(Certificate.id)).where(Certificate.user_id == world.user_id)
        ) == 1
        learner = db.session.get(User, world.user_id)
        course = progress.course_progress(learner, world.course_id)
        recount = db.session.scalar(
            select(func.count(SectionProgress.id)).where(
                SectionProgress.user_id == world.user_id, SectionProgress.status == "completed"
            )
        )
        assert course.done == recount == len(world.section_ids)
        assert course.percent == 100
