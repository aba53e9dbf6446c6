"""Revision history shared by lessons and course metadata: compare-and-set saves,
edit conflicts, and paging back through the deltas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from webapp.extensions import db
from webapp.models import Course, CourseRevision, Lesson, LessonRevision
from webapp.services.exceptions import Conflict, NotFound
from webapp.services.paging import split_page


class EditConflict(Conflict):
    """Someone saved a newer version since the form was loaded.

    Carries the current values, the ones the editor submitted, the base they
    started from (when the history has it) and a three-way merge proposal.
    """

    def __init__(self, *, current_version: int, current: dict[str, Any],
                 yours: dict[str, Any], base: dict[str, Any] | None = None,
                 merged_source: str | None = None, merge_conflicts: int = 0,
                 merge_places: tuple = (), saved_by: str = "someone else") -> None:
        super().__init__(f"A newer version (version {current_version}, saved by {saved_by}) "
                         "was saved while you were editing.")
        self.current_version = current_version
        self.current = current
        self.yours = yours
        self.base = base
        self.merged_source = merged_source
        self.merge_conflicts = merge_conflicts
        self.merge_places = merge_places
        # Who saved the version in the way, in words: "you, in another tab" when it was
        # the same person, else their display name.
        self.saved_by = saved_by


def compare_and_set(model: type[Course] | type[Lesson], row_id: int, base_version: int) -> bool:
    """Bump the row's version if it is still ``base_version``; False when someone was first."""
    result = db.session.execute(
        update(model).where(model.id == row_id, model.version == base_version)
        .values(version=model.version + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


@dataclass(frozen=True)
class RevisionPage:
    revisions: Sequence[LessonRevision] | Sequence[CourseRevision]
    next_cursor: int | None


def revision_page(model: type[LessonRevision] | type[CourseRevision], owner_column,
                  owner_id: int, before: int | None, page_size: int) -> RevisionPage:
    """One page of an aggregate's revisions, newest first, before version ``before``."""
    stmt = (select(model).where(owner_column == owner_id)
            .options(selectinload(model.actor))
            .order_by(model.version.desc()).limit(page_size + 1))
    if before is not None:
        stmt = stmt.where(model.version < before)
    rows, last = split_page(db.session.scalars(stmt).all(), page_size)
    return RevisionPage(rows, last.version if last else None)


def revisions_back_to(model: type[LessonRevision] | type[CourseRevision], owner_column,
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
