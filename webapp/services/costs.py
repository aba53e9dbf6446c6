"""What AI drafting and narration cost: per course, per month, and as a CSV for
reconciling with the providers' dashboards.

Everything is read from the ``provider_call`` ledger, one row per provider call,
written by the job runner from provider-reported usage. Money stays ``Decimal``
from the NUMERIC column to the page and the CSV; it is never a float. Months are
calendar months in UTC, whatever the database server's time zone.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Integer, String, cast, func, literal_column, select

from webapp.extensions import db
from webapp.models import Course, ProviderCall

# The ledger's scale (decimal places of the NUMERIC cost column) and its smallest unit.
SCALE: int = ProviderCall.__table__.c.cost.type.scale  # type: ignore[attr-defined]
UNIT = Decimal(1).scaleb(-SCALE)
ZERO = Decimal(0).quantize(UNIT)
# Spreadsheets run a cell that starts with one of these as a formula; a course title
# is user text, so such cells get a leading apostrophe in the CSV.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "call_id",          # ledger row id (provider_call.id)
    "created_at_utc",   # when the call was recorded, ISO 8601 in UTC
    "provider",         # back end that was called ("openai", "openrouter", "scaffold" …)
    "model",            # model name sent to the provider
    "prompt_version",   # versioned prompt file that produced the request ("" for speech)
    "kind",             # "text" (AI tokens) or "speech" (TTS characters)
    "job_kind",         # course_draft, branch, lesson_regeneration or narration
    "job_id",           # generation job the call belonged to (empty once deleted)
    "course_id",        # course the spend is attributed to (empty when none)
    "course_title",
    "input_tokens",
    "output_tokens",
    "characters",       # characters of text sent to a speech provider
    "cost",             # plain decimal in the providers' currency, at the ledger's scale
    "cost_source",      # reported by the provider, computed from configured prices, or free
)


@dataclass(frozen=True)
class CourseCosts:
    """A course's spend: AI text generation and narration audio."""

    ai: Decimal  # ledger rows of kind "text"
    audio: Decimal  # ledger rows of kind "speech"

    @property
    def total(self) -> Decimal:
        return self.ai + self.audio


@dataclass(frozen=True)
class CostRow:
    """Calls of one kind to one provider for one course in one month, summed."""

    month: date
    provider: str
    course_id: int | None
    course_title: str | None
    kind: str
    calls: int
    input_tokens: int
    output_tokens: int
    characters: int
    cost: Decimal


def month_start(value: date) -> date:
    return date(value.year, value.month, 1)


def parse_month(text: str) -> date:
    """``"2025-03"`` → 1 March 2025; ``ValueError`` with a readable message otherwise."""
    try:
        parsed = datetime.strptime(text.strip(), "%Y-%m")
    except ValueError:
        raise ValueError(f"Month must look like 2025-03 (year-month), not {text[:20]!r}.") \
            from None
    return date(parsed.year, parsed.month, 1)


def _month_range(month: date) -> tuple[datetime, datetime]:
    """The first instant of ``month`` and of the month after, in UTC."""
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _month_key() -> ColumnElement[str]:
    """``'YYYY-MM'`` of ``provider_call.created_at`` in UTC, in the current dialect.

    The format strings are literal SQL, not bound parameters, so that the same
    expression in SELECT and GROUP BY is recognised as one by PostgreSQL.
    """
    created = ProviderCall.created_at
    if db.engine.dialect.name == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), created)
        return func.to_char(utc, literal_column("'YYYY-MM'"), type_=String)
    # SQLite stores the UTC timestamp as text: "2025-03-31 23:59:59.000000".
    return func.strftime(literal_column("'%Y-%m'"), created, type_=String)


def _cost_sum() -> ColumnElement:
    """SUM of the cost column that is exact on both databases (see ``_sum_value``).

    PostgreSQL sums NUMERIC exactly. SQLite keeps NUMERIC values as REAL and would
    add them as floats, so there each value is first turned into a whole number of
    ledger units and the integers are summed: no rounding error builds up, however
    many rows there are.
    """
    if db.engine.dialect.name == "postgresql":
        return func.sum(ProviderCall.cost)
    units = func.round(ProviderCall.cost * literal_column(str(10 ** SCALE)))
    return func.sum(cast(units, Integer))


def _sum_value(value: object) -> Decimal:
    """The Decimal for a ``_cost_sum()`` result (None when there were no rows)."""
    if value is None:
        return ZERO
    if isinstance(value, int):
        return Decimal(value).scaleb(-SCALE).quantize(UNIT)
    return Decimal(value).quantize(UNIT)


def _as_month(key: str) -> date:
    year, month = key.split("-")
    return date(int(year), int(month), 1)


def _money(value: Decimal | None) -> Decimal:
    return ZERO if value is None else Decimal(value).quantize(UNIT)


def course_costs(course_id: int) -> CourseCosts:
    """What ``course_id`` has cost so far: AI text calls and speech (narration) calls."""
    rows = db.session.execute(
        select(ProviderCall.kind, _cost_sum())
        .where(ProviderCall.course_id == course_id)
        .group_by(ProviderCall.kind)
    ).all()
    by_kind = {kind: _sum_value(total) for kind, total in rows}
    return CourseCosts(ai=by_kind.get("text", ZERO), audio=by_kind.get("speech", ZERO))


def cost_totals(*, month: date | None = None) -> list[CostRow]:
    """Ledger totals grouped by month, provider, course and kind; one month or all.

    Newest month first, then by provider, course title and kind. Calls whose course
    was deleted are grouped under ``course_id=None``.
    """
    month_key = _month_key().label("month")
    stmt = (
        select(
            month_key,
            ProviderCall.provider,
            ProviderCall.course_id,
            Course.title,
            ProviderCall.kind,
            func.count(ProviderCall.id),
            func.coalesce(func.sum(ProviderCall.input_tokens), 0),
            func.coalesce(func.sum(ProviderCall.output_tokens), 0),
            func.coalesce(func.sum(ProviderCall.characters), 0),
            _cost_sum(),
        )
        .outerjoin(Course, Course.id == ProviderCall.course_id)
        .group_by(month_key, ProviderCall.provider, ProviderCall.course_id, Course.title,
                  ProviderCall.kind)
        .order_by(month_key.desc(), ProviderCall.provider, Course.title, ProviderCall.course_id,
                  ProviderCall.kind)
    )
    if month is not None:
        start, end = _month_range(month)
        stmt = stmt.where(ProviderCall.created_at >= start, ProviderCall.created_at < end)
    return [
        CostRow(month=_as_month(key), provider=provider, course_id=course_id,
                course_title=title, kind=kind, calls=int(calls), input_tokens=int(tokens_in),
                output_tokens=int(tokens_out), characters=int(characters), cost=_sum_value(cost))
        for key, provider, course_id, title, kind, calls, tokens_in, tokens_out, characters,
        cost in db.session.execute(stmt)
    ]


def months_with_costs() -> list[date]:
    """Every month (UTC) with at least one ledger row, newest first."""
    key = _month_key().label("month")
    keys = db.session.scalars(select(key).group_by(key).order_by(key.desc()))
    return [_as_month(k) for k in keys]


def _cell(text: str | None) -> str:
    text = text or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _plain(value: Decimal) -> str:
    """A decimal without exponent or grouping: ``0.0001200000``, never ``1.2E-4``."""
    return format(value, "f")


def csv_for_month(month: date) -> str:
    """Every ledger row of ``month`` (UTC) as CSV, oldest first, then a total line.

    Columns are ``CSV_COLUMNS`` (documented there). The last line has ``total`` in
    ``call_id``, "N calls" in ``created_at_utc`` and the sums of tokens, characters
    and cost, so the file can be checked against a provider's monthly usage export
    (filter by ``provider`` when several are in use).
    """
    start, end = _month_range(month)
    rows = db.session.execute(
        select(ProviderCall, Course.title)
        .outerjoin(Course, Course.id == ProviderCall.course_id)
        .where(ProviderCall.created_at >= start, ProviderCall.created_at < end)
        .order_by(ProviderCall.created_at, ProviderCall.id)
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    calls = tokens_in = tokens_out = characters = 0
    cost = ZERO
    for call, title in rows:
        call_cost = _money(call.cost)
        writer.writerow([
            call.id,
            call.created_at.astimezone(UTC).isoformat(),
            _cell(call.provider),
            _cell(call.model),
            _cell(call.prompt_version),
            call.kind,
            call.job_kind,
            "" if call.job_id is None else call.job_id,
            "" if call.course_id is None else call.course_id,
            _cell(title),
            call.input_tokens,
            call.output_tokens,
            call.characters,
            _plain(call_cost),
            call.cost_source,
        ])
        calls += 1
        tokens_in += call.input_tokens
        tokens_out += call.output_tokens
        characters += call.characters
        cost += call_cost
    writer.writerow(["total", f"{calls} calls", "", "", "", "", "", "", "", "",
                     tokens_in, tokens_out, characters, _plain(cost), ""])
    return out.getvalue()


MONEY_SHOWN = Decimal("0.000001")


def format_money(value: Decimal | None, currency: str) -> str:
    """A cost for people: two to six decimals and the currency (``0.30 USD``,
    ``0.00012 USD``, never ``0E-10``); the CSV export keeps every digit."""
    value = Decimal(value or 0)
    if 0 < value < MONEY_SHOWN:
        return f"< {MONEY_SHOWN} {currency}"
    text = format(value.quantize(MONEY_SHOWN), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')} {currency}"
