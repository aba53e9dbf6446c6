"""Authoring services: permissions, saves with revisions and conflicts, restore,
outline edits in one transaction, publishing checks, co-editors, re-rendering."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from tests.factories import enroll, make_course, make_quiz, make_user
from webapp.content import diff
from webapp.content.render import RENDERER_VERSION
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Course,
    CourseRevision,
    Lesson,
    LessonRevision,
    Module,
    Section,
    SectionProgress,
)
from webapp.services import authoring, progress
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed


@pytest.fixture
def editor(app_ctx):
    return make_user("ed@example.org", role="editor")


@pytest.fixture
def course(editor):
    course = authoring.create_course(editor, title="Writing tests", summary="About tests.",
                                     tags=["Testing"])
    module = authoring.add_module(editor, course, "Basics")
    authoring.add_lesson(editor, module, "First lesson", "Intro.\n\n## One\n\nText one.\n")
    db.session.commit()
    return course


def first_lesson(course: Course) -> Lesson:
    return db.session.scalar(select(Lesson).where(Lesson.course_id == course.id)
                             .order_by(Lesson.position))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


# --- permissions ------------------------------------------------------------------------


def test_only_owner_coeditors_and_admins_can_edit(course, editor):
    stranger = make_user("other@example.org", role="editor")
    learner = make_user("learner@example.org")
    admin = make_user("admin@example.org", role="admin")
    assert authoring.can_edit(editor, course)
    assert authoring.can_edit(admin, course)
    assert not authoring.can_edit(stranger, course)
    assert not authoring.can_edit(learner, course)
    with pytest.raises(PermissionDenied):
        authoring.get_course_for_edit(stranger, course.id)
    authoring.invite_editor(editor, course, "OTHER@example.org")
    db.session.commit()
    assert authoring.can_edit(stranger, course)
    assert not authoring.can_manage(stranger, course)
    with pytest.raises(PermissionDenied):
        authoring.invite_editor(stranger, course, "admin@example.org")
    authoring.remove_editor(editor, course, stranger.id)
    db.session.commit()
    assert not authoring.can_edit(stranger, course)
    assert {"course.editor_add", "course.editor_remove"} <= set(audit_actions())


def test_inviting_needs_an_existing_active_editor(course, editor):
    make_user("learner@example.org")
    make_user("banned@example.org", role="editor", status="banned")
    # The same answer for each: the form does not tell which addresses are learners'.
    answers = set()
    for address in ("nobody@example.org", "learner@example.org", "banned@example.org"):
        with pytest.raises(ValidationFailed) as refused:
            authoring.invite_editor(editor, course, address)
        answers.add((refused.value.message, refused.value.field, refused.value.status))
    assert answers == {(authoring.editors.NOT_AN_EDITOR, "email", 400)}
    with pytest.raises(ValidationFailed, match="owner"):
        authoring.invite_editor(editor, course, "ed@example.org")
    make_user("co@example.org", role="editor")
    authoring.invite_editor(editor, course, "co@example.org")
    with pytest.raises(Conflict):
        authoring.invite_editor(editor, course, "co@example.org")


def test_a_demoted_coeditor_loses_access(course, editor):
    co = make_user("co@example.org", role="editor")
    authoring.invite_editor(editor, course, "co@example.org")
    db.session.commit()
    co.role = "learner"
    db.session.commit()
    assert not authoring.can_edit(co, course)


def test_editable_courses_lists_owned_and_coedited_newest_first(editor):
    other = make_user("other@example.org", role="editor")
    mine = [authoring.create_course(editor, title=f"Mine {n}") for n in range(3)]
    theirs = authoring.create_course(other, title="Theirs")
    shared = authoring.create_course(other, title="Shared")
    authoring.invite_editor(other, shared, "ed@example.org")
    db.session.commit()
    page = authoring.editable_courses(editor, page_size=2)
    assert [c.title for c in page.courses] == ["Shared", "Mine 2"]
    rest = authoring.editable_courses(editor, after=page.next_cursor, page_size=2)
    assert [c.title for c in rest.courses] == ["Mine 1", "Mine 0"]
    assert rest.next_cursor is None
    assert theirs.id not in {c.id for c in page.courses + rest.courses}
    assert len(mine) == 3


# --- lesson saves, revisions, conflicts ---------------------------------------------------


def test_save_bumps_version_and_records_only_the_delta(course, editor):
    lesson = first_lesson(course)
    assert lesson.version == 1
    long_source = "Intro.\n\n## One\n\n" + "".join(f"Line {n}.\n" for n in range(200))
    authoring.save_lesson(editor, lesson, base_version=1, title=lesson.title, source=long_source)
    db.session.commit()
    edited = long_source.replace("Line 100.", "Line one hundred.")
    authoring.save_lesson(editor, lesson, base_version=2, title="Renamed", source=edited)
    db.session.commit()
    assert (lesson.version, lesson.title, lesson.source) == (3, "Renamed", edited)
    revision = db.session.scalar(select(LessonRevision).where(LessonRevision.version == 3))
    assert revision.delta["title"] == ["First lesson", "Renamed"]
    # One changed line: the delta holds that line both ways, not a copy of 200 lines.
    assert revision.delta["source"] == [[104, 105, ["Line 100.\n"], ["Line one hundred.\n"]]]
    assert authoring.lesson_text_at(lesson, 2) == ("First lesson", long_source)
    assert authoring.lesson_text_at(lesson, 1) == ("First lesson",
                                                   "Intro.\n\n## One\n\nText one.\n")
    assert "lesson.edit" in audit_actions()


def test_saving_unchanged_text_makes_no_version(course, editor):
    lesson = first_lesson(course)
    authoring.save_lesson(editor, lesson, base_version=1, title=lesson.title,
                          source=lesson.source)
    db.session.commit()
    assert lesson.version == 1
    assert db.session.scalar(select(func.count()).select_from(LessonRevision)) == 1


def test_stale_save_is_a_conflict_with_both_texts_and_a_merge(course, editor):
    lesson = first_lesson(course)
    base = "A\nB\nC\nD\n"
    authoring.save_lesson(editor, lesson, base_version=1, title="T", source=base)
    db.session.commit()
    authoring.save_lesson(editor, lesson, base_version=2, title="T", source="A2\nB\nC\nD\n")
    db.session.commit()
    with pytest.raises(authoring.EditConflict) as caught:
        authoring.save_lesson(editor, lesson, base_version=2, title="T",
                              source="A\nB\nC\nD2\n")
    db.session.rollback()
    conflict = caught.value
    assert conflict.status == 409
    assert conflict.current_version == 3
    assert conflict.current["source"] == "A2\nB\nC\nD\n"
    assert conflict.yours["source"] == "A\nB\nC\nD2\n"
    assert conflict.base["source"] == base
    assert (conflict.merged_source, conflict.merge_conflicts) == ("A2\nB\nC\nD2\n", 0)
    lesson = first_lesson(course)
    assert (lesson.version, lesson.source) == (3, "A2\nB\nC\nD\n")


def test_overlapping_edits_merge_with_markers(course, editor):
    lesson = first_lesson(course)
    authoring.save_lesson(editor, lesson, base_version=1, title="T", source="A\nB\nC\n")
    authoring.save_lesson(editor, lesson, base_version=2, title="T", source="A\nX\nC\n")
    db.session.commit()
    with pytest.raises(authoring.EditConflict) as caught:
        authoring.save_lesson(editor, lesson, base_version=2, title="T", source="A\nY\nC\n")
    assert caught.value.merge_conflicts == 1
    assert "<<<<<<<" in caught.value.merged_source and "Y\n" in caught.value.merged_source


def test_restore_is_a_new_revision(course, editor):
    lesson = first_lesson(course)
    original = lesson.source
    authoring.save_lesson(editor, lesson, base_version=1, title="Changed", source="New text.\n")
    db.session.commit()
    authoring.restore_lesson(editor, lesson, 1, base_version=2)
    db.session.commit()
    assert (lesson.version, lesson.title, lesson.source) == (3, "First lesson", original)
    revision = db.session.scalar(select(LessonRevision).where(LessonRevision.version == 3))
    assert (revision.kind, revision.restored_from) == ("restore", 1)
    with pytest.raises(NotFound):
        authoring.lesson_text_at(lesson, 9)


def test_saving_keeps_learner_progress_on_unchanged_sections(course, editor):
    learner = make_user("learner@example.org")
    lesson = first_lesson(course)
    authoring.publish(editor, db.session.get(Course, course.id))
    db.session.commit()
    enroll(learner, course)
    one = db.session.scalar(select(Section).where(Section.lesson_id == lesson.id,
                                                  Section.key == "one"))
    progress.complete_section(learner, one.id)
    db.session.commit()
    authoring.save_lesson(editor, lesson, base_version=lesson.version, title=lesson.title,
                          source=lesson.source + "\n## Two\n\nMore.\n")
    db.session.commit()
    assert db.session.get(Section, one.id) is not None
    assert db.session.scalar(select(func.count()).select_from(SectionProgress)) == 1


def test_source_size_limit_and_nul(course, editor):
    lesson = first_lesson(course)
    with pytest.raises(ValidationFailed, match="limit is 200 KB"):
        authoring.save_lesson(editor, lesson, base_version=1, title="T",
                              source="é" * 100_001)
    with pytest.raises(ValidationFailed, match="NUL"):
        authoring.save_lesson(editor, lesson, base_version=1, title="T", source="a\x00b")
    with pytest.raises(ValidationFailed, match="title"):
        authoring.save_lesson(editor, lesson, base_version=1, title="  ", source="x")
    db.session.rollback()
    assert first_lesson(course).version == 1


def test_a_stranger_cannot_save(course):
    stranger = make_user("other@example.org", role="editor")
    with pytest.raises(PermissionDenied):
        authoring.save_lesson(stranger, first_lesson(course), base_version=1, title="x",
                              source="x")


def test_preview_reports_missing_quizzes(course):
    preview = authoring.preview_lesson(course.id, "T", 'Text\n\n<Quiz id="nope"/>\n')
    assert any("nope" in f.reason for f in preview.findings)


# --- course metadata ----------------------------------------------------------------------


def test_course_metadata_revisions_conflict_and_restore(course, editor):
    assert course.version == 1
    authoring.update_course(editor, course, base_version=1, title="Writing good tests",
                            summary="About tests.", level="intermediate", tags=["Testing", "QA"])
    db.session.commit()
    assert (course.version, course.level) == (2, "intermediate")
    revision = db.session.scalar(select(CourseRevision).where(CourseRevision.version == 2))
    assert revision.delta == {"title": ["Writing tests", "Writing good tests"],
                              "level": ["beginner", "intermediate"],
                              "tags": [["Testing"], ["Testing", "QA"]]}
    with pytest.raises(authoring.EditConflict) as caught:
        authoring.update_course(editor, course, base_version=1, title="Stale", summary="",
                                level="beginner", tags=[])
    db.session.rollback()
    assert caught.value.current["title"] == "Writing good tests"
    assert caught.value.yours["title"] == "Stale"
    assert authoring.course_fields_at(course, 1)["tags"] == ["Testing"]
    authoring.restore_course(editor, course, 1, base_version=2)
    db.session.commit()
    assert (course.title, course.level, [t.name for t in course.tags]) == (
        "Writing tests", "beginner", ["Testing"])
    assert course.version == 3


def test_update_course_validates(course, editor):
    with pytest.raises(ValidationFailed, match="Level"):
        authoring.update_course(editor, course, base_version=1, title="T", summary="",
                                level="expert", tags=[])
    with pytest.raises(ValidationFailed, match="summary"):
        authoring.update_course(editor, course, base_version=1, title="T", summary="x" * 501,
                                level="beginner", tags=[])
    with pytest.raises(ValidationFailed, match="at most 8"):
        authoring.parse_tags(",".join(f"t{n}" for n in range(9)))
    assert authoring.parse_tags(" a, A ,b,, ") == ["a", "b"]


def test_learners_cannot_create_courses(app_ctx):
    with pytest.raises(PermissionDenied):
        authoring.create_course(make_user(), title="Nope")


# --- publishing -------------------------------------------------------------------------


def test_publish_checks_lessons_and_embedded_quizzes(editor):
    course = authoring.create_course(editor, title="Empty")
    with pytest.raises(ValidationFailed, match="no lessons"):
        authoring.publish(editor, course)
    module = authoring.add_module(editor, course, "M")
    authoring.add_lesson(editor, module, "L", 'Read this.\n\n<Quiz id="check"/>\n')
    with pytest.raises(ValidationFailed, match="no quiz with that id"):
        authoring.publish(editor, course)
    make_quiz(module, key="check", commit=False)
    assert authoring.publish_problems(course) == []
    authoring.publish(editor, course)
    db.session.commit()
    assert course.status == "published" and course.published_at is not None
    authoring.unpublish(editor, course)
    db.session.commit()
    assert course.status == "draft"
    kinds = list(db.session.scalars(select(CourseRevision.kind).order_by(CourseRevision.version)))
    assert kinds == ["create", "publish", "unpublish"]


# --- outline ----------------------------------------------------------------------------


def outline(course_id: int) -> list[tuple[str, list[str]]]:
    db.session.expire_all()
    modules = db.session.scalars(select(Module).where(Module.course_id == course_id)
                                 .order_by(Module.position)).all()
    result = []
    for module in modules:
        lessons = db.session.scalars(select(Lesson).where(Lesson.module_id == module.id)
                                     .order_by(Lesson.position)).all()
        result.append((module.title, [lesson.title for lesson in lessons]))
    return result


def course_order(course_id: int) -> list[str]:
    return list(db.session.scalars(select(Lesson.title).where(Lesson.course_id == course_id)
                                   .order_by(Lesson.position)))


@pytest.fixture
def outlined(editor):
    course = authoring.create_course(editor, title="Outline")
    a = authoring.add_module(editor, course, "A")
    b = authoring.add_module(editor, course, "B")
    for title in ("a1", "a2"):
        authoring.add_lesson(editor, a, title)
    for title in ("b1", "b2"):
        authoring.add_lesson(editor, b, title)
    db.session.commit()
    return course


def lesson_named(title: str) -> Lesson:
    return db.session.scalar(select(Lesson).where(Lesson.title == title))


def test_moving_lessons_within_and_across_modules(outlined, editor):
    authoring.move_lesson(editor, lesson_named("a2"), "up")
    assert outline(outlined.id) == [("A", ["a2", "a1"]), ("B", ["b1", "b2"])]
    authoring.move_lesson(editor, lesson_named("a1"), "down")  # past the edge: into B
    assert outline(outlined.id) == [("A", ["a2"]), ("B", ["a1", "b1", "b2"])]
    authoring.move_lesson(editor, lesson_named("a1"), "up")  # back to the end of A
    assert outline(outlined.id) == [("A", ["a2", "a1"]), ("B", ["b1", "b2"])]
    authoring.move_lesson(editor, lesson_named("a2"), "up")  # first of all: no-op
    authoring.move_lesson_to_module(editor, lesson_named("a2"),
                                    db.session.scalar(select(Module).where(Module.title == "B")))
    assert outline(outlined.id) == [("A", ["a1"]), ("B", ["b1", "b2", "a2"])]
    assert course_order(outlined.id) == ["a1", "b1", "b2", "a2"]
    with pytest.raises(ValidationFailed):
        authoring.move_lesson(editor, lesson_named("a1"), "sideways")


def test_moving_modules_carries_their_lessons(outlined, editor):
    b = db.session.scalar(select(Module).where(Module.title == "B"))
    authoring.move_module(editor, b, "up")
    assert outline(outlined.id) == [("B", ["b1", "b2"]), ("A", ["a1", "a2"])]
    assert course_order(outlined.id) == ["b1", "b2", "a1", "a2"]
    authoring.move_module(editor, b, "up")  # already first
    assert course_order(outlined.id) == ["b1", "b2", "a1", "a2"]


def test_delete_module_and_lesson(outlined, editor):
    authoring.delete_lesson(editor, lesson_named("a1"))
    a = db.session.scalar(select(Module).where(Module.title == "A"))
    assert authoring.module_delete_impact(a).lessons == 1
    authoring.delete_module(editor, a)
    db.session.commit()
    assert outline(outlined.id) == [("B", ["b1", "b2"])]
    assert db.session.scalar(select(func.count()).select_from(LessonRevision)
                             .where(LessonRevision.lesson_id.not_in(
                                 select(Lesson.id)))) == 0
    assert {"lesson.delete", "module.delete"} <= set(audit_actions())


def test_new_lessons_get_unique_slugs(outlined, editor):
    a = db.session.scalar(select(Module).where(Module.title == "A"))
    first = authoring.add_lesson(editor, a, "Same title")
    second = authoring.add_lesson(editor, a, "Same title")
    assert (first.slug, second.slug) == ("same-title", "same-title-2")


def test_outline_change_is_one_transaction(outlined, editor, monkeypatch):
    """A failure half-way through a move leaves the outline as it was."""
    before = course_order(outlined.id)

    def boom(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(authoring.outline, "record_audit", boom)
    with pytest.raises(RuntimeError):
        authoring.move_module(editor, db.session.scalar(select(Module).where(Module.title == "B")),
                              "up")
    db.session.rollback()
    assert course_order(outlined.id) == before


# --- re-rendering -------------------------------------------------------------------------


def test_rerender_rebuilds_only_stale_html_and_keeps_versions(app_ctx):
    course = make_course(modules=1, lessons=3)
    lessons = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)).all()
    section_ids = {s.id for lesson in lessons for s in lesson.sections}
    db.session.execute(update(Lesson).where(Lesson.id == lessons[0].id)
                       .values(renderer_version="r0-old"))
    db.session.execute(update(Section).where(Section.lesson_id == lessons[0].id)
                       .values(html="<p>stale</p>"))
    db.session.commit()
    assert authoring.rerender_lessons() == [lessons[0].id]
    db.session.commit()
    db.session.expire_all()
    assert authoring.rerender_lessons() == []
    assert "stale" not in "".join(s.html for s in lessons[0].sections)
    assert {s.id for lesson in lessons for s in lesson.sections} == section_ids
    assert {lesson.renderer_version for lesson in lessons} == {RENDERER_VERSION}
    assert {lesson.version for lesson in lessons} == {1}
    done = authoring.rerender_lessons(everything=True, batch=2)
    assert done == sorted(lesson.id for lesson in lessons)[:2]


def test_diff_round_trips():
    old, new = "a\nb\nc\n", "a\nB\nc\nd"
    delta = diff.make_delta(old, new)
    assert diff.apply(old, delta) == new
    assert diff.revert(new, delta) == old
    kinds = [line.kind for line in diff.readable_diff(old, new)]
    assert "add" in kinds and "remove" in kinds


def test_marker_lines_are_found_and_a_heading_underline_is_not_one():
    from webapp.content.diff import marker_lines, merge_texts

    merge = merge_texts("a\nb\nc\n", "a\nB1\nc\n", "a\nB2\nc\n", theirs_name="Ada's save")
    assert merge.conflicts == 1 and merge.places[0].theirs == "B1\n"
    assert marker_lines(merge.text) == [2, 4, 6]
    assert "change 1: Ada's save has" in merge.text.splitlines()[1]
    assert marker_lines("Title\n=======\n\nText.\n") == []
