"""What the admin console reads about people: finding users, one user's enrollments and
progress, their security events and sessions, and the counts on the console's home page.

Writes (roles, suspensions, bans) are ``accounts.set_role`` and ``accounts.set_status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from webapp.extensions import db
from webapp.models import (
    Course,
    Enrollment,
    GenerationJob,
    Lesson,
    LessonProgress,
    SecurityEvent,
    User,
    UserSession,
)
from webapp.models.base import utcnow
from webapp.models.users import ROLES, STATUSES
from webapp.services.exceptions import ValidationFailed

QUERY_MAX = 254


def like_pattern(text: str) -> str:
    """``%text%`` for a case-insensitive substring match, with LIKE's wildcards in
    ``text`` matched literally (escape character ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def search_users(*, query: str = "", role: str = "", status: str = "",
                 before: int | None = None, page_size: int = 50,
                 ) -> tuple[list[User], int | None]:
    """Users newest first (keyset on id) whose email or display name contains ``query``
    (any case), with ``role`` and ``status`` when given; and the next page's cursor."""
    query = query.strip()
    if len(query) > QUERY_MAX:
        raise ValidationFailed(f"Search for at most {QUERY_MAX} characters.", field="q")
    if role and role not in ROLES:
        raise ValidationFailed(f"Role must be one of {', '.join(ROLES)}.", field="role")
    if status and status not in STATUSES:
        raise ValidationFailed(f"Status must be one of {', '.join(STATUSES)}.", field="status")
    stmt = select(User).order_by(User.id.desc()).limit(page_size + 1)
    if query:
        pattern = like_pattern(query)
        stmt = stmt.where(or_(User.email.like(pattern, escape="\\"),
                              func.lower(User.display_name).like(pattern, escape="\\")))
    if role:
        stmt = stmt.where(User.role == role)
    if status:
        stmt = stmt.where(User.status == status)
    if before is not None:
        stmt = stmt.where(User.id < before)
    rows = list(db.session.scalars(stmt))
    if len(rows) > page_size:
        rows = rows[:page_size]
        return rows, rows[-1].id
    return rows, None


@dataclass(frozen=True)
class EnrollmentLine:
    course_id: int
    course_title: str
    course_slug: str
    enrolled_at: datetime
    last_activity_at: datetime
    completed_at: datetime | None
    lessons_done: int
    lessons_total: int

    @property
    def percent(self) -> int:
        return round(100 * self.lessons_done / self.lessons_total) if self.lessons_total else 0


def enrollments_of(user: User, limit: int = 100) -> list[EnrollmentLine]:
    """The user's enrollments with lessons done out of the course's lessons (one query)."""
    total = (select(func.count(Lesson.id)).where(Lesson.course_id == Course.id)
             .correlate(Course).scalar_subquery())
    done = (select(func.count(LessonProgress.id))
            .where(LessonProgress.user_id == user.id, LessonProgress.course_id == Course.id,
                   LessonProgress.status == "completed")
            .correlate(Course).scalar_subquery())
    rows = db.session.execute(
        select(Course.id, Course.title, Course.slug, Enrollment.created_at,
               Enrollment.last_activity_at, Enrollment.completed_at, done, total)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.user_id == user.id)
        .order_by(Enrollment.last_activity_at.desc()).limit(limit))
    return [EnrollmentLine(*row) for row in rows]


def security_events_of(user: User, limit: int = 20) -> Sequence[SecurityEvent]:
    """The latest security events about ``user`` (sign-ins, failures, status changes)."""
    return db.session.scalars(select(SecurityEvent).where(SecurityEvent.user_id == user.id)
                              .order_by(SecurityEvent.id.desc()).limit(limit)).all()


def sessions_of(user: User, limit: int = 50) -> Sequence[UserSession]:
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                              .order_by(UserSession.id.desc()).limit(limit)).all()


@dataclass(frozen=True)
class ConsoleCounts:
    users: int
    failed_sign_ins: int
    failed_jobs: int


def console_counts(now: datetime | None = None) -> ConsoleCounts:
    """The numbers on /admin: accounts, failed sign-ins in the last 24 hours, failed jobs."""
    since = (now or utcnow()) - timedelta(hours=24)
    users = db.session.scalar(select(func.count(User.id)))
    failed = db.session.scalar(select(func.count(SecurityEvent.id)).where(
        SecurityEvent.kind == "login_failed", SecurityEvent.created_at >= since))
    jobs = db.session.scalar(select(func.count(GenerationJob.id))
                             .where(GenerationJob.status == "failed"))
    return ConsoleCounts(users or 0, failed or 0, jobs or 0)
