"""Saving lessons: previews, revisions with conflicts, restores and re-rendering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from webapp.content import diff
from webapp.content.render import RENDERER_VERSION, Finding, render_lesson
from webapp.extensions import db
from webapp.models import Lesson, LessonRevision, Quiz, User
from webapp.services import courses as course_service
from webapp.services.audit import delta_of, record_audit
from webapp.services.authoring.access import require_editor
from webapp.services.authoring.checks import PAGE_SIZE, check_source, check_title
from webapp.services.authoring.revisions import (
    EditConflict,
    RevisionPage,
    compare_and_set,
    revision_page,
    revisions_back_to,
)
from webapp.services.exceptions import NotFound, ValidationFailed


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
    title = check_title(title)
    source = check_source(source)
    if kind == "edit":
        _refuse_merge_markers(source)
    if title == lesson.title and source == (lesson.source or "") and kind == "edit":
        # Nothing changed: no new version, so narration and other derived files stay valid.
        return []
    if not compare_and_set(Lesson, lesson.id, base_version):
        db.session.refresh(lesson)
        raise _lesson_conflict(actor, lesson, base_version, title, source)
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


def _refuse_merge_markers(source: str) -> None:
    """A text that still holds the conflict page's marker lines is not saved: learners
    would read them."""
    lines = diff.marker_lines(source)
    if lines:
        where = ", ".join(str(n) for n in lines[:12]) + (" …" if len(lines) > 12 else "")
        raise ValidationFailed(
            f"The text still holds the marker lines of a merge (line{'s' if len(lines) > 1 else ''}"
            f" {where}). For each change, keep the part you want and delete the marker "
            "lines (those starting with <<<<<<<, ======= and >>>>>>>), then save.",
            field="source")


def _saved_by(actor: User, lesson: Lesson) -> str:
    """Who saved the lesson's current version, as the conflict page says it."""
    author = db.session.scalar(
        select(User).join(LessonRevision, LessonRevision.actor_id == User.id)
        .where(LessonRevision.lesson_id == lesson.id, LessonRevision.version == lesson.version))
    if author is None:
        return "someone else"
    return "you, in another tab" if author.id == actor.id else author.display_name


def _lesson_conflict(actor: User, lesson: Lesson, base_version: int, title: str,
                     source: str) -> EditConflict:
    base = None
    merged, conflicts, places = None, 0, ()
    saved_by = _saved_by(actor, lesson)
    try:
        base_title, base_source = lesson_text_at(lesson, base_version)
    except NotFound:
        base_title = base_source = None
    if base_source is not None:
        base = {"title": base_title, "source": base_source}
        theirs_name = ("what you saved in another tab" if saved_by == "you, in another tab"
                       else f"what {saved_by} saved")
        merge = diff.merge_texts(base_source, lesson.source or "", source,
                                 theirs_name=f"{theirs_name} (version {lesson.version})")
        merged, conflicts, places = merge.text, merge.conflicts, merge.places
    return EditConflict(
        current_version=lesson.version,
        current={"title": lesson.title, "source": lesson.source or ""},
        yours={"title": title, "source": source},
        base=base, merged_source=merged, merge_conflicts=conflicts, merge_places=places,
        saved_by=saved_by,
    )


def lesson_text_at(lesson: Lesson, version: int) -> tuple[str, str]:
    """Title and source of ``lesson`` as they were at ``version``, rebuilt from the deltas."""
    if version == lesson.version:
        return lesson.title, lesson.source or ""
    revisions = revisions_back_to(LessonRevision, LessonRevision.lesson_id, lesson.id,
                                  lesson.version, version)
    title, source = lesson.title, lesson.source or ""
    for revision in revisions:
        if "title" in revision.delta:
            title = revision.delta["title"][0]
        if "source" in revision.delta:
            source = diff.revert(source, revision.delta["source"])
    return title, source


def lesson_revisions(lesson: Lesson, before: int | None = None,
                     page_size: int = PAGE_SIZE) -> RevisionPage:
    """Revisions newest first, keyset-paginated by version."""
    return revision_page(LessonRevision, LessonRevision.lesson_id, lesson.id, before,
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
