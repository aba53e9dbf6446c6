"""Course metadata (title, summary, level, tags): creating, saving with revisions, restoring."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webapp.extensions import db
from webapp.models import Course, CourseRevision, User
from webapp.models.courses import LEVELS
from webapp.services import courses as course_service
from webapp.services.audit import delta_of, record_audit
from webapp.services.authoring.access import require_editor
from webapp.services.authoring.checks import MAX_SUMMARY, PAGE_SIZE, check_title
from webapp.services.authoring.revisions import (
    EditConflict,
    RevisionPage,
    compare_and_set,
    revision_page,
    revisions_back_to,
)
from webapp.services.exceptions import PermissionDenied, ValidationFailed


def _course_fields(course: Course) -> dict[str, Any]:
    return {"title": course.title, "summary": course.summary, "level": course.level,
            "tags": [t.name for t in course.tags]}


def create_course(actor: User, *, title: str, summary: str = "", level: str = "beginner",
                  tags: Sequence[str] = ()) -> Course:
    """A new draft owned by the actor, with its first course revision."""
    if not actor.is_editor:
        raise PermissionDenied("Only editors can create courses.")
    course = course_service.create_course_unchecked(actor, title=check_title(title),
                                                    summary=summary, level=level, tags=tags)
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
    title = check_title(title)
    summary = (summary or "").strip()
    if len(summary) > MAX_SUMMARY:
        raise ValidationFailed(f"The summary is {len(summary)} characters; the limit is "
                               f"{MAX_SUMMARY}.", field="summary")
    if level not in LEVELS:
        raise ValidationFailed(f"Level must be one of {', '.join(LEVELS)}.", field="level")
    after = {"title": title, "summary": summary, "level": level, "tags": list(tags)}
    if not compare_and_set(Course, course.id, base_version):
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
    revisions = revisions_back_to(CourseRevision, CourseRevision.course_id, course.id,
                                  course.version, version)
    for revision in revisions:
        for key, (old, _new) in revision.delta.items():
            if key in fields:
                fields[key] = old
    return fields


def course_revisions(course: Course, before: int | None = None,
                     page_size: int = PAGE_SIZE) -> RevisionPage:
    """Course revisions newest first, keyset-paginated by version."""
    return revision_page(CourseRevision, CourseRevision.course_id, course.id, before,
                         page_size)


def restore_course(actor: User, course: Course, version: int, *, base_version: int) -> None:
    fields = course_fields_at(course, version)
    update_course(actor, course, base_version=base_version, kind="restore",
                  restored_from=version, **fields)
