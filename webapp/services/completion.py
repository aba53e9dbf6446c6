"""What learning a course adds up to: enrollment, course progress, passed quizzes
and the certificate that completing all of them earns.

Both ``progress`` (sections) and ``quizzes`` (attempts) can complete a course,
so what they share lives here; this module imports neither of them.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import (
    Attempt,
    Certificate,
    Course,
    Enrollment,
    Lesson,
    Question,
    Quiz,
    Section,
    SectionProgress,
    User,
)
from webapp.services.audit import record_audit

# --- enrollment -------------------------------------------------------------


def get_enrollment(user: User | None, course_id: int) -> Enrollment | None:
    """The user's enrollment in a course (None for anonymous users)."""
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(
        select(Enrollment).where(Enrollment.user_id == user.id, Enrollment.course_id == course_id)
    )


# --- progress counts ------------------------------------------------------------


@dataclass(frozen=True)
class CourseProgress:
    """Sections done out of the course's sections (no sections: nothing to do)."""

    done: int = 0
    total: int = 0

    @property
    def percent(self) -> int:
        if not self.total:
            return 0
        return min(100, (100 * self.done) // self.total)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


def course_progress_map(user: User, course_ids: Sequence[int]) -> dict[int, CourseProgress]:
    """Progress for many courses in two queries."""
    if not course_ids or not user.is_authenticated:
        return {}
    totals = dict(db.session.execute(
        select(Lesson.course_id, func.count(Section.id))
        .join(Section, Section.lesson_id == Lesson.id)
        .where(Lesson.course_id.in_(course_ids))
        .group_by(Lesson.course_id)
    ).all())
    done = dict(db.session.execute(
        select(SectionProgress.course_id, func.count(SectionProgress.id))
        .where(SectionProgress.user_id == user.id, SectionProgress.course_id.in_(course_ids),
               SectionProgress.status == "completed")
        .group_by(SectionProgress.course_id)
    ).all())
    return {cid: CourseProgress(done.get(cid, 0), totals.get(cid, 0)) for cid in course_ids}


def course_progress(user: User, course_id: int) -> CourseProgress:
    """Sections done out of all sections of one course."""
    return course_progress_map(user, [course_id])[course_id]


# --- quizzes and certificates --------------------------------------------------------


def passed_quiz_ids(user: User, course_id: int) -> set[int]:
    """The course's quizzes the user has passed at least once."""
    return set(db.session.scalars(
        select(Attempt.quiz_id).join(Quiz, Quiz.id == Attempt.quiz_id)
        .where(Attempt.user_id == user.id, Quiz.course_id == course_id,
               Attempt.passed.is_(True))
    ))


def course_is_complete(user: User, course_id: int) -> bool:
    """Every section done and every quiz (that has questions) passed."""
    progress = course_progress(user, course_id)
    if not progress.complete:
        return False
    return answerable_quiz_ids(course_id) <= passed_quiz_ids(user, course_id)


def answerable_quiz_ids(course_id: int) -> set[int]:
    """The course's quizzes that have questions: those a certificate waits for (a quiz
    nobody can pass yet, while an editor writes it, does not hold certificates back)."""
    return set(db.session.scalars(
        select(Quiz.id).where(Quiz.course_id == course_id,
                              Quiz.id.in_(select(Question.quiz_id)))))


def certificate_for(user: User, course_id: int) -> Certificate | None:
    """The learner's certificate for a course, if it was issued."""
    return db.session.scalar(
        select(Certificate).where(Certificate.user_id == user.id,
                                  Certificate.course_id == course_id)
    )


def maybe_issue_certificate(user: User, course_id: int) -> Certificate | None:
    """Issue the certificate when every section is done and every quiz passed (once)."""
    if certificate_for(user, course_id) is not None or not course_is_complete(user, course_id):
        return None
    course = db.session.get(Course, course_id)
    certificate = Certificate(
        user_id=user.id, course_id=course_id, code=secrets.token_urlsafe(16),
        learner_name=user.display_name, course_title=course.title if course else "",
    )
    try:
        with db.session.begin_nested():
            db.session.add(certificate)
    except IntegrityError:
        return None  # issued by a concurrent request
    enrollment = get_enrollment(user, course_id)
    if enrollment is not None and enrollment.completed_at is None:
        enrollment.completed_at = certificate.issued_at
    record_audit(user, "certificate.issue", "course", course_id)
    return certificate
