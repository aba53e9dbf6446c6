"""The cost ledger read back: per course, per month (UTC) by provider, course and kind,
and the CSV for monthly reconciliation. Money is Decimal throughout."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from webapp.extensions import db
from webapp.models import Course, ProviderCall
from webapp.services import costs

MARCH = date(2025, 3, 1)
_keys = iter(range(1_000_000))


@pytest.fixture
def courses(app_ctx) -> dict[str, Course]:
    made = {
        "bread": Course(slug="bread", title="Bread baking"),
        "knots": Course(slug="knots", title="=HYPERLINK(\"http://evil\")"),
    }
    db.session.add_all(made.values())
    db.session.commit()
    return made


def call(at: datetime, *, cost: str, course: Course | None = None, kind: str = "text",
         provider: str = "openai", tokens: tuple[int, int] = (0, 0), characters: int = 0,
         **kw) -> ProviderCall:
    row = ProviderCall(
        created_at=at, cost=Decimal(cost), course_id=course.id if course else None, kind=kind,
        provider=provider, model=kw.pop("model", "gpt-4o-mini"), call_key=f"k{next(_keys)}",
        input_tokens=tokens[0], output_tokens=tokens[1], characters=characters,
        cost_source=kw.pop("cost_source", "reported"), job_kind=kw.pop("job_kind", "course_draft"),
        prompt_version=kw.pop("prompt_version", "course_outline.v1"), **kw,
    )
    db.session.add(row)
    return row


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_course_costs_split_ai_and_audio_exactly(courses):
    bread, knots = courses["bread"], courses["knots"]
    call(utc(2025, 3, 2), cost="0.1", course=bread)
    call(utc(2025, 4, 2), cost="0.2", course=bread)
    call(utc(2025, 3, 2), cost="0.000001", course=bread, kind="speech", provider="openai-tts",
         characters=1200)
    # The smallest amounts the ledger holds add up exactly too.
    for _ in range(3):
        call(utc(2025, 3, 2), cost=str(costs.UNIT), course=bread, kind="speech",
             provider="openai-tts", characters=1)
    call(utc(2025, 3, 2), cost="5", course=knots)
    db.session.commit()

    spent = costs.course_costs(bread.id)
    assert spent.ai == Decimal("0.3") and isinstance(spent.ai, Decimal)
    assert spent.audio == Decimal("0.000001") + 3 * costs.UNIT
    assert isinstance(spent.audio, Decimal)
    assert spent.total == Decimal("0.300001") + 3 * costs.UNIT
    assert costs.course_costs(999_999) == costs.CourseCosts(ai=Decimal(0), audio=Decimal(0))


def test_totals_group_by_provider_course_and_kind(courses):
    bread, knots = courses["bread"], courses["knots"]
    call(utc(2025, 3, 3), cost="0.1", course=bread, tokens=(100, 50))
    call(utc(2025, 3, 4), cost="0.2", course=bread, tokens=(10, 5))
    call(utc(2025, 3, 4), cost="0.7", course=bread, provider="openrouter", tokens=(1, 1))
    call(utc(2025, 3, 5), cost="0.015", course=bread, kind="speech", provider="openai-tts",
         characters=1000)
    call(utc(2025, 3, 5), cost="0.4", course=knots)
    call(utc(2025, 3, 6), cost="0.05")  # the course was deleted since
    db.session.commit()

    rows = costs.cost_totals(month=MARCH)
    summary = {(r.provider, r.course_id, r.kind): (r.calls, r.input_tokens, r.output_tokens,
                                                   r.characters, r.cost) for r in rows}
    assert summary == {
        ("openai", bread.id, "text"): (2, 110, 55, 0, Decimal("0.3")),
        ("openai", knots.id, "text"): (1, 0, 0, 0, Decimal("0.4")),
        ("openai", None, "text"): (1, 0, 0, 0, Decimal("0.05")),
        ("openrouter", bread.id, "text"): (1, 1, 1, 0, Decimal("0.7")),
        ("openai-tts", bread.id, "speech"): (1, 0, 0, 1000, Decimal("0.015")),
    }
    assert {r.month for r in rows} == {MARCH}
    assert {r.course_title for r in rows if r.course_id == bread.id} == {"Bread baking"}
    assert all(isinstance(r.cost, Decimal) for r in rows)
    assert sum((r.cost for r in rows), Decimal(0)) == Decimal("1.465")


def test_months_are_calendar_months_in_utc(courses):
    bread = courses["bread"]
    call(utc(2025, 2, 28, 23, 59, 59, 999999), cost="1", course=bread)
    call(utc(2025, 3, 1), cost="0.1", course=bread)
    # 01:30 on 1 April in UTC+2 is still 31 March in UTC.
    call(datetime(2025, 4, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))), cost="0.2",
         course=bread)
    call(utc(2025, 3, 31, 23, 59, 59, 999999), cost="0.3", course=bread)
    call(utc(2025, 4, 1), cost="10", course=bread)
    call(utc(2024, 12, 31, 23, 59), cost="100", course=bread)
    db.session.commit()

    (march,) = costs.cost_totals(month=MARCH)
    assert (march.calls, march.cost) == (3, Decimal("0.6"))
    everything = costs.cost_totals()
    assert [(r.month, r.calls, r.cost) for r in everything] == [
        (date(2025, 4, 1), 1, Decimal("10")),
        (MARCH, 3, Decimal("0.6")),
        (date(2025, 2, 1), 1, Decimal("1")),
        (date(2024, 12, 1), 1, Decimal("100")),
    ]
    assert costs.months_with_costs() == [date(2025, 4, 1), MARCH, date(2025, 2, 1),
                                         date(2024, 12, 1)]
    assert costs.cost_totals(month=date(2025, 1, 1)) == []


def test_no_costs_at_all(app_ctx):
    assert costs.months_with_costs() == []
    assert costs.cost_totals(month=MARCH) == []
    lines = list(csv.reader(io.StringIO(costs.csv_for_month(MARCH))))
    assert lines[0] == list(costs.CSV_COLUMNS)
    assert lines[1][:2] == ["total", "0 calls"] and Decimal(lines[1][13]) == 0


def test_csv_lists_every_call_of_the_month_and_a_total(courses):
    bread, knots = courses["bread"], courses["knots"]
    first = call(utc(2025, 3, 1, 8, 0, 0), cost="0.1", course=bread, tokens=(120, 80),
                 job_id=None)
    call(utc(2025, 3, 2, 9, 30), cost="0.2", course=knots, tokens=(1, 2))
    call(utc(2025, 3, 31, 23, 59, 59), cost="0.000120", kind="speech", provider="openai-tts",
         characters=4000, job_kind="narration", prompt_version="", cost_source="configured",
         course=bread)
    call(utc(2025, 4, 1), cost="9", course=bread)  # next month: not in the file
    db.session.commit()

    text = costs.csv_for_month(MARCH)
    lines = list(csv.reader(io.StringIO(text)))
    header, *calls, total = lines
    assert header == list(costs.CSV_COLUMNS)
    assert len(calls) == 3
    row = dict(zip(header, calls[0], strict=True))
    assert row == {
        "call_id": str(first.id), "created_at_utc": "2025-03-01T08:00:00+00:00",
        "provider": "openai", "model": "gpt-4o-mini", "prompt_version": "course_outline.v1",
        "kind": "text", "job_kind": "course_draft", "job_id": "", "course_id": str(bread.id),
        "course_title": "Bread baking", "input_tokens": "120", "output_tokens": "80",
        "characters": "0", "cost": row["cost"], "cost_source": "reported",
    }
    # Costs are plain decimals at the ledger's scale: no exponent, no float noise.
    assert re.fullmatch(r"0\.10*", row["cost"])
    # A title that a spreadsheet would run as a formula is neutralized.
    assert dict(zip(header, calls[1], strict=True))["course_title"].startswith("'=")
    speech = dict(zip(header, calls[2], strict=True))
    assert (speech["kind"], speech["characters"]) == ("speech", "4000")
    assert re.fullmatch(r"0\.000120*", speech["cost"])
    assert total[:2] == ["total", "3 calls"]
    assert total[10:13] == ["121", "82", "4000"]
    assert re.fullmatch(r"0\.300120*", total[13])
    assert Decimal(total[13]) == sum(Decimal(r[13]) for r in calls) == Decimal("0.30012")


def test_parse_month():
    assert costs.parse_month("2025-03") == MARCH
    assert costs.parse_month(" 2025-12 ") == date(2025, 12, 1)
    for bad in ("2025-13", "March", "2025-3-1", "", "2025/03"):
        with pytest.raises(ValueError, match="2025-03"):
            costs.parse_month(bad)
