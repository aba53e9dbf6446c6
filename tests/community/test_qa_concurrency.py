"""Votes cast at the same moment by many people keep the score exact: each vote changes
the score by its difference in its own transaction (``score = score + delta``).

Each thread has its own app context, hence its own session and connection. Runs on the
database the suite uses: SQLite by default, PostgreSQL when DATABASE_URL names one (CI
runs both)."""

from __future__ import annotations

import threading

from flask import Flask
from sqlalchemy import func, select

from tests.factories import make_course, make_learner, make_user
from webapp.database import run_in_transaction
from webapp.extensions import db
from webapp.models import QaAnswer, QaQuestion, QaVote, User
from webapp.services.community import qa

VOTERS = 12


def _world(app: Flask) -> tuple[int, int, list[int]]:
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Votes", owner=owner, modules=1, lessons=1)
        asker = make_learner("asker@example.org", enrolled_in=[course])
        voters = [make_learner(f"v{n}@example.org", enrolled_in=[course]).id
                  for n in range(VOTERS)]
        question = qa.ask_question(asker, course, title="Which loop is fastest?", body="?")
        answer = qa.answer_question(owner, question, body="Measure it.", mail_context=None)
        db.session.commit()
        return question.id, answer.id, voters


def _vote_all_at_once(app: Flask, jobs: list[tuple[int, str, int, int]]) -> list[str]:
    """Run ``(user_id, kind, target_id, value)`` votes in threads released together."""
    barrier = threading.Barrier(len(jobs))
    errors: list[str] = []

    def cast(user_id: int, kind: str, target_id: int, value: int) -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=20)

                def work():
                    user = db.session.get(User, user_id)
                    target = (qa.get_question(target_id) if kind == "question"
                              else qa.get_answer(target_id))
                    return qa.vote(user, target, value)

                run_in_transaction(db.session, work)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=cast, args=job) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def _check(app: Flask) -> None:
    question_id, answer_id, voters = _world(app)
    values = [1 if n % 3 else -1 for n in range(VOTERS)]
    jobs = [(uid, "question", question_id, v) for uid, v in zip(voters, values, strict=True)]
    jobs += [(uid, "answer", answer_id, -v) for uid, v in zip(voters, values, strict=True)]
    assert _vote_all_at_once(app, jobs) == []
    # Then everyone changes their mind at once: some flip, some take the vote back.
    changes = [(uid, "question", question_id, (0 if n % 2 else -values[n]))
               for n, uid in enumerate(voters)]
    assert _vote_all_at_once(app, changes) == []
    with app.app_context():
        question = db.session.get(QaQuestion, question_id)
        answer = db.session.get(QaAnswer, answer_id)
        stored = db.session.scalar(select(func.coalesce(func.sum(QaVote.value), 0)).where(
            QaVote.question_id == question_id))
        expected = sum(0 if n % 2 else -values[n] for n in range(VOTERS))
        assert question.score == stored == expected
        assert answer.score == -sum(values)
        assert db.session.scalar(select(func.count()).select_from(QaVote).where(
            QaVote.answer_id == answer_id)) == VOTERS


def test_concurrent_votes_keep_exact_scores(app):
    _check(app)


def test_the_same_person_voting_twice_at_once_counts_once(app):
    question_id, _answer_id, voters = _world(app)
    jobs = [(voters[0], "question", question_id, 1)] * 4
    assert _vote_all_at_once(app, jobs) == []
    with app.app_context():
        assert db.session.get(QaQuestion, question_id).score == 1
