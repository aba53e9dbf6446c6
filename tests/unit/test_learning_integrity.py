"""Deleting a course, lesson or user cascades or nulls as a user would expect.

Runs on whatever backend the suite uses (SQLite, or PostgreSQL via DATABASE_URL),
against the schema made by the migrations. After every deletion a generic check
walks every foreign key in the metadata and counts child rows whose non-null key
points at no parent row: there must be none.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import delete, exists, func, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import ONETOMANY

from tests import factories
from webapp.extensions import db
from webapp.models import (
    Answer,
    AnswerChoice,
    Attempt,
    AuditEvent,
    Base,
    Bookmark,
    Certificate,
    Choice,
    Course,
    CoursePrerequisite,
    CourseTag,
    Enrollment,
    Lesson,
    LessonProgress,
    Module,
    Note,
    Question,
    Quiz,
    Section,
    SectionProgress,
    SecurityEvent,
    Tag,
    User,
)
from webapp.models.base import utcnow
from webapp.services import progress, quizzes

# --- helpers -----------------------------------------------------------------------------


def orphan_report() -> dict[str, int]:
    """``"child.col -> parent.col": n`` for every foreign key with dangling rows."""
    problems: dict[str, int] = {}
    for table in db.metadata.sorted_tables:
        for fk in table.foreign_keys:
            child_col = fk.parent
            parent = fk.column.table.alias("parent_row")
            parent_col = parent.c[fk.column.name]
            stmt = (
                select(func.count()).select_from(table)
                .where(child_col.is_not(None))
                .where(~exists(select(parent_col).where(parent_col == child_col)))
            )
            n = db.session.scalar(stmt)
            if n:
                problems[f"{table.name}.{child_col.name} -> {fk.column.table.name}"] = n
    return problems


def assert_no_orphans() -> None:
    db.session.expire_all()
    assert orphan_report() == {}


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@dataclass
class World:
    owner_id: int
    learner_id: int
    bystander_id: int
    course_id: int
    other_course_id: int
    tag_id: int
    lesson_id: int  # the lesson the learner's "Resume" points at
    attempt_id: int
    audit_ids: list[int]


def _complete_course(user: User, course: Course) -> None:
    section_ids = db.session.scalars(
        select(Section.id).join(Lesson, Lesson.id == Section.lesson_id)
        .where(Lesson.course_id == course.id).order_by(Lesson.position, Section.position)
    ).all()
    for section_id in section_ids:
        progress.complete_section(user, section_id)
    db.session.commit()


def build_world() -> World:
    """Owner, learner (with everything), bystander, a course with quizzes, another course."""
    owner = factories.make_user(role="editor", display_name="Owner")
    learner = factories.make_user(display_name="Learner")
    bystander = factories.make_user(display_name="Bystander")
    course = factories.make_course("Data integrity", owner=owner, tags=("databases",),
                                   modules=2, lessons=2, sections=3, quiz=True)
    other = factories.make_course("Something else", owner=owner, tags=("databases",),
                                  modules=1, lessons=2, sections=2)
    db.session.add(CoursePrerequisite(course_id=other.id, prerequisite_id=course.id))
    factories.make_quiz(other.modules[0], commit=False, questions=[quizzes.QuestionSpec(
        "short_text", "Name the clause that keeps rows consistent.", accepted=("foreign key",))])
    db.session.commit()

    for user in (learner, bystander):
        factories.enroll(user, course)
        factories.enroll(user, other)

    _complete_course(learner, course)
    # Partial progress elsewhere, and for the bystander.
    first_other = db.session.scalar(
        select(Section.id).join(Lesson).where(Lesson.course_id == other.id).limit(1))
    progress.complete_section(learner, first_other)
    first_course = db.session.scalar(
        select(Section.id).join(Lesson).where(Lesson.course_id == course.id)
        .order_by(Lesson.position, Section.position).limit(1))
    progress.complete_section(bystander, first_course)
    progress.complete_section(bystander, first_other)
    db.session.commit()

    # Quizzes: the learner passes them all (the last pass issues the certificate).
    attempt_id = None
    for quiz in quizzes.quizzes_for_course(course.id):
        attempt = quizzes.start_attempt(learner, quiz)
        form = {f"q{q.id}": [str(next(c.id for c in q.choices if c.is_correct))]
                for q in quiz.questions}
        result = quizzes.submit_attempt(learner, attempt.id, form)
        assert result.attempt.passed
        attempt_id = result.attempt.id
        db.session.commit()
    # A failed attempt by the bystander, so answers of two users exist.
    quiz = quizzes.quizzes_for_course(course.id)[0]
    attempt = quizzes.start_attempt(bystander, quiz)
    wrong = {f"q{q.id}": [str(next(c.id for c in q.choices if not c.is_correct))]
             for q in quiz.questions}
    quizzes.submit_attempt(bystander, attempt.id, wrong)
    db.session.commit()

    enrollment = progress.get_enrollment(learner, course.id)
    assert enrollment.completed_at is not None
    assert quizzes.certificate_for(learner, course.id) is not None
    lesson = db.session.get(Lesson, enrollment.last_lesson_id)
    assert lesson is not None and enrollment.last_section_id is not None

    for user in (learner, bystander):
        progress.toggle_bookmark(user, lesson)
        progress.save_note(user, lesson, f"My note by {user.display_name}, **bold**.")
    db.session.commit()

    audit_ids = list(db.session.scalars(
        select(AuditEvent.id).where(AuditEvent.actor_id == learner.id)))
    assert audit_ids
    tag_id = db.session.scalar(select(Tag.id).where(Tag.slug == "databases"))
    assert_no_orphans()
    world = World(owner.id, learner.id, bystander.id, course.id, other.id, tag_id, lesson.id,
                  attempt_id, audit_ids)
    db.session.remove()
    return world


def remove(model, row_id: int, how: str) -> None:
    """Delete one row the way an admin screen (ORM) or a maintenance script (SQL) would."""
    if how == "orm":
        obj = db.session.get(model, row_id)
        assert obj is not None
        db.session.delete(obj)
    else:
        db.session.execute(delete(model).where(model.id == row_id))
    db.session.commit()
    db.session.expire_all()


HOW = pytest.mark.parametrize("how", ["orm", "sql"])


# --- the schema ---------------------------------------------------------------------------


def test_every_foreign_key_has_an_explicit_on_delete_in_the_database(app_ctx):
    inspector = inspect(db.engine)
    missing = []
    for table in db.metadata.sorted_tables:
        for fk in inspector.get_foreign_keys(table.name):
            ondelete = (fk.get("options") or {}).get("ondelete")
            if not ondelete:
                missing.append(f"{table.name}.{','.join(fk['constrained_columns'])}")
    assert missing == []


def test_a_fresh_world_has_no_orphans(app_ctx):
    build_world()
    assert_no_orphans()


# --- deleting a lesson ---------------------------------------------------------------------


@HOW
def test_deleting_a_lesson_removes_its_learner_data_and_clears_resume(app_ctx, how):
    w = build_world()
    section_ids = list(db.session.scalars(
        select(Section.id).where(Section.lesson_id == w.lesson_id)))
    other_sections = count(Section, Section.lesson_id != w.lesson_id)
    assert section_ids and count(SectionProgress, SectionProgress.lesson_id == w.lesson_id)

    remove(Lesson, w.lesson_id, how)

    assert count(Section, Section.lesson_id == w.lesson_id) == 0
    assert count(Section, Section.id.in_(section_ids)) == 0
    assert count(SectionProgress, SectionProgress.lesson_id == w.lesson_id) == 0
    assert count(SectionProgress, SectionProgress.section_id.in_(section_ids)) == 0
    assert count(LessonProgress, LessonProgress.lesson_id == w.lesson_id) == 0
    assert count(LessonProgress, LessonProgress.last_section_id.in_(section_ids)) == 0
    assert count(Bookmark, Bookmark.lesson_id == w.lesson_id) == 0
    assert count(Note, Note.lesson_id == w.lesson_id) == 0
    # Resume falls back to the first lesson instead of pointing nowhere.
    for user_id in (w.learner_id, w.bystander_id):
        enrollment = db.session.scalar(select(Enrollment).where(
            Enrollment.user_id == user_id, Enrollment.course_id == w.course_id))
        assert enrollment is not None, "the enrollment itself stays"
        if user_id == w.learner_id:
            assert enrollment.last_lesson_id is None
            assert enrollment.last_section_id is None
    # Everything else stays: other sections, the course, the certificate, the attempts.
    assert count(Section) == other_sections
    assert db.session.get(Course, w.course_id) is not None
    assert count(Certificate, Certificate.user_id == w.learner_id) == 1
    assert db.session.get(Attempt, w.attempt_id) is not None
    learner = db.session.get(User, w.learner_id)
    target = progress.resume_target(learner, db.session.get(Course, w.course_id))
    assert target is not None and target.lesson.id != w.lesson_id
    assert_no_orphans()


def _one_to_many() -> list:
    """Every parent -> children collection mapped on the models (secondary tables excluded)."""
    Base.registry.configure()
    params = []
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
        for rel in mapper.relationships:
            if rel.direction is not ONETOMANY or rel.secondary is not None:
                continue
            name = f"{mapper.class_.__name__}.{rel.key}"
            params.append(pytest.param(mapper.class_, rel.key, id=name))
    return params


@pytest.mark.parametrize(("model", "collection"), _one_to_many())
def test_deleting_a_parent_whose_children_are_loaded(app_ctx, model, collection):
    """An admin screen showed the parent with its children (loaded), then deletes it."""
    build_world()
    rel = getattr(model, collection).property
    child_fk = next(iter(rel.remote_side))
    child_model = rel.mapper.class_
    parent_id = db.session.scalar(select(child_fk).where(child_fk.is_not(None)).limit(1))
    assert parent_id is not None, f"the world has no {child_model.__name__} rows"
    parent = db.session.get(model, parent_id)
    assert getattr(parent, collection)  # loaded into the session
    db.session.delete(parent)
    db.session.commit()
    db.session.expire_all()
    assert count(child_model, child_fk == parent_id) == 0
    assert_no_orphans()


# --- deleting a user --------------------------------------------------------------------------


@HOW
def test_the_database_refuses_to_delete_a_user_the_audit_trail_names(app_ctx, how):
    """Audit rows are append-only (triggers): deleting a user they name would rewrite
    them (ON DELETE SET NULL), so the database refuses, however the delete is sent."""
    w = build_world()
    assert count(AuditEvent, AuditEvent.actor_id == w.learner_id)
    with pytest.raises(DBAPIError, match="append-only"):
        remove(User, w.learner_id, how)
    db.session.rollback()
    assert db.session.get(User, w.learner_id) is not None
    assert count(AuditEvent, AuditEvent.id.in_(w.audit_ids)) == len(w.audit_ids)


def test_closing_a_learners_account_removes_their_data_and_keeps_the_audit_trail(app_ctx):
    from webapp.services import account_data

    w = build_world()
    answer_ids = list(db.session.scalars(
        select(Answer.id).join(Attempt).where(Attempt.user_id == w.learner_id)))
    assert answer_ids
    assert count(AnswerChoice, AnswerChoice.answer_id.in_(answer_ids))
    security_ids = list(db.session.scalars(
        select(SecurityEvent.id).where(SecurityEvent.user_id == w.learner_id)))
    bystander_rows = {
        model: count(model, model.user_id == w.bystander_id)
        for model in (Enrollment, SectionProgress, LessonProgress, Attempt, Note, Bookmark)
    }

    account_data.close_account(db.session.get(User, w.learner_id), actor=None)
    db.session.commit()
    db.session.expire_all()

    for model in (Enrollment, SectionProgress, LessonProgress, Attempt, Note, Bookmark,
                  Certificate):
        assert count(model, model.user_id == w.learner_id) == 0, model.__name__
    assert count(Answer, Answer.id.in_(answer_ids)) == 0
    assert count(AnswerChoice, AnswerChoice.answer_id.in_(answer_ids)) == 0
    # The audit trail and security events stay, naming the anonymized row (a pseudonym).
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.id.in_(w.audit_ids))).all()
    assert len(rows) == len(w.audit_ids)
    events = db.session.scalars(
        select(SecurityEvent).where(SecurityEvent.id.in_(security_ids))).all()
    assert len(events) == len(security_ids)
    assert all(event.user_id == w.learner_id for event in events)
    assert db.session.get(User, w.learner_id).status == "deleted"
    for model, n in bystander_rows.items():
        assert count(model, model.user_id == w.bystander_id) == n, model.__name__
    assert_no_orphans()


def test_closing_a_course_owners_account_keeps_their_courses(app_ctx):
    from webapp.services import account_data

    w = build_world()
    account_data.close_account(db.session.get(User, w.owner_id), actor=None)
    db.session.commit()
    db.session.expire_all()
    for course_id in (w.course_id, w.other_course_id):
        course = db.session.get(Course, course_id)
        assert course is not None and course.owner_id == w.owner_id
        assert course.status == "published"
    assert count(Lesson, Lesson.course_id == w.course_id) == 4
    assert count(Enrollment, Enrollment.course_id == w.course_id) == 2
    assert_no_orphans()


# --- deleting a course ------------------------------------------------------------------------


@HOW
def test_deleting_a_course_removes_everything_under_it(app_ctx, how):
    w = build_world()
    quiz_ids = list(db.session.scalars(select(Quiz.id).where(Quiz.course_id == w.course_id)))
    question_ids = list(db.session.scalars(
        select(Question.id).where(Question.quiz_id.in_(quiz_ids))))
    lesson_ids = list(db.session.scalars(select(Lesson.id).where(Lesson.course_id == w.course_id)))
    attempt_ids = list(db.session.scalars(select(Attempt.id).where(Attempt.quiz_id.in_(quiz_ids))))
    assert quiz_ids and question_ids and lesson_ids and len(attempt_ids) >= 2
    audit_before = count(AuditEvent)
    other_rows = {
        "sections": count(Section, Section.lesson_id.in_(
            select(Lesson.id).where(Lesson.course_id == w.other_course_id))),
        "progress": count(SectionProgress, SectionProgress.course_id == w.other_course_id),
        "enrollments": count(Enrollment, Enrollment.course_id == w.other_course_id),
    }

    remove(Course, w.course_id, how)

    assert count(Module, Module.course_id == w.course_id) == 0
    assert count(Lesson, Lesson.course_id == w.course_id) == 0
    assert count(Section, Section.lesson_id.in_(lesson_ids)) == 0
    assert count(Quiz, Quiz.course_id == w.course_id) == 0
    assert count(Question, Question.id.in_(question_ids)) == 0
    assert count(Choice, Choice.question_id.in_(question_ids)) == 0
    assert count(Attempt, Attempt.id.in_(attempt_ids)) == 0
    assert count(Answer, Answer.attempt_id.in_(attempt_ids)) == 0
    for model in (Enrollment, SectionProgress, LessonProgress, Certificate):
        assert count(model, model.course_id == w.course_id) == 0, model.__name__
    for model in (Bookmark, Note):
        assert count(model, model.lesson_id.in_(lesson_ids)) == 0, model.__name__
    assert count(CourseTag, CourseTag.course_id == w.course_id) == 0
    assert count(CoursePrerequisite, CoursePrerequisite.prerequisite_id == w.course_id) == 0
    # Shared things and other courses stay; users stay; the audit trail stays.
    assert db.session.get(Tag, w.tag_id) is not None
    assert count(CourseTag, CourseTag.course_id == w.other_course_id) == 1
    assert db.session.get(Course, w.other_course_id) is not None
    assert other_rows == {
        "sections": count(Section, Section.lesson_id.in_(
            select(Lesson.id).where(Lesson.course_id == w.other_course_id))),
        "progress": count(SectionProgress, SectionProgress.course_id == w.other_course_id),
        "enrollments": count(Enrollment, Enrollment.course_id == w.other_course_id),
    }
    for user_id in (w.owner_id, w.learner_id, w.bystander_id):
        assert db.session.get(User, user_id) is not None
    assert count(AuditEvent) >= audit_before
    assert_no_orphans()


# --- constraints --------------------------------------------------------------------------------


def _insert_fails(*rows) -> None:
    with pytest.raises(IntegrityError):
        db.session.add_all(rows)
        db.session.flush()
    db.session.rollback()


def _ids():
    w = build_world()
    section = db.session.scalar(select(Section).where(Section.lesson_id == w.lesson_id).limit(1))
    return w, section


@pytest.mark.parametrize("model", [SectionProgress, LessonProgress])
def test_completed_progress_needs_completed_at_and_only_then(app_ctx, model):
    w, section = _ids()
    keys = {"user_id": w.owner_id, "lesson_id": w.lesson_id, "course_id": w.course_id}
    if model is SectionProgress:
        keys["section_id"] = section.id
    _insert_fails(model(**keys, status="completed", completed_at=None))
    _insert_fails(model(**keys, status="in_progress", completed_at=utcnow()))
    _insert_fails(model(**keys, status="finished", completed_at=utcnow()))
    # The valid forms are accepted.
    db.session.add(model(**keys, status="completed", completed_at=utcnow()))
    db.session.commit()
    assert_no_orphans()


def test_one_enrollment_bookmark_certificate_note_and_progress_per_user(app_ctx):
    w, section = _ids()
    learner = w.learner_id
    _insert_fails(Enrollment(user_id=learner, course_id=w.course_id))
    _insert_fails(Bookmark(user_id=learner, lesson_id=w.lesson_id))
    _insert_fails(Note(user_id=learner, lesson_id=w.lesson_id))
    _insert_fails(Certificate(user_id=learner, course_id=w.course_id, code="another-code",
                              learner_name="Learner", course_title="Data integrity"))
    _insert_fails(SectionProgress(user_id=learner, section_id=section.id, lesson_id=w.lesson_id,
                                  course_id=w.course_id, status="completed",
                                  completed_at=utcnow()))
    _insert_fails(LessonProgress(user_id=learner, lesson_id=w.lesson_id, course_id=w.course_id))
    # Two new rows for a fresh user in one flush: the second one is refused too.
    _insert_fails(Enrollment(user_id=w.owner_id, course_id=w.course_id),
                  Enrollment(user_id=w.owner_id, course_id=w.course_id))
    _insert_fails(Bookmark(user_id=w.owner_id, lesson_id=w.lesson_id),
                  Bookmark(user_id=w.owner_id, lesson_id=w.lesson_id))
    assert count(Enrollment, Enrollment.user_id == w.owner_id) == 0


def test_rows_pointing_at_nothing_are_refused(app_ctx):
    """Foreign keys are enforced (SQLite runs with PRAGMA foreign_keys=ON)."""
    w, _section = _ids()
    _insert_fails(Enrollment(user_id=w.learner_id, course_id=999_999))
    _insert_fails(Bookmark(user_id=999_999, lesson_id=w.lesson_id))
    assert_no_orphans()
