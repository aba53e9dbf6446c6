"""The public transparency report and its CSV: counts by type, reason, automated or not,
and month; appeals by outcome; the median time to action; no personal data."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Appeal, ModerationAction, User
from webapp.models.base import utcnow
from webapp.services.moderation import transparency


@pytest.fixture
def actions(app, make_user):
    """Actions this month (two hides by rules, a human suspension, a warning) with waits
    of 10, 20, 30 and 100 seconds; one last month; one 13 months ago (left out); one
    open and one granted appeal."""
    with app.app_context():
        mod = make_user("mod@example.org", role="moderator", display_name="Secret Name")
        victim = make_user("victim@example.org", display_name="Private Person")
        now = utcnow()
        month = now.replace(day=1, hour=12, minute=0, second=0, microsecond=0)
        rows = [
            ModerationAction(action="hide", target_kind="message", target_id=77,
                             automated=True, reason="spam", waited_seconds=10,
                             created_at=month),
            ModerationAction(action="hide", target_kind="message", target_id=78,
                             automated=True, reason="spam", waited_seconds=20,
                             created_at=month),
            ModerationAction(action="suspend", target_kind="user", target_id=victim.id,
                             subject_id=victim.id, moderator_id=mod.id, reason="abuse",
                             waited_seconds=30, created_at=month),
            ModerationAction(action="warn", target_kind="user", target_id=victim.id,
                             subject_id=victim.id, moderator_id=mod.id, reason="abuse",
                             waited_seconds=100, created_at=month),
            ModerationAction(action="ban", target_kind="user", moderator_id=mod.id,
                             reason="spam", created_at=month - timedelta(days=20)),
            ModerationAction(action="ban", target_kind="user", moderator_id=mod.id,
                             reason="illegal", waited_seconds=99999,
                             created_at=now - timedelta(days=400)),
        ]
        db.session.add_all(rows)
        db.session.flush()
        db.session.add_all([
            Appeal(action_id=rows[2].id, user_id=victim.id, body="Private words",
                   status="granted", created_at=month),
            Appeal(action_id=rows[3].id, user_id=victim.id, body="More words",
                   status="open", created_at=month)])
        db.session.commit()
        return {"this": month.strftime("%Y-%m"),
                "last": (month - timedelta(days=20)).strftime("%Y-%m")}


def test_the_months_are_the_last_twelve_calendar_months():
    starts = transparency.month_starts(datetime(2026, 2, 10, tzinfo=UTC))
    assert starts[0] == datetime(2025, 3, 1, tzinfo=UTC)
    assert starts[-2] == datetime(2026, 2, 1, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 3, 1, tzinfo=UTC)
    assert len(starts) == 13


def test_the_report_counts_and_takes_the_median(app, actions):
    with app.app_context():
        report = transparency.build()
    assert report.total() == 5  # the one 13 months ago is left out
    assert dict(report.by(1)) == {"hide": 2, "suspend": 1, "warn": 1, "ban": 1}
    assert dict(report.by(2)) == {"spam": 3, "abuse": 2}
    assert dict(report.by(3)) == {False: 3, True: 2}
    assert dict(report.appeal_totals()) == {"open": 1, "granted": 1, "denied": 0}
    # The moderators' response time: the rules' hides (10 and 20 s) are left out;
    # 30 and 100 s: the middle is between them.
    assert report.median_seconds == 65
    assert report.timed_actions == 2
    per_month = {m: (h, a) for m, h, a in report.per_month()}
    assert per_month[actions["this"]] == (2, 2)
    if actions["last"] != actions["this"]:
        assert per_month[actions["last"]] == (1, 0)


def test_an_odd_count_takes_the_middle_value(app, actions):
    with app.app_context():
        mod_id = db.session.scalar(select(User.id).where(User.email == "mod@example.org"))
        db.session.add(ModerationAction(action="dismiss", target_kind="question",
                                        moderator_id=mod_id, reason="other",
                                        waited_seconds=5000, created_at=utcnow()))
        db.session.commit()
        assert transparency.build().median_seconds == 100  # 30, 100, 5000


def test_the_page_is_public_and_names_nobody(app, actions, client):
    page = client.get("/transparency")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "<caption>Actions by type</caption>" in body and "Suspended" in body
    assert "65 seconds" in body and "Granted (decision undone)" in body
    for private in ("Secret Name", "Private Person", "victim@", "Private words"):
        assert private not in body
    assert 'href="/transparency"' in client.get("/login").get_data(as_text=True)


def test_the_csv(app, actions, client):
    response = client.get("/transparency.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["month", "action", "reason", "automated", "count"]
    this = actions["this"]
    assert [this, "hide", "spam", "yes", "2"] in rows
    assert [this, "suspend", "abuse", "no", "1"] in rows
    assert [this, "appeal", "granted", "", "1"] in rows
    assert [this, "appeal", "open", "", "1"] in rows
    assert sum(int(r[4]) for r in rows[1:] if r[1] != "appeal") == 5


def test_an_empty_report(app, client):
    body = client.get("/transparency").get_data(as_text=True)
    assert "No moderation actions in these months." in body and "no actions yet" in body
    rows = list(csv.reader(io.StringIO(client.get("/transparency.csv").get_data(as_text=True))))
    assert rows == [["month", "action", "reason", "automated", "count"]]
