"""Authoring: who may edit a course, saving lessons and course metadata with
revisions and conflicts, the outline, publishing, co-editors and re-rendering.

Every save is a compare-and-set on the row's ``version`` (the version the edit
form started from): a stale save raises ``EditConflict`` carrying both texts,
so nobody's work is silently lost. Each save writes one revision event holding
only the delta, and an audit row, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import selectinload

from webapp.content import diff
from webapp.content.render import (
    RENDERER_VERSION,
    Finding,
    lesson_embeds,
    render_lesson,
    slugify,
)
from webapp.extensions import db
from webapp.models import (
    Course,
    CourseEditor,
    CourseRevision,
    Enrollment,
    Lesson,
    LessonRevision,
    Module,
    Question,
    Quiz,
    SectionProgress,
    User,
)
from webapp.models.courses import LEVELS
from webapp.services import courses as course_service
from webapp.services.audit import delta_of, record_audit
from webapp.services.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed

MAX_SOURCE_BYTES = 200_000
MAX_TITLE = 160
MAX_SUMMARY = 500
MAX_TAGS = 8
EDITOR_ROLES = ("editor", "admin")
PAGE_SIZE = 20
STARTER_SOURCE = "Introduce the lesson here.\n\n## First step\n\nWrite the first step.\n"


# --- permissions -------------------------------------------------------------------------


def can_edit(actor: User | None, course: Course) -> bool:
    """Admins, the owner and invited co-editors (who must still hold an editor role)."""
    if actor is None or not actor.is_active or actor.role not in EDITOR_ROLES:
        return False
    if actor.role == "admin" or course.owner_id == actor.id:
        return True
    return db.session.get(CourseEditor, (course.id, actor.id)) is not None


def require_editor(actor: User | None, course: Course) -> None:
    if not can_edit(actor, course):
        raise PermissionDenied("You are not an editor of this course.")


def can_manage(actor: User | None, course: Course) -> bool:
    """Owner or admin: may invite and remove co-editors."""
    return can_edit(actor, course) and (actor.role == "admin" or course.owner_id == actor.id)


def get_course_for_edit(actor: User, course_id: int) -> Course:
    """A course the actor may edit, with its outline (modules → lessons) loaded."""
    course = db.session.scalar(
        select(Course).where(Course.id == course_id).options(
            selectinload(Course.modules).selectinload(Module.lessons),
            selectinload(Course.tags),
        )
    )
    if course is None:
        raise NotFound("There is no such course.")
    require_editor(actor, course)
    return course


def get_lesson_for_edit(actor: User, lesson_id: int) -> Lesson:
    return _get_for_edit(actor, Lesson, lesson_id, "lesson")


def get_module_for_edit(actor: User, module_id: int) -> Module:
    return _get_for_edit(actor, Module, module_id, "module")


def _get_for_edit(actor: User, model: type[Lesson] | type[Module], row_id: int, what: str):
    row = db.session.get(model, row_id)
    if row is None:
        raise NotFound(f"There is no such {what}.")
    require_editor(actor, row.course)
    return row


@dataclass(frozen=True)
class CoursePage:
    courses: Sequence[Course]
    next_cursor: int | None


def editable_courses(actor: User, after: int | None = None,
                     page_size: int = PAGE_SIZE) -> CoursePage:
    """The courses the actor owns or co-edits (all, for an admin), newest first."""
    stmt = select(Course).order_by(Course.id.desc()).limit(page_size + 1)
    if actor.role != "admin":
        stmt = stmt.where(or_(
            Course.owner_id == actor.id,
            Course.id.in_(select(CourseEditor.course_id).where(CourseEditor.user_id == actor.id)),
        ))
    if after is not None:
        stmt = stmt.where(Course.id < after)
    rows = list(db.session.scalars(stmt))
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_cursor = rows[-1].id
    return CoursePage(rows, next_cursor)


# --- validation helpers --------------------------------------------------------------------


def _title(value: str, what: str = "title") -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"Give it a {what}.", field="title")
    if len(value) > MAX_TITLE:
        raise ValidationFailed(f"The {what} is {len(value)} characters; the limit is "
                               f"{MAX_TITLE}.", field="title")
    return value


def check_source(source: str) -> str:
    """Normalize line endings and enforce the size limit (in UTF-8 bytes)."""
    source = (source or "").replace("\r\n", "\n").replace("\r", "\n")
    size = len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        raise ValidationFailed(
            f"The lesson text is {size // 1000} KB; the limit is {MAX_SOURCE_BYTES // 1000} KB. "
            "Split it into two lessons.", field="source")
    if "\x00" in source:
        raise ValidationFailed("The lesson text contains a NUL character.", field="source")
    return source


def parse_tags(text: str) -> list[str]:
    names = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if name and name.lower() not in [n.lower() for n in names]:
            names.append(name)
    if len(names) > MAX_TAGS:
        raise ValidationFailed(f"Use at most {MAX_TAGS} tags.", field="tags")
    for name in names:
        if len(name) > 40:
            raise ValidationFailed(f"Tag “{name[:20]}…” is longer than 40 characters.",
                                   field="tags")
    return names


# --- conflicts ------------------------------------------------------------------------------


class EditConflict(Conflict):
    """Someone saved a newer version since the form was loaded.

    Carries the current values, the ones the editor submitted, the base they
    started from (when the history has it) and a three-way merge proposal.
    """

    def __init__(self, *, current_version: int, current: dict[str, Any],
                 yours: dict[str, Any], base: dict[str, Any] | None = None,
                 merged_source: str | None = None, merge_conflicts: int = 0) -> None:
        super().__init__("Someone else saved a newer version while you were editing.")
        self.current_version = current_version
        self.current = current
        self.yours = yours
        self.base = base
        self.merged_source = merged_source
        self.merge_conflicts = merge_conflicts


def _compare_and_set(model: type[Course] | type[Lesson], row_id: int, base_version: int) -> bool:
    result = db.session.execute(
        update(model).where(model.id == row_id, model.version == base_version)
        .values(version=model.version + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# --- lessons -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    html_sections: list[tuple[str, str]]
    findings: list[Finding]


def _quiz_findings(course_id: int, quiz_keys: Sequence[str]) -> list[Finding]:
    if not quiz_keys:
        return []
    known = set(db.session.scalars(
        select(Quiz.key).where(Quiz.course_id == course_id, Quiz.key.in_(list(quiz_keys)))
    ))
    return [Finding(None, "warning", f"<Quiz id=\"{key}\"/>: this course has no quiz with "
                                     "that id; the course cannot be published until it does.")
            for key in quiz_keys if key not in known]


def preview_lesson(course_id: int, title: str, source: str) -> Preview:
    """Exactly what learners will see, plus what was dropped, escaped or removed."""
    source = check_source(source)
    result = render_lesson(source, (title or "").strip() or "Untitled")
    return Preview(
        html_sections=[(s.title, s.html) for s in result.sections],
        findings=[*result.findings, *_quiz_findings(course_id, result.quiz_keys)],
    )


def _render_into(lesson: Lesson, source: str) -> list[Finding]:
    """Render ``source`` into the lesson's sections (keys kept), without a revision."""
    result = render_lesson(source, lesson.title)
    course_service.apply_source(lesson, source, result.sections)
    return list(result.findings)


def record_lesson_revision(
    actor: User | None, lesson: Lesson, version: int, kind: str,
    before: dict[str, str], after: dict[str, str], restored_from: int | None = None,
    extra_delta: dict[str, Any] | None = None,
) -> LessonRevision:
    delta: dict[str, Any] = dict(extra_delta or {})
    if before.get("title") != after["title"]:
        delta["title"] = [before.get("title"), after["title"]]
    hunks = diff.make_delta(before.get("source") or "", after["source"])
    if hunks:
        delta["source"] = hunks
    revision = LessonRevision(lesson_id=lesson.id, version=version, kind=kind,
                              actor_id=actor.id if actor else None, delta=delta,
                              restored_from=restored_from)
    db.session.add(revision)
    return revision


def save_lesson(
    actor: User, lesson: Lesson, *, base_version: int, title: str, source: str,
    kind: str = "edit", restored_from: int | None = None,
    extra_delta: dict[str, Any] | None = None,
) -> list[Finding]:
    """Save title and source against ``base_version``; a stale version is an EditConflict.

    ``extra_delta`` adds other changed fields to the revision (e.g. AI provenance).

    Renders and sanitizes into sections (unchanged sections keep their rows and
    the learners' progress), records a revision (delta only) and an audit row.
    Returns the renderer's findings for the editor.
    """
    require_editor(actor, lesson.course)
    title = _title(title)
    source = check_source(source)
    if title == lesson.title and source == (lesson.source or "") and kind == "edit":
        # Nothing changed: no new version, so narration and other derived files stay valid.
        return []
    if not _compare_and_set(Lesson, lesson.id, base_version):
        db.session.refresh(lesson)
        raise _lesson_conflict(lesson, base_version, title, source)
    before = {"title": lesson.title, "source": lesson.source or ""}
    lesson.title = title
    findings = _render_into(lesson, source)
    version = base_version + 1
    # The UPDATE above bumped the row; keep the in-memory object in step.
    db.session.flush()
    db.session.refresh(lesson, ["version"])
    record_lesson_revision(actor, lesson, version, kind, before,
                           {"title": title, "source": source}, restored_from, extra_delta)
    audit_delta = delta_of(before, {"title": title})
    audit_delta["source_chars"] = [len(before["source"]), len(source)]
    audit_delta["version"] = [base_version, version]
    record_audit(actor, f"lesson.{kind}", "lesson", lesson.id, audit_delta)
    db.session.flush()
    return findings


def _lesson_conflict(lesson: Lesson, base_version: int, title: str, source: str) -> EditConflict:
    base = None
    merged, conflicts = None, 0
    try:
        base_title, base_source = lesson_text_at(lesson, base_version)
    except NotFound:
        base_title = base_source = None
    if base_source is not None:
        base = {"title": base_title, "source": base_source}
        merge = diff.merge_texts(base_source, lesson.source or "", source)
        merged, conflicts = merge.text, merge.conflicts
    return EditConflict(
        current_version=lesson.version,
        current={"title": lesson.title, "source": lesson.source or ""},
        yours={"title": title, "source": source},
        base=base, merged_source=merged, merge_conflicts=conflicts,
    )


def lesson_text_at(lesson: Lesson, version: int) -> tuple[str, str]:
    """Title and source of ``lesson`` as they were at ``version``, rebuilt from the deltas."""
    if version == lesson.version:
        return lesson.title, lesson.source or ""
    revisions = _revisions_back_to(LessonRevision, LessonRevision.lesson_id, lesson.id,
                                   lesson.version, version)
    title, source = lesson.title, lesson.source or ""
    for revision in revisions:
        if "title" in revision.delta:
            title = revision.delta["title"][0]
        if "source" in revision.delta:
            source = diff.revert(source, revision.delta["source"])
    return title, source


@dataclass(frozen=True)
class RevisionPage:
    revisions: Sequence[LessonRevision] | Sequence[CourseRevision]
    next_cursor: int | None


def _revision_page(model: type[LessonRevision] | type[CourseRevision], owner_column,
                   owner_id: int, before: int | None, page_size: int) -> RevisionPage:
    stmt = (select(model).where(owner_column == owner_id)
            .options(selectinload(model.actor))
            .order_by(model.version.desc()).limit(page_size + 1))
    if before is not None:
        stmt = stmt.where(model.version < before)
    rows = list(db.session.scalars(stmt))
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_cursor = rows[-1].version
    return RevisionPage(rows, next_cursor)


def _revisions_back_to(model: type[LessonRevision] | type[CourseRevision], owner_column,
                       owner_id: int, current: int, version: int) -> Sequence[Any]:
    """The revisions after ``version``, newest first; NotFound when one is missing."""
    if not 1 <= version < current:
        raise NotFound("There is no such revision.")
    revisions = db.session.scalars(
        select(model).where(owner_column == owner_id, model.version > version)
        .order_by(model.version.desc())
    ).all()
    if [r.version for r in revisions] != list(range(current, version, -1)):
        raise NotFound("That revision is older than the recorded history.")
    return revisions


def lesson_revisions(lesson: Lesson, before: int | None = None,
                     page_size: int = PAGE_SIZE) -> RevisionPage:
    """Revisions newest first, keyset-paginated by version."""
    return _revision_page(LessonRevision, LessonRevision.lesson_id, lesson.id, before,
                          page_size)


def get_lesson_revision(lesson: Lesson, version: int) -> LessonRevision:
    revision = db.session.scalar(select(LessonRevision).where(
        LessonRevision.lesson_id == lesson.id, LessonRevision.version == version))
    if revision is None:
        raise NotFound("There is no such revision.")
    return revision


def restore_lesson(actor: User, lesson: Lesson, version: int, *, base_version: int) -> None:
    """Make ``version``'s text current again, as a new revision."""
    title, source = lesson_text_at(lesson, version)
    save_lesson(actor, lesson, base_version=base_version, title=title, source=source,
                kind="restore", restored_from=version)


def rerender_lessons(*, everything: bool = False, after_id: int = 0,
                     batch: int = 200) -> list[int]:
    """Rebuild one batch of stored HTML made by an older renderer/policy (or all of it).

    Returns the ids done, in order; call again with ``after_id`` set to the last
    one until nothing is returned. No revision is recorded and versions stay:
    the source did not change. Flushes; the caller commits each batch, so a
    large site never holds one long transaction.
    """
    stmt = select(Lesson).where(Lesson.id > after_id).order_by(Lesson.id).limit(batch)
    if not everything:
        stmt = stmt.where(Lesson.renderer_version != RENDERER_VERSION)
    done = []
    for lesson in db.session.scalars(stmt).all():
        result = render_lesson(lesson.source or "", lesson.title)
        course_service.store_sections(lesson, result.sections)
        lesson.renderer_version = RENDERER_VERSION
        done.append(lesson.id)
    db.session.flush()
    return done


# --- courses --------------------------------------------------------------------------------


def _course_fields(course: Course) -> dict[str, Any]:
    return {"title": course.title, "summary": course.summary, "level": course.level,
            "tags": [t.name for t in course.tags]}


def create_course(actor: User, *, title: str, summary: str = "", level: str = "beginner",
                  tags: Sequence[str] = ()) -> Course:
    """A new draft owned by the actor, with its first course revision."""
    if actor.role not in EDITOR_ROLES:
        raise PermissionDenied("Only editors can create courses.")
    course = course_service.create_course_unchecked(actor, title=_title(title), summary=summary,
                                          level=level, tags=tags)
    db.session.add(CourseRevision(course_id=course.id, version=1, kind="create",
                                  actor_id=actor.id,
                                  delta=delta_of({}, _course_fields(course))))
    db.session.flush()
    return course


def update_course(actor: User, course: Course, *, base_version: int, title: str, summary: str,
                  level: str, tags: Sequence[str], kind: str = "metadata",
                  restored_from: int | None = None) -> None:
    """Save course metadata against ``base_version`` (EditConflict when stale)."""
    require_editor(actor, course)
    title = _title(title)
    summary = (summary or "").strip()
    if len(summary) > MAX_SUMMARY:
        raise ValidationFailed(f"The summary is {len(summary)} characters; the limit is "
                               f"{MAX_SUMMARY}.", field="summary")
    if level not in LEVELS:
        raise ValidationFailed(f"Level must be one of {', '.join(LEVELS)}.", field="level")
    after = {"title": title, "summary": summary, "level": level, "tags": list(tags)}
    if not _compare_and_set(Course, course.id, base_version):
        db.session.refresh(course)
        raise EditConflict(current_version=course.version, current=_course_fields(course),
                           yours=after)
    before = _course_fields(course)
    course.title, course.summary, course.level = title, summary, level
    course.tags = course_service.get_or_create_tags(tags)
    db.session.flush()
    db.session.refresh(course, ["version"])
    delta = delta_of(before, after)
    db.session.add(CourseRevision(course_id=course.id, version=base_version + 1, kind=kind,
                                  actor_id=actor.id, delta=delta, restored_from=restored_from))
    record_audit(actor, f"course.{kind}", "course", course.id,
                 {**delta, "version": [base_version, base_version + 1]})
    db.session.flush()


def course_fields_at(course: Course, version: int) -> dict[str, Any]:
    """Course metadata as it was at ``version``, rebuilt from the deltas."""
    fields = _course_fields(course)
    if version == course.version:
        return fields
    revisions = _revisions_back_to(CourseRevision, CourseRevision.course_id, course.id,
                                   course.version, version)
    for revision in revisions:
        for key, (old, _new) in revision.delta.items():
            if key in fields:
                fields[key] = old
    return fields


def course_revisions(course: Course, before: int | None = None,
                     page_size: int = PAGE_SIZE) -> RevisionPage:
    """Course revisions newest first, keyset-paginated by version."""
    return _revision_page(CourseRevision, CourseRevision.course_id, course.id, before,
                          page_size)


def restore_course(actor: User, course: Course, version: int, *, base_version: int) -> None:
    fields = course_fields_at(course, version)
    update_course(actor, course, base_version=base_version, kind="restore",
                  restored_from=version, **fields)


# --- publishing -----------------------------------------------------------------------------


def publish_problems(course: Course) -> list[str]:
    """Why the course cannot be published yet (empty when it can)."""
    problems = []
    lessons = db.session.scalars(
        select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)
    ).all()
    if not lessons:
        problems.append("The course has no lessons yet.")
    known = set(db.session.scalars(select(Quiz.key).where(Quiz.course_id == course.id)))
    empty = db.session.scalars(
        select(Quiz.title).where(Quiz.course_id == course.id,
                                 Quiz.id.not_in(select(Question.quiz_id)))
    ).all()
    problems.extend(f"Quiz “{title}” has no questions." for title in empty)
    for lesson in lessons:
        quiz_keys, _topics = lesson_embeds(lesson.source or "")
        for key in quiz_keys:
            if key not in known:
                problems.append(f"Lesson “{lesson.title}” embeds <Quiz id=\"{key}\"/>, "
                                "but the course has no quiz with that id.")
        if not (lesson.source or "").strip():
            problems.append(f"Lesson “{lesson.title}” is empty.")
    return problems


def _status_revision(actor: User, course: Course, kind: str, before: str) -> None:
    version = course.version + 1
    db.session.execute(update(Course).where(Course.id == course.id)
                       .values(version=version).execution_options(synchronize_session=False))
    db.session.flush()
    db.session.refresh(course, ["version"])
    db.session.add(CourseRevision(course_id=course.id, version=version, kind=kind,
                                  actor_id=actor.id, delta={"status": [before, course.status]}))


def publish(actor: User, course: Course) -> None:
    """Publish after the checks pass; ValidationFailed lists every problem."""
    require_editor(actor, course)
    if course.status == "published":
        return
    problems = publish_problems(course)
    if problems:
        raise ValidationFailed("The course cannot be published yet: " + " ".join(problems))
    before = course.status
    course_service.publish_course(actor, course)
    _status_revision(actor, course, "publish", before)


def unpublish(actor: User, course: Course) -> None:
    """Back to draft: invisible to learners; their progress is kept for when it returns."""
    require_editor(actor, course)
    if course.status != "published":
        return
    course.status = "draft"
    db.session.flush()
    record_audit(actor, "course.unpublish", "course", course.id,
                 {"status": ["published", "draft"]})
    _status_revision(actor, course, "unpublish", "published")


# --- outline --------------------------------------------------------------------------------


def renumber(course_id: int) -> None:
    """Dense module positions, and course-wide lesson positions in module order."""
    modules = db.session.scalars(
        select(Module).where(Module.course_id == course_id).order_by(Module.position, Module.id)
    ).all()
    position = 0
    for module_position, module in enumerate(modules, start=1):
        module.position = module_position
        lessons = db.session.scalars(
            select(Lesson).where(Lesson.module_id == module.id)
            .order_by(Lesson.position, Lesson.id)
        ).all()
        for lesson in lessons:
            position += 1
            lesson.position = position
    db.session.flush()


def add_module(actor: User, course: Course, title: str) -> Module:
    require_editor(actor, course)
    return course_service.add_module_unchecked(actor, course, _title(title, "module title"))


def rename_module(actor: User, module: Module, title: str) -> None:
    require_editor(actor, module.course)
    before = module.title
    module.title = _title(title, "module title")
    record_audit(actor, "module.rename", "module", module.id, {"title": [before, module.title]})
    db.session.flush()


def _swap(items: Sequence[Any], index: int, direction: str) -> tuple[Any, Any] | None:
    other = index - 1 if direction == "up" else index + 1
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.")
    if not 0 <= other < len(items):
        return None
    return items[index], items[other]


def move_module(actor: User, module: Module, direction: str) -> None:
    """Swap with the neighbouring module; lessons' course-wide order follows."""
    require_editor(actor, module.course)
    renumber(module.course_id)
    modules = db.session.scalars(
        select(Module).where(Module.course_id == module.course_id).order_by(Module.position)
    ).all()
    pair = _swap(modules, modules.index(module), direction)
    if pair is None:
        return
    a, b = pair
    a.position, b.position = b.position, a.position
    db.session.flush()
    renumber(module.course_id)
    record_audit(actor, "module.move", "module", module.id, {"direction": direction})


def delete_module(actor: User, module: Module) -> None:
    """Delete a module with its lessons and quizzes (and learners' progress on them)."""
    require_editor(actor, module.course)
    course_id = module.course_id
    record_audit(actor, "module.delete", "module", module.id,
                 {"title": [module.title, None], "lessons": [len(module.lessons), None]})
    db.session.delete(module)
    db.session.flush()
    renumber(course_id)


def add_lesson(actor: User, module: Module, title: str, source: str = STARTER_SOURCE) -> Lesson:
    """A new lesson at the end of ``module``, with a slug unique in the course."""
    require_editor(actor, module.course)
    title = _title(title, "lesson title")
    source = check_source(source)
    base = slugify(title, 70) or "lesson"
    slug, n = base, 2
    while db.session.scalar(select(Lesson.id).where(Lesson.course_id == module.course_id,
                                                    Lesson.slug == slug)) is not None:
        slug, n = f"{base}-{n}", n + 1
    return course_service.add_lesson_unchecked(actor, module, title, source, slug=slug)


def move_lesson(actor: User, lesson: Lesson, direction: str) -> None:
    """Up/down within the module; past its edge, into the neighbouring module."""
    require_editor(actor, lesson.course)
    renumber(lesson.course_id)
    lessons = db.session.scalars(
        select(Lesson).where(Lesson.course_id == lesson.course_id).order_by(Lesson.position)
    ).all()
    index = lessons.index(lesson)
    siblings = [x for x in lessons if x.module_id == lesson.module_id]
    at_edge = siblings[0 if direction == "up" else -1] is lesson
    if direction not in ("up", "down"):
        raise ValidationFailed("Move up or down.")
    if at_edge:
        modules = db.session.scalars(
            select(Module).where(Module.course_id == lesson.course_id).order_by(Module.position)
        ).all()
        m = [x.id for x in modules].index(lesson.module_id)
        target = m - 1 if direction == "up" else m + 1
        if not 0 <= target < len(modules):
            return
        _move_to(lesson, modules[target], first=direction == "down")
    else:
        pair = _swap(lessons, index, direction)
        if pair is None:
            return
        a, b = pair
        a.position, b.position = b.position, a.position
        db.session.flush()
    renumber(lesson.course_id)
    record_audit(actor, "lesson.move", "lesson", lesson.id, {"direction": direction})


def _move_to(lesson: Lesson, module: Module, *, first: bool) -> None:
    lesson.module_id = module.id
    positions = db.session.scalars(select(Lesson.position).where(Lesson.module_id == module.id,
                                                                 Lesson.id != lesson.id)).all()
    if positions:
        lesson.position = (min(positions) - 1) if first else (max(positions) + 1)
    db.session.flush()
    db.session.expire(lesson, ["module"])


def move_lesson_to_module(actor: User, lesson: Lesson, module: Module) -> None:
    """Move a lesson to the end of another module of the same course."""
    require_editor(actor, lesson.course)
    if module.course_id != lesson.course_id:
        raise ValidationFailed("A lesson can only move within its course.", field="module")
    if module.id == lesson.module_id:
        return
    before = lesson.module_id
    lesson.position = 10**9
    _move_to(lesson, module, first=False)
    renumber(lesson.course_id)
    record_audit(actor, "lesson.move", "lesson", lesson.id, {"module_id": [before, module.id]})


@dataclass(frozen=True)
class DeleteImpact:
    lessons: int
    learners_with_progress: int
    quizzes: int = 0


def lesson_delete_impact(lesson: Lesson) -> DeleteImpact:
    learners = db.session.scalar(
        select(func.count(func.distinct(SectionProgress.user_id)))
        .where(SectionProgress.lesson_id == lesson.id)
    ) or 0
    return DeleteImpact(lessons=1, learners_with_progress=learners)


def module_delete_impact(module: Module) -> DeleteImpact:
    lesson_ids = [lesson.id for lesson in module.lessons]
    learners = db.session.scalar(
        select(func.count(func.distinct(SectionProgress.user_id)))
        .where(SectionProgress.lesson_id.in_(lesson_ids))
    ) if lesson_ids else 0
    quizzes = db.session.scalar(select(func.count()).select_from(Quiz)
                                .where(Quiz.module_id == module.id)) or 0
    return DeleteImpact(lessons=len(lesson_ids), learners_with_progress=learners or 0,
                        quizzes=quizzes)


def delete_lesson(actor: User, lesson: Lesson) -> None:
    require_editor(actor, lesson.course)
    course_id = lesson.course_id
    record_audit(actor, "lesson.delete", "lesson", lesson.id,
                 {"title": [lesson.title, None], "slug": [lesson.slug, None]})
    db.session.delete(lesson)
    db.session.flush()
    renumber(course_id)


def enrolled_count(course: Course) -> int:
    return db.session.scalar(select(func.count()).select_from(Enrollment)
                             .where(Enrollment.course_id == course.id)) or 0


# --- co-editors -----------------------------------------------------------------------------


def co_editors(course: Course) -> Sequence[CourseEditor]:
    return db.session.scalars(
        select(CourseEditor).where(CourseEditor.course_id == course.id)
        .options(selectinload(CourseEditor.user)).order_by(CourseEditor.added_at)
    ).all()


def invite_editor(actor: User, course: Course, email: str) -> CourseEditor:
    """Add an existing editor (or admin) account as co-editor; owner or admin only."""
    if not can_manage(actor, course):
        raise PermissionDenied("Only the course owner or an admin can invite co-editors.")
    email = (email or "").strip().lower()
    user = db.session.scalar(select(User).where(User.email == email)) if email else None
    if user is None:
        raise ValidationFailed("There is no account with that email address.", field="email")
    if user.id == course.owner_id:
        raise ValidationFailed("That is the course owner.", field="email")
    if user.role not in EDITOR_ROLES:
        raise ValidationFailed(f"{user.email} is a learner; an admin must give them the editor "
                               "role first (tangent users set-role).", field="email")
    if user.status != "active":
        raise ValidationFailed(f"{user.email}'s account is not active.", field="email")
    if db.session.get(CourseEditor, (course.id, user.id)) is not None:
        raise Conflict(f"{user.email} is already a co-editor.", field="email")
    entry = CourseEditor(course_id=course.id, user_id=user.id, added_by_id=actor.id)
    db.session.add(entry)
    db.session.flush()
    record_audit(actor, "course.editor_add", "course", course.id, {"editor": [None, user.email]})
    return entry


def remove_editor(actor: User, course: Course, user_id: int) -> None:
    if not can_manage(actor, course):
        raise PermissionDenied("Only the course owner or an admin can remove co-editors.")
    entry = db.session.get(CourseEditor, (course.id, user_id))
    if entry is None:
        raise NotFound("That person is not a co-editor of this course.")
    email = entry.user.email
    db.session.execute(delete(CourseEditor).where(CourseEditor.course_id == course.id,
                                                  CourseEditor.user_id == user_id))
    record_audit(actor, "course.editor_remove", "course", course.id, {"editor": [email, None]})
    db.session.flush()
