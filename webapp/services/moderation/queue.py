"""The moderation queue's rows: putting an item in (``enqueue``), claiming it, closing it
with the guard that lets one moderator act, and recording what was done
(``record_action``).

Everything here writes in the caller's transaction and flushes; the caller commits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import Flag, ModerationAction, ModerationItem, User
from webapp.models.base import utcnow
from webapp.models.moderation import ACTION_KINDS, ACTION_REASONS, ITEM_KINDS, ITEM_SOURCES
from webapp.services.community import rules
from webapp.services.exceptions import Conflict, NotFound

# What a closed item's open flags become: "upheld" when the moderator agreed with them.
UPHOLDING = frozenset({"hide", "delete", "edit", "reject", "warn", "silence", "suspend",
                       "ban", "delete_posts"})


def get_item(item_id: int) -> ModerationItem:
    item = db.session.get(ModerationItem, item_id)
    if item is None:
        raise NotFound("There is no such item in the moderation queue.")
    return item


def item_for(kind: str, target_id: int) -> ModerationItem | None:
    return db.session.scalar(select(ModerationItem).where(
        ModerationItem.target_kind == kind, ModerationItem.target_id == target_id))


def _add_reason(reasons: str, reason: str | None) -> str:
    if not reason or f",{reason}," in reasons:
        return reasons
    return (reasons or ",") + f"{reason},"


def enqueue(kind: str, target_id: int, *, source: str, course_id: int | None,
            author_id: int | None, reason: str | None = None, hidden: bool = False,
            ai_generated: bool = False, now: datetime | None = None) -> ModerationItem:
    """Put the item in the queue, or count one more flag on it (``reason``: the flag's).

    One row per target: a closed item that is flagged (or held) again opens again, waiting
    from now, with only the new flags counted. ``hidden``: the content is hidden now."""
    if kind not in ITEM_KINDS or source not in ITEM_SOURCES:
        raise ValueError(f"not a queue item: {kind!r} from {source!r}")
    now = now or utcnow()
    item = db.session.scalar(select(ModerationItem).where(
        ModerationItem.target_kind == kind, ModerationItem.target_id == target_id)
        .with_for_update())
    if item is None:
        item = ModerationItem(
            target_kind=kind, target_id=target_id, course_id=course_id, author_id=author_id,
            source=source, status="open", flag_count=1 if reason else 0,
            reasons=_add_reason("", reason), ai_generated=ai_generated, hidden=hidden,
            created_at=now, waiting_since=now, last_flagged_at=now, outcome="")
        try:
            # Two first flags at once: the unique constraint lets one row in.
            with db.session.begin_nested():
                db.session.add(item)
            return item
        except IntegrityError:
            item = item_for(kind, target_id)
            assert item is not None
    if item.status == "closed":
        item.status, item.waiting_since, item.source = "open", now, source
        item.flag_count, item.reasons, item.outcome = 0, "", ""
        item.closed_at = item.closed_by_id = None
        item.claimed_by_id = item.claimed_at = None
    if reason:
        item.flag_count = (item.flag_count or 0) + 1
        item.reasons = _add_reason(item.reasons, reason)
    item.last_flagged_at = now
    item.hidden = item.hidden or hidden
    item.ai_generated = item.ai_generated or ai_generated
    db.session.flush()
    return item


# --- claims -------------------------------------------------------------------------------

def claim_expiry(now: datetime | None = None) -> datetime:
    """Claims taken before this moment are stale (free for anyone)."""
    return (now or utcnow()) - timedelta(minutes=rules.value("claim_minutes"))


def claim_holder(item: ModerationItem, *, now: datetime | None = None) -> int | None:
    """The user id holding a live claim on ``item``, or None."""
    if item.claimed_by_id is None or item.claimed_at is None:
        return None
    return item.claimed_by_id if item.claimed_at > claim_expiry(now) else None


def claim(item: ModerationItem, user: User, *, now: datetime | None = None) -> bool:
    """Claim ``item`` for ``user`` (or renew their claim) unless someone else holds a live
    claim; whether ``user`` holds it now. Closed items are not claimed."""
    now = now or utcnow()
    if item.status != "open":
        return False
    done = db.session.execute(
        update(ModerationItem).where(
            ModerationItem.id == item.id, ModerationItem.status == "open",
            or_(ModerationItem.claimed_by_id.is_(None),
                ModerationItem.claimed_by_id == user.id,
                ModerationItem.claimed_at.is_(None),
                ModerationItem.claimed_at <= claim_expiry(now)))
        .values(claimed_by_id=user.id, claimed_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.expire(item)
    return bool(done)


def release(item: ModerationItem, user: User) -> None:
    """Give up ``user``'s claim on ``item`` (nothing when someone else holds it)."""
    db.session.execute(
        update(ModerationItem).where(ModerationItem.id == item.id,
                                     ModerationItem.claimed_by_id == user.id)
        .values(claimed_by_id=None, claimed_at=None)
        .execution_options(synchronize_session=False))
    db.session.expire(item)


def _conflict(item: ModerationItem) -> Conflict:
    db.session.expire(item)
    if item.status == "closed":
        return Conflict("Another moderator has just dealt with this item; reload it to see "
                        "what they did.")
    return Conflict("Another moderator is handling this item right now; wait until they "
                    "are done or their claim runs out.")


def take(item: ModerationItem, user: User, *, now: datetime | None = None) -> None:
    """Make sure ``user`` may act on the open ``item`` now: it is open and nobody else
    holds a live claim (claiming it for them). ``Conflict`` otherwise."""
    if not claim(item, user, now=now):
        raise _conflict(item)


def close(item: ModerationItem, user: User | None, outcome: str, *,
          now: datetime | None = None) -> None:
    """Close the open ``item`` with ``outcome`` (an action kind) and resolve its open
    flags, in one guarded UPDATE: when another moderator closed it, or holds a live claim
    on it, first, ``Conflict`` (and nothing is written). ``user`` None: a rule closed it."""
    now = now or utcnow()
    guard = [ModerationItem.id == item.id, ModerationItem.status == "open"]
    if user is not None:
        guard.append(or_(ModerationItem.claimed_by_id.is_(None),
                         ModerationItem.claimed_by_id == user.id,
                         ModerationItem.claimed_at.is_(None),
                         ModerationItem.claimed_at <= claim_expiry(now)))
    done = db.session.execute(
        update(ModerationItem).where(*guard).values(
            status="closed", closed_at=now, closed_by_id=user.id if user else None,
            outcome=outcome, claimed_by_id=None, claimed_at=None, flag_count=0, reasons="")
        .execution_options(synchronize_session=False)).rowcount
    if not done:
        raise _conflict(item)
    if item.target_kind != "appeal":
        db.session.execute(
            update(Flag).where(Flag.target_kind == item.target_kind,
                               Flag.target_id == item.target_id, Flag.status == "open")
            .values(status="upheld" if outcome in UPHOLDING else "dismissed",
                    resolved_at=now, resolved_by_id=user.id if user else None)
            .execution_options(synchronize_session=False))
    db.session.expire(item)


def close_all_of_author(author_id: int, kinds: tuple[str, ...], user: User | None,
                       outcome: str, *, now: datetime | None = None) -> int:
    """Close every open item about ``author_id``'s content of ``kinds`` (after "delete all
    their posts": nothing is left to look at), upholding their open flags; how many.
    Items another moderator holds a live claim on are closed too: the content is gone."""
    now = now or utcnow()
    ids = list(db.session.scalars(select(ModerationItem.id).where(
        ModerationItem.author_id == author_id, ModerationItem.status == "open",
        ModerationItem.target_kind.in_(kinds))))
    if not ids:
        return 0
    targets = db.session.execute(select(ModerationItem.target_kind, ModerationItem.target_id)
                                 .where(ModerationItem.id.in_(ids))).all()
    db.session.execute(
        update(ModerationItem).where(ModerationItem.id.in_(ids)).values(
            status="closed", closed_at=now, closed_by_id=user.id if user else None,
            outcome=outcome, claimed_by_id=None, claimed_at=None, flag_count=0, reasons="",
            hidden=True)
        .execution_options(synchronize_session=False))
    for kind, target_id in targets:
        db.session.execute(
            update(Flag).where(Flag.target_kind == kind, Flag.target_id == target_id,
                               Flag.status == "open")
            .values(status="upheld", resolved_at=now, resolved_by_id=user.id if user else None)
            .execution_options(synchronize_session=False))
    return len(ids)


def set_hidden(item: ModerationItem | None, hidden: bool) -> None:
    if item is not None:
        db.session.execute(update(ModerationItem).where(ModerationItem.id == item.id)
                           .values(hidden=hidden)
                           .execution_options(synchronize_session=False))
        db.session.expire(item)


# --- the record ---------------------------------------------------------------------------

def record_action(action: str, *, moderator: User | None, target_kind: str,
                  target_id: int | None, subject_id: int | None, course_id: int | None = None,
                  item: ModerationItem | None = None, reason: str = "other", note: str = "",
                  until: datetime | None = None, batch: str | None = None,
                  now: datetime | None = None) -> ModerationAction:
    """Append what was done (``moderator`` None: a rule did it). ``waited_seconds``: how
    long ``item`` had waited in the queue, for the report's median time to action."""
    if action not in ACTION_KINDS or reason not in ACTION_REASONS:
        raise ValueError(f"not a moderation action: {action!r} for {reason!r}")
    now = now or utcnow()
    waited = None
    if item is not None and item.waiting_since is not None:
        waited = max(0, int((now - item.waiting_since).total_seconds()))
    row = ModerationAction(
        created_at=now, item_id=item.id if item else None,
        moderator_id=moderator.id if moderator else None, automated=moderator is None,
        action=action, target_kind=target_kind, target_id=target_id, subject_id=subject_id,
        course_id=course_id, reason=reason, note=note, until=until, waited_seconds=waited,
        batch=batch)
    db.session.add(row)
    db.session.flush()
    return row
