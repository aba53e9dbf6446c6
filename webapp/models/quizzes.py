"""Quizzes, their questions and choices, and learners' attempts and answers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, choice_checks, fk_id, utcnow
from webapp.models.users import LearnerRow

QUESTION_KINDS = ("single", "multiple", "true_false", "short_text", "numeric", "ordering")
ATTEMPT_STATUSES = ("in_progress", "submitted")
# practice: learners may check each answer (and read its explanation) before submitting.
# graded: nothing is checked before an attempt is submitted.
QUIZ_MODES = ("practice", "graded")
# When a graded quiz shows learners which answers were right, with the explanations:
# after every submitted attempt, or only once they have no attempt left.
FEEDBACK_TIMES = ("after_submit", "after_last_attempt")
# How a multiple-choice question scores a partly right answer (see services.quizzes).
SCORING_RULES = ("all_or_nothing", "proportional")
# Which attempt the gradebook shows for a learner: their best, or their last.
GRADEBOOK_SCORES = ("best", "last")
# Points, exact: partial credit gives hundredths of a point (rounded down, never up).
POINTS = Numeric(8, 2)


class Quiz(Base):
    __tablename__ = "quiz"
    __table_args__ = (
        UniqueConstraint("course_id", "key", name="uq_quiz_course_key"),
        CheckConstraint("pass_percent BETWEEN 0 AND 100", name="pass_percent_range"),
        CheckConstraint("max_attempts IS NULL OR max_attempts >= 1", name="max_attempts_positive"),
        *choice_checks(mode=QUIZ_MODES, feedback=FEEDBACK_TIMES, scoring=SCORING_RULES,
                       gradebook_score=GRADEBOOK_SCORES),
        # "After the last attempt" needs a last attempt, and only graded quizzes hold
        # feedback back (practice quizzes show it on every check).
        CheckConstraint(
            "feedback = 'after_submit' OR (mode = 'graded' AND max_attempts IS NOT NULL)",
            name="feedback_after_last_attempt_needs_limit",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    course_id: Mapped[int] = fk_id("course")
    module_id: Mapped[int] = fk_id("module", index=True)
    # Referenced from lesson text as <Quiz id="key"/>.
    key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(String(500), default="")
    pass_percent: Mapped[int] = mapped_column(Integer, default=70)
    # None: unlimited. The best score counts either way.
    max_attempts: Mapped[int | None] = mapped_column(Integer, default=None)
    mode: Mapped[str] = mapped_column(String(16), default="graded")
    feedback: Mapped[str] = mapped_column(String(24), default="after_submit")
    # Applies to multiple-choice questions; the other kinds have one right answer.
    scoring: Mapped[str] = mapped_column(String(16), default="all_or_nothing")
    # The gradebook's score for a learner: their best attempt or their last (the author's
    # choice).
    gradebook_score: Mapped[str] = mapped_column(String(8), default="best",
                                                 server_default=text("'best'"))

    questions: Mapped[list[Question]] = relationship(
        back_populates="quiz", order_by="Question.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )


class Question(Base):
    __tablename__ = "question"
    __table_args__ = (
        *choice_checks(kind=QUESTION_KINDS),
        CheckConstraint("points >= 1", name="points_positive"),
        CheckConstraint(
            "kind <> 'numeric' OR (numeric_answer IS NOT NULL AND tolerance >= 0)",
            name="numeric_has_answer",
        ),
        Index("ix_question_quiz_position", "quiz_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    quiz_id: Mapped[int] = fk_id("quiz")
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    prompt: Mapped[str] = mapped_column(Text)
    explanation: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[int] = mapped_column(Integer, default=1)
    numeric_answer: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    tolerance: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal(0))

    quiz: Mapped[Quiz] = relationship(back_populates="questions")
    choices: Mapped[list[Choice]] = relationship(
        back_populates="question", order_by="Choice.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )
    accepted_answers: Mapped[list[AcceptedAnswer]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )


class _QuestionPart:
    """A row that belongs to one question and goes with it."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    question_id: Mapped[int] = fk_id("question")


class Choice(_QuestionPart, Base):
    """An option. For ordering questions ``position`` is the correct order."""

    __tablename__ = "choice"
    __table_args__ = (
        UniqueConstraint("question_id", "position", name="uq_choice_question_position"),
    )

    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(String(500))
    is_correct: Mapped[bool] = mapped_column(Boolean, default=False)

    question: Mapped[Question] = relationship(back_populates="choices")


class AcceptedAnswer(_QuestionPart, Base):
    """An accepted answer to a short-text question, compared case- and space-insensitively."""

    __tablename__ = "accepted_answer"
    __table_args__ = (
        UniqueConstraint("question_id", "text", name="uq_accepted_answer_question_text"),
    )

    text: Mapped[str] = mapped_column(String(200))


class Attempt(LearnerRow, Base):
    __tablename__ = "attempt"
    __table_args__ = (
        UniqueConstraint("user_id", "quiz_id", "number", name="uq_attempt_user_quiz_number"),
        *choice_checks(status=ATTEMPT_STATUSES),
        CheckConstraint(
            "(status = 'submitted' AND submitted_at IS NOT NULL AND score IS NOT NULL "
            "AND passed IS NOT NULL) OR (status = 'in_progress' AND submitted_at IS NULL)",
            name="submitted_has_result",
        ),
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= max_score)", name="score_range"),
        Index("ix_attempt_quiz_user", "quiz_id", "user_id"),
    )

    quiz_id: Mapped[int] = fk_id("quiz")
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    score: Mapped[Decimal | None] = mapped_column(POINTS, default=None)
    max_score: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)

    answers: Mapped[list[Answer]] = relationship(cascade="all, delete-orphan", passive_deletes=True)


class Answer(Base):
    __tablename__ = "answer"
    __table_args__ = (
        UniqueConstraint("attempt_id", "question_id", name="uq_answer_attempt_question"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attempt_id: Mapped[int] = fk_id("attempt")
    question_id: Mapped[int] = fk_id("question", index=True)
    text_answer: Mapped[str | None] = mapped_column(String(200), default=None)
    numeric_answer: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    is_correct: Mapped[bool] = mapped_column(Boolean, default=False)
    points: Mapped[Decimal] = mapped_column(POINTS, default=Decimal(0))

    selections: Mapped[list[AnswerChoice]] = relationship(
        order_by="AnswerChoice.position", cascade="all, delete-orphan", passive_deletes=True
    )


class AnswerChoice(Base):
    """A chosen option; for ordering questions ``position`` is where the learner put it."""

    __tablename__ = "answer_choice"

    answer_id: Mapped[int] = fk_id("answer", primary_key=True)
    choice_id: Mapped[int] = fk_id("choice", primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
