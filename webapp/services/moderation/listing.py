"""The queue's pages: open (or closed) items, newest flagged, most flagged or waiting
longest first, filtered by kind, course, reason.

Each order is a keyset over ``(key, id)`` in the index that starts with ``status``
(``ix_moderation_item_newest``/``most``/``oldest``; with a kind or a course filter the
newest order reads ``ix_moderation_item_kind``/``course``): a page is one index range read,
as cheap 100,000 items deep as on the first page. The cursor is the opaque text
``"<key>.<id>"`` (the key a whole number: a count, or microseconds since 1970 for a time),
checked by ``parse_cursor`` before it reaches a query.

The rows of a page come with what the list shows of each item (a title or the start of
its text, its course, who holds a live claim) in a fixed number of queries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, tuple_

from webapp.extensions import db
from webapp.models import (
    Announcement,
    Appeal,
    Branch,
    ChannelMessage,
    Course,
    Event,
    Lesson,
    ModerationItem,
    QaAnswer,
    QaQuestion,
    User,
)
from webapp.models.base import MAX_ID, utcnow
from webapp.models.community import FLAG_REASONS
from webapp.models.moderation import ITEM_KINDS, ITEM_STATUSES
from webapp.services.community.flags import KIND_LABELS as FLAG_KIND_LABELS
from webapp.services.community.flags import REASON_LABELS as FLAG_REASON_LABELS
from webapp.services.exceptions import ValidationFailed
from webapp.services.moderation import queue

PAGE_SIZE = 50
EXCERPT_MAX = 140
ORDERS = {
    "newest": "Newest flagged first",
    "most": "Most flagged first",
    "oldest": "Waiting longest first",
}
STATUS_LABELS = {"open": "Open", "closed": "Closed"}
KIND_LABELS = {**FLAG_KIND_LABELS, "appeal": "appeal"}
assert set(KIND_LABELS) == set(ITEM_KINDS) and set(STATUS_LABELS) == set(ITEM_STATUSES)
# The reasons people flag for (what ``ModerationItem.reasons`` holds).
REASON_LABELS = dict(FLAG_REASON_LABELS)
assert tuple(REASON_LABELS) == FLAG_REASONS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"(-?[0-9]{1,19})\.([0-9]{1,10})")
# Times a cursor may name: a year's worth either side of what the queue can hold.
_KEY_MIN, _KEY_MAX = -(2**62), 2**62
_MODELS = {"question": QaQuestion, "answer": QaAnswer, "message": ChannelMessage,
           "event": Event, "announcement": Announcement, "lesson": Lesson, "branch": Branch,
           "profile": User, "appeal": Appeal}


@dataclass(frozen=True)
class Filters:
    """What the queue page shows: ``status``, ``order`` and the optional filters (empty:
    any kind, any course, any reason)."""

    status: str = "open"
    order: str = "newest"
    kind: str = ""
    course_id: int | None = None
    reason: str = ""

    def query(self) -> dict[str, object]:
        """The filters as query arguments (defaults left out)."""
        values = {"status": self.status if self.status != "open" else "",
                  "order": self.order if self.order != "newest" else "",
                  "kind": self.kind, "course": self.course_id, "reason": self.reason}
        return {key: value for key, value in values.items() if value not in ("", None)}


def parse_filters(args) -> Filters:
    """The filters from a request's query arguments; an unknown choice is a 400 that says
    which (a mistyped link should not silently show something else)."""
    status = (args.get("status") or "open").strip()
    order = (args.get("order") or "newest").strip()
    kind = (args.get("kind") or "").strip()
    reason = (args.get("reason") or "").strip()
    raw_course = (args.get("course") or "").strip()
    if status not in STATUS_LABELS:
        raise ValidationFailed("Choose “Open” or “Closed” items.", field="status")
    if order not in ORDERS:
        raise ValidationFailed("Choose an order from the list.", field="order")
    if kind and kind not in KIND_LABELS:
        raise ValidationFailed("Choose a kind of item from the list.", field="kind")
    if reason and reason not in REASON_LABELS:
        raise ValidationFailed("Choose a reason from the list.", field="reason")
    course_id = None
    if raw_course:
        if not raw_course.isdigit() or len(raw_course) > 10 or int(raw_course) > MAX_ID:
            raise ValidationFailed("Choose a course from the list.", field="course")
        course_id = int(raw_course)
    return Filters(status=status, order=order, kind=kind, course_id=course_id, reason=reason)


def _key_column(order: str):
    return {"newest": ModerationItem.last_flagged_at, "most": ModerationItem.flag_count,
            "oldest": ModerationItem.waiting_since}[order]


def _encode(order: str, item: ModerationItem) -> str:
    value = getattr(item, _key_column(order).key)
    if isinstance(value, datetime):
        delta = value.astimezone(UTC) - _EPOCH
        value = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{int(value)}.{item.id}"


def parse_cursor(raw: str | None, order: str) -> tuple[object, int] | None:
    """``(key, id)`` from a cursor made by this module for ``order``; None for none;
    ``ValidationFailed`` (400) for anything else."""
    if raw is None or raw == "":
        return None
    match = _CURSOR.fullmatch(raw.strip())
    bad = ValidationFailed("This page address is not valid any more; start from the first "
                           "page of the queue.", field="after")
    if match is None:
        raise bad
    key, item_id = int(match.group(1)), int(match.group(2))
    if item_id > MAX_ID or not _KEY_MIN <= key <= _KEY_MAX:
        raise bad
    if order == "most":
        if not 0 <= key <= MAX_ID:
            raise bad
        return key, item_id
    try:
        return _EPOCH + timedelta(microseconds=key), item_id
    except OverflowError:
        raise bad from None


@dataclass(frozen=True)
class QueueRow:
    """One line of the queue."""

    item: ModerationItem
    kind_label: str
    label: str  # the title, or the start of the text ("" when the target is gone)
    course_title: str | None
    reasons: list[str]  # labels
    claimed_by: str | None  # display name of whoever holds a live claim
    gone: bool  # the target no longer exists


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None


def excerpt(text: str | None, limit: int = EXCERPT_MAX) -> str:
    words = " ".join((text or "").split())
    return words if len(words) <= limit else words[:limit - 1].rstrip() + "…"


def label_of(kind: str, row) -> str:
    """What a list shows of a target: its title or the start of its text."""
    if row is None:
        return ""
    if kind == "profile":
        return row.display_name
    if kind == "branch":
        return row.title or row.topic
    if kind == "appeal":
        return excerpt(row.body)
    title = getattr(row, "title", None)
    return excerpt(title) if title else excerpt(getattr(row, "body", ""))


def reason_labels(reasons: str) -> list[str]:
    return [REASON_LABELS.get(r, r) for r in (reasons or "").split(",") if r]


def _statement(filters: Filters, after: tuple[object, int] | None, page_size: int):
    key = _key_column(filters.order)
    stmt = select(ModerationItem).where(ModerationItem.status == filters.status)
    if filters.kind:
        stmt = stmt.where(ModerationItem.target_kind == filters.kind)
    if filters.course_id is not None:
        stmt = stmt.where(ModerationItem.course_id == filters.course_id)
    if filters.reason:
        stmt = stmt.where(ModerationItem.reasons.like(f"%,{filters.reason},%"))
    ascending = filters.order == "oldest"
    if after is not None:
        bound = tuple_(key, ModerationItem.id)
        stmt = stmt.where(bound > after if ascending else bound < after)
    if ascending:
        stmt = stmt.order_by(key.asc(), ModerationItem.id.asc())
    else:
        stmt = stmt.order_by(key.desc(), ModerationItem.id.desc())
    return stmt.limit(page_size + 1)


def targets_of(items: list[ModerationItem]) -> dict[tuple[str, int], object]:
    """The rows the items point at, one query per kind present."""
    wanted: dict[str, set[int]] = {}
    for item in items:
        wanted.setdefault(item.target_kind, set()).add(item.target_id)
    found: dict[tuple[str, int], object] = {}
    for kind, ids in wanted.items():
        model = _MODELS[kind]
        for row in db.session.scalars(select(model).where(model.id.in_(ids))):
            found[(kind, row.id)] = row
    return found


def list_items(filters: Filters, *, after: str | None = None,
               page_size: int | None = None, now: datetime | None = None) -> QueuePage:
    """One page of the queue (``after``: the cursor of the previous page's last row)."""
    page_size = page_size or PAGE_SIZE
    cursor = parse_cursor(after, filters.order)
    items = list(db.session.scalars(_statement(filters, cursor, page_size)))
    page = items[:page_size]
    next_cursor = _encode(filters.order, page[-1]) if len(items) > page_size else None
    targets = targets_of(page)
    course_ids = {i.course_id for i in page if i.course_id is not None}
    courses = dict(db.session.execute(select(Course.id, Course.title).where(
        Course.id.in_(course_ids))).all()) if course_ids else {}
    now = now or utcnow()
    holders = {i.id: queue.claim_holder(i, now=now) for i in page}
    holder_ids = {h for h in holders.values() if h is not None}
    names = dict(db.session.execute(select(User.id, User.display_name).where(
        User.id.in_(holder_ids))).all()) if holder_ids else {}
    rows = []
    for item in page:
        target = targets.get((item.target_kind, item.target_id))
        holder = holders[item.id]
        rows.append(QueueRow(
            item=item, kind_label=KIND_LABELS.get(item.target_kind, item.target_kind),
            label=label_of(item.target_kind, target),
            course_title=courses.get(item.course_id), reasons=reason_labels(item.reasons),
            claimed_by=names.get(holder) if holder is not None else None,
            gone=target is None))
    return QueuePage(rows, next_cursor)


def course_choices(limit: int = 300) -> list[tuple[int, str]]:
    """Courses for the course filter, by title."""
    return [(cid, title) for cid, title in db.session.execute(
        select(Course.id, Course.title).order_by(Course.title, Course.id).limit(limit)).all()]
