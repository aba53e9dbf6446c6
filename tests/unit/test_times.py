"""Formatting a moment for a person in a time zone (webapp/web/times.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from webapp.web.times import format_moment, machine_value, time_zone_choices, zone_label

SUMMER = datetime(2026, 7, 4, 16, 30, tzinfo=UTC)
WINTER = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(("moment", "zone", "text"), [
    (WINTER, "UTC", "4 Dec 2026, 16:30 UTC"),
    (WINTER, "Europe/London", "4 Dec 2026, 16:30 GMT"),
    (SUMMER, "Europe/London", "4 Jul 2026, 17:30 BST"),
    (WINTER, "Europe/Paris", "4 Dec 2026, 17:30 CET"),
    (SUMMER, "Europe/Paris", "4 Jul 2026, 18:30 CEST"),
    (WINTER, "America/New_York", "4 Dec 2026, 11:30 EST"),
    (SUMMER, "America/Los_Angeles", "4 Jul 2026, 09:30 PDT"),
    (WINTER, "Asia/Tokyo", "5 Dec 2026, 01:30 UTC+9"),
    (WINTER, "Asia/Kolkata", "4 Dec 2026, 22:00 UTC+5:30"),
    (WINTER, "America/St_Johns", "4 Dec 2026, 13:00 UTC-3:30"),
])
def test_a_moment_in_a_zone(moment, zone, text):
    assert format_moment(moment, zone) == text


def test_dates_and_naive_moments():
    naive = WINTER.replace(tzinfo=None)  # stored UTC without its zone (SQLite)
    assert format_moment(naive, "Asia/Tokyo", "date") == "5 Dec 2026"
    assert format_moment(WINTER, "Asia/Tokyo", "long_date") == "5 December 2026"
    assert machine_value(naive) == "2026-12-04T16:30:00Z"
    # A calendar month is not an instant: no zone moves it.
    assert format_moment(date(2026, 3, 1), "Pacific/Kiritimati", "month") == "March 2026"
    assert machine_value(date(2026, 3, 1), "month") == "2026-03"


def test_zone_labels_fall_back_to_the_offset():
    assert zone_label(WINTER, "UTC") == "UTC"
    assert zone_label(WINTER, "Etc/GMT+5") == "UTC-5"  # POSIX sign: 5 hours behind


def test_the_list_of_zones_people_pick_from():
    groups = time_zone_choices("Europe/Paris", now=WINTER)
    general = [(c.value, c.label) for c in groups["General"]]
    assert general == [("", "The site's time zone (Europe/Paris)"), ("UTC", "UTC")]
    europe = {c.value: c.label for c in groups["Europe"]}
    assert europe["Europe/Paris"] == "Paris (UTC+1)"
    assert {c.label for c in groups["America"]} >= {"Argentina / Buenos Aires (UTC-3)",
                                                     "New York (UTC-5)"}
    # Old aliases are accepted when saved, but not offered.
    offered = {c.value for choices in groups.values() for c in choices}
    assert "US/Eastern" not in offered and "Etc/GMT+5" not in offered
    assert not any(key in groups for key in ("US", "Etc", "Canada"))
