"""Attempts with known answers, written as rows (the insight pages only read them)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from webapp.extensions import db
from webapp.models import Answer, AnswerChoice, Attempt
from webapp.models.base import utcnow


def add_attempt(user, quiz, picks, *, number=1, seconds=60, submitted=True):
    """An attempt of ``user`` at ``quiz``: ``picks`` maps a question to the choice picked
    (or to True/False for "answered right/wrong" without a choice). One point a question."""
    start = utcnow() - timedelta(days=1)
    attempt = Attempt(user_id=user.id, quiz_id=quiz.id, number=number, started_at=start,
                      status="in_progress", max_score=len(quiz.questions))
    db.session.add(attempt)
    db.session.flush()
    if not submitted:
        db.session.commit()
        return attempt
    score = 0
    for question, pick in picks.items():
        right = pick if isinstance(pick, bool) else pick.is_correct
        score += int(right)
        answer = Answer(attempt_id=attempt.id, question_id=question.id, is_correct=right,
                        points=Decimal(int(right)))
        db.session.add(answer)
        db.session.flush()
        if not isinstance(pick, bool):
            db.session.add(AnswerChoice(answer_id=answer.id, choice_id=pick.id))
    attempt.status = "submitted"
    attempt.submitted_at = start + timedelta(seconds=seconds)
    attempt.score = Decimal(score)
    attempt.passed = 100 * score >= quiz.pass_percent * attempt.max_score
    db.session.commit()
    return attempt
