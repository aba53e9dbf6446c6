"""Two moderators acting on the same item at the same moment: one succeeds, the other
gets a clear conflict and writes nothing. Each thread has its own app context, hence its
own session and connection; runs on the suite's database (SQLite by default,
PostgreSQL in CI's second run)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from tests.moderation import test_queue
from webapp.extensions import db
from webapp.models import AuditEvent, ChannelMessage, ModerationAction, ModerationItem, User
from webapp.services.exceptions import Conflict
from webapp.services.moderation import content

world = test_queue.world  # the fixture: a course with flagged items, two moderators


def _race(app, item_id: int, plans: list[tuple[str, str]]) -> dict[str, str]:
    """Run ``(moderator email, action)`` plans at once; each one's outcome."""
    barrier = threading.Barrier(len(plans))
    outcomes: dict[str, str] = {}

    def run(email: str, action: str) -> None:
        with app.app_context():
            try:
                moderator = db.session.scalar(select(User).where(User.email == email))
                item = db.session.get(ModerationItem, item_id)
                # End the reading transaction: on SQLite a transaction holds the write
                # lock from its start, and both must start acting at the barrier.
                db.session.commit()
                barrier.wait(timeout=10)
                content.act(item, moderator, action, reason="spam", site_url=None)
                db.session.commit()
                outcomes[email] = "done"
            except Conflict as exc:
                db.session.rollback()
                outcomes[email] = f"conflict: {exc.message}"
            except Exception as exc:  # noqa: BLE001 - reported by the assertion
                db.session.rollback()
                outcomes[email] = repr(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=plan) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_one_of_two_moderators_acting_at_once_wins_the_other_gets_a_conflict(app, world):
    item_id = world["items"]["message1"]
    with app.app_context():
        actions_before = db.session.scalar(select(func.count()).select_from(ModerationAction))
        audits_before = db.session.scalar(select(func.max(AuditEvent.id))) or 0
    outcomes = _race(app, item_id, [("mod@example.org", "hide"),
                                    ("mod2@example.org", "delete")])
    assert sorted(o.split(":")[0] for o in outcomes.values()) == ["conflict", "done"], outcomes
    loser = next(o for o in outcomes.values() if o.startswith("conflict"))
    assert "Another moderator" in loser
    winner = next(e for e, o in outcomes.items() if o == "done")
    won_action = "hide" if winner == "mod@example.org" else "delete"
    with app.app_context():
        item = db.session.get(ModerationItem, item_id)
        assert item.status == "closed" and item.outcome == won_action
        message = db.session.get(ChannelMessage, item.target_id)
        assert message.status == {"hide": "hidden", "delete": "deleted"}[won_action]
        human = db.session.scalars(select(ModerationAction).where(
            ModerationAction.item_id == item_id,
            ModerationAction.moderator_id.is_not(None))).all()
        assert [a.action for a in human] == [won_action]
        # The loser wrote nothing: one action row and the winner's audit rows only.
        assert db.session.scalar(select(func.count()).select_from(ModerationAction)) \
            == actions_before + 1
        new_audits = db.session.scalars(select(AuditEvent.actor_id).where(
            AuditEvent.id > audits_before)).all()
        winner_id = db.session.scalar(select(User.id).where(User.email == winner))
        assert new_audits and set(new_audits) == {winner_id}
