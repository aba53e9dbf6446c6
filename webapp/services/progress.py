"""A learner's progress: enrollment, sections done, resume, bookmarks, notes.

(What the learner's pages read per request is in ``webapp.services.reading``.)

Progress percentages are always counted from rows (never stored), so they
cannot drift; every multi-write action happens in the caller's one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from webapp.content.render import RENDERER_VERSION, render_markdown
from webapp.extensions import db
from webapp.models import (
    Bookmark,
    Certificate,
    Course,
    Enrollment,
    Lesson,
    LessonProgress,
    Note,
    Section,
    SectionProgress,
    User,
)
from webapp.models.base import utcnow
from webapp.services.audit import record_audit
from webapp.services.completion import (
    CourseProgress,
    certificate_for,
    course_progress,
    get_enrollment,
    maybe_issue_certificate,
)
from webapp.services.completion import course_progress_map as course_progress_map
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed

NOTE_MAX = 20_000


# --- enrollment -------------------------------------------------------------


def enroll(user: User, course: Course, *, actor: User | None = None) -> Enrollment:
    """Enroll ``user``; enrolling twice returns the existing enrollment. ``actor`` is who
    did it when it was not the learner (a course editor enrolling a list); the audit row
    names them and the learner."""
    if course.status != "published":
        raise NotFound("There is no published course at this address.")
    existing = get_enrollment(user, course.id)
    if existing is not None:
        return existing
    enrollment = Enrollment(user_id=user.id, course_id=course.id)
    try:
        with db.session.begin_nested():
            db.session.add(enrollment)
    except IntegrityError:
        # A concurrent request enrolled first: the unique constraint decided.
        existing = get_enrollment(user, course.id)
        if existing is None:
            raise
        return existing
    if actor is None or actor.id == user.id:
        record_audit(user, "enrollment.create", "course", course.id)
    else:
        record_audit(actor, "enrollment.create", "course", course.id,
                     {"learner": [None, user.id]})
    return enrollment


def unenroll(user: User, course: Course) -> None:
    """Leave a course. Progress rows are kept, so re-enrolling resumes where one left."""
    enrollment = get_enrollment(user, course.id)
    if enrollment is None:
        raise Conflict("You are not enrolled in this course.")
    db.session.delete(enrollment)
    record_audit(user, "enrollment.delete", "course", course.id)


def require_enrollment(user: User, course_id: int) -> Enrollment:
    enrollment = get_enrollment(user, course_id)
    if enrollment is None:
        raise PermissionDenied("Enroll in this course to track your progress.")
    return enrollment


# --- progress counts ------------------------------------------------------------


def completed_section_ids(user: User, lesson_ids: Sequence[int]) -> set[int]:
    if not lesson_ids or not user.is_authenticated:
        return set()
    return set(db.session.scalars(
        select(SectionProgress.section_id).where(
            SectionProgress.user_id == user.id, SectionProgress.lesson_id.in_(lesson_ids),
            SectionProgress.status == "completed",
        )
    ))


def lesson_states(user: User, course_id: int) -> dict[int, str]:
    """lesson id → 'completed' | 'in_progress' for the user's lessons in a course."""
    if not user.is_authenticated:
        return {}
    rows = db.session.execute(
        select(LessonProgress.lesson_id, LessonProgress.status)
        .where(LessonProgress.user_id == user.id, LessonProgress.course_id == course_id)
    ).all()
    return dict(rows)


# --- marking sections and resuming ------------------------------------------------


@dataclass(frozen=True)
class SectionState:
    section: Section
    lesson: Lesson
    done: bool
    lesson_done: bool
    progress: CourseProgress
    certificate: Certificate | None
    next_section: Section | None


def uncomplete_section(user: User, section_id: int) -> SectionState:
    """Take back "done" on a section (a slip of the finger, or to read it again): the
    lesson is in progress again. A certificate already issued stays valid.

    Idempotent: a section not done stays not done.
    """
    section = _section_with_lesson(section_id)
    lesson = section.lesson
    require_enrollment(user, lesson.course_id)
    db.session.execute(delete(SectionProgress).where(SectionProgress.user_id == user.id,
                                                     SectionProgress.section_id == section.id))
    row = _lesson_progress(user, lesson)
    if row.status == "completed":
        row.status, row.completed_at = "in_progress", None
    record_position(user, section)
    db.session.flush()
    return SectionState(
        section=section, lesson=lesson, done=False, lesson_done=False,
        progress=course_progress(user, lesson.course_id),
        certificate=certificate_for(user, lesson.course_id),
        next_section=_next_section(section),
    )


def _section_with_lesson(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None:
        raise NotFound("There is no such section.")
    return section


def _next_section(section: Section) -> Section | None:
    return db.session.scalar(
        select(Section)
        .where(Section.lesson_id == section.lesson_id, Section.position > section.position)
        .order_by(Section.position).limit(1)
    )


def _lesson_progress(user: User, lesson: Lesson) -> LessonProgress:
    row = db.session.scalar(
        select(LessonProgress).where(LessonProgress.user_id == user.id,
                                     LessonProgress.lesson_id == lesson.id)
    )
    if row is None:
        row = LessonProgress(user_id=user.id, lesson_id=lesson.id, course_id=lesson.course_id)
        db.session.add(row)
    return row


def record_position(user: User, section: Section) -> None:
    """Remember where the learner is (for Resume), without completing anything."""
    lesson = section.lesson
    enrollment = get_enrollment(user, lesson.course_id)
    if enrollment is None:
        return
    enrollment.last_lesson_id = lesson.id
    enrollment.last_section_id = section.id
    enrollment.last_activity_at = utcnow()
    row = _lesson_progress(user, lesson)
    row.last_section_id = section.id
    db.session.flush()


def complete_section(user: User, section_id: int) -> SectionState:
    """Mark a section done, roll lesson and course state forward, maybe issue the certificate.

    Idempotent: completing a completed section changes nothing.
    """
    section = _section_with_lesson(section_id)
    lesson = section.lesson
    require_enrollment(user, lesson.course_id)
    existing = db.session.scalar(
        select(SectionProgress).where(SectionProgress.user_id == user.id,
                                      SectionProgress.section_id == section.id)
    )
    now = utcnow()
    if existing is None:
        try:
            with db.session.begin_nested():
                db.session.add(SectionProgress(
                    user_id=user.id, section_id=section.id, lesson_id=lesson.id,
                    course_id=lesson.course_id, status="completed", completed_at=now,
                ))
        except IntegrityError:
            # A concurrent request completed it first; anything else is a real error.
            recorded = db.session.scalar(
                select(SectionProgress.id).where(SectionProgress.user_id == user.id,
                                                 SectionProgress.section_id == section.id)
            )
            if recorded is None:
                raise
    elif existing.status != "completed":
        existing.status, existing.completed_at = "completed", now

    next_section = _next_section(section)
    record_position(user, next_section or section)

    remaining = db.session.scalar(
        select(func.count(Section.id)).where(
            Section.lesson_id == lesson.id,
            Section.id.not_in(select(SectionProgress.section_id).where(
                SectionProgress.user_id == user.id, SectionProgress.lesson_id == lesson.id,
                SectionProgress.status == "completed")),
        )
    )
    row = _lesson_progress(user, lesson)
    if remaining == 0 and row.status != "completed":
        row.status, row.completed_at = "completed", now
    db.session.flush()

    course_now = course_progress(user, lesson.course_id)
    # Only the click that completes the course can earn the certificate.
    certificate = maybe_issue_certificate(user, lesson.course_id) if course_now.complete else None
    return SectionState(
        section=section,
        lesson=lesson,
        done=True,
        lesson_done=row.status == "completed",
        progress=course_now,
        certificate=certificate,
        next_section=next_section,
    )


@dataclass(frozen=True)
class ResumeTarget:
    lesson: Lesson
    section_key: str | None


def resume_target(user: User, course: Course) -> ResumeTarget | None:
    """Where "Start"/"Resume" lands: the last section visited, else the first lesson."""
    enrollment = get_enrollment(user, course.id)
    if enrollment is not None and enrollment.last_lesson_id:
        lesson = db.session.get(Lesson, enrollment.last_lesson_id)
        section = db.session.get(Section, enrollment.last_section_id) \
            if enrollment.last_section_id else None
        if lesson is not None:
            return ResumeTarget(lesson, section.key if section else None)
    first = db.session.scalar(
        select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position).limit(1)
    )
    return ResumeTarget(first, None) if first else None


# --- bookmarks and notes -------------------------------------------------------------


def toggle_bookmark(user: User, lesson: Lesson) -> bool:
    """Bookmark or un-bookmark; returns the new state."""
    existing = db.session.scalar(
        select(Bookmark).where(Bookmark.user_id == user.id, Bookmark.lesson_id == lesson.id)
    )
    if existing is not None:
        db.session.delete(existing)
        record_audit(user, "bookmark.delete", "lesson", lesson.id)
        db.session.flush()
        return False
    db.session.add(Bookmark(user_id=user.id, lesson_id=lesson.id))
    record_audit(user, "bookmark.create", "lesson", lesson.id)
    db.session.flush()
    return True


def get_note(user: User, lesson_id: int) -> Note | None:
    if not user.is_authenticated:
        return None
    return db.session.scalar(
        select(Note).where(Note.user_id == user.id, Note.lesson_id == lesson_id)
    )


def save_note(user: User, lesson: Lesson, source: str, *, base_version: int | None = None) -> Note:
    """Save the learner's private note (rendered and sanitized now, never on read).

    ``base_version`` is the version the editor started from; a stale one is a conflict.
    """
    if len(source) > NOTE_MAX:
        raise ValidationFailed(f"Notes are limited to {NOTE_MAX:,} characters.", field="source")
    note = get_note(user, lesson.id)
    if note is None:
        note = Note(user_id=user.id, lesson_id=lesson.id)
        db.session.add(note)
    elif base_version is not None and base_version != note.version:
        raise Conflict("This note was changed in another window. Reload to see the latest text.")
    if note.source == source and note.id is not None:
        return note
    note.source = source
    note.html = render_markdown(source)
    note.renderer_version = RENDERER_VERSION
    note.updated_at = utcnow()
    db.session.flush()
    record_audit(user, "note.save", "lesson", lesson.id, {"chars": [None, len(source)]})
    return note


# --- settings ------------------------------------------------------------------------------


def set_focus_mode(user: User, on: bool) -> None:
    """Remember whether lessons open in focus mode for this learner."""
    if user.focus_mode == on:
        return
    before = user.focus_mode
    user.focus_mode = on
    db.session.flush()
    record_audit(user, "user.focus_mode", "user", user.id, {"focus_mode": [before, on]})
