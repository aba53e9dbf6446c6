"""Times as the viewer reads them.

Every template shows a moment through one filter, ``local_time``: in the viewer's time
zone (their account setting, else the site's ``TANGENT_TIME_ZONE``; anonymous viewers
get the site's), formatted by Babel, inside ``<time datetime="…Z">`` that carries the
instant in UTC for machines. Timestamps are stored in UTC (``models.base.UTCDateTime``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import Flask, current_app
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms.fields.choices import SelectChoice

from webapp.settings import get_settings, time_zone_names

LOCALE = "en_GB"  # day-month-year and a 24-hour clock, as the pages always used
PATTERNS = {
    "datetime": "d MMM y, HH:mm",  # 4 Dec 2026, 17:30 (+ the zone, see zone_label)
    "date": "d MMM y",  # 4 Dec 2026
    "long_date": "d MMMM y",  # 4 December 2026
    "month": "MMMM y",  # December 2026
}
_ABBREVIATION = re.compile(r"[A-Z]{2,5}")
# The IANA database's regions; other prefixes (US/, Canada/, Etc/ …) are old aliases.
REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia",
           "Europe", "Indian", "Pacific")


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def viewer_time_zone() -> str:
    """The IANA name of the zone this request's viewer reads times in."""
    zone = getattr(current_user, "time_zone", None) if current_user else None
    return zone or get_settings(current_app).time_zone


def offset_label(moment: datetime, zone: str) -> str:
    """``zone``'s offset from UTC at ``moment``: "UTC", "UTC+9", "UTC-3:30"."""
    offset = moment.astimezone(_zone(zone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset else 0
    if not minutes:
        return "UTC"
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


# (zone, offset, daylight saving) → the zone's common abbreviation then, or None. Babel
# takes a fraction of a millisecond to look a name up; it changes only with these.
_ABBREVIATIONS: dict[tuple[str, timedelta | None, timedelta | None], str | None] = {}


def _abbreviation(local: datetime, zone: str) -> str | None:
    for locale in (LOCALE, "en"):
        name = format_datetime(local, "z", tzinfo=_zone(zone), locale=locale)
        if _ABBREVIATION.fullmatch(name):
            return name
    return None


def zone_label(moment: datetime, zone: str) -> str:
    """A short name for ``zone`` at ``moment``: a common abbreviation where people use one
    (UTC, GMT, BST, CET, CEST, EST, PDT …), else the offset (UTC+9, UTC+5:30)."""
    if zone == "UTC":
        return "UTC"
    local = moment.astimezone(_zone(zone))
    key = (zone, local.utcoffset(), local.dst())
    if key not in _ABBREVIATIONS:
        _ABBREVIATIONS[key] = _abbreviation(local, zone)
    return _ABBREVIATIONS[key] or offset_label(moment, zone)


def format_moment(value: datetime | date, zone: str, style: str = "datetime") -> str:
    """``value`` as text for a person in ``zone``: a ``datetime`` (naive ones are UTC) is
    moved into the zone; a plain ``date`` (a calendar day or month) is shown as it is."""
    if not isinstance(value, datetime):
        return format_date(value, PATTERNS[style], locale=LOCALE)
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    # No pattern shows seconds: one text per minute, zone and style, made once (Babel
    # takes a tenth of a millisecond; a list page shows dozens of moments, again and again).
    return _format_minute(moment.astimezone(UTC).replace(second=0, microsecond=0), zone,
                          style)


@lru_cache(maxsize=8192)
def _format_minute(moment: datetime, zone: str, style: str) -> str:
    text = format_datetime(moment, PATTERNS[style], tzinfo=_zone(zone), locale=LOCALE)
    return f"{text} {zone_label(moment, zone)}" if style == "datetime" else text


def machine_value(value: datetime | date, style: str = "datetime") -> str:
    """The ``datetime`` attribute of ``<time>``: the instant in UTC, or the day or month."""
    if not isinstance(value, datetime):
        return value.strftime("%Y-%m") if style == "month" else value.isoformat()
    moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_time(value: datetime | date | None, style: str = "datetime", *,
               markup: bool = True) -> Markup | str:
    """The Jinja filter: ``{{ job.created_at|local_time }}``, ``|local_time('date')``,
    ``|local_time('long_date')``, ``{{ month|local_time('month') }}``. ``markup=False``
    gives plain text (for ``<title>`` and attribute values)."""
    if value is None:
        return ""
    text = format_moment(value, viewer_time_zone(), style)
    if not markup:
        return text
    # (Built directly: Markup.format costs as much as the rest of this filter.) The
    # machine value is digits and punctuation only; the text is escaped.
    return Markup(f'<time datetime="{machine_value(value, style)}">{escape(text)}</time>')  # noqa: S704


def time_zone_choices(site_zone: str, now: datetime | None = None,
                      names: Iterable[str] | None = None) -> dict[str, list[SelectChoice]]:
    """The zones people pick from: the site's (value "") and UTC, then every zone grouped
    by region ("Europe" → Europe/Paris …) and labelled with its offset from UTC now.
    Legacy aliases (US/Eastern, GB …) are left out of the list but still accepted."""
    now = now or datetime.now(UTC)
    groups: dict[str, list[SelectChoice]] = {"General": [
        SelectChoice("", f"The site's time zone ({site_zone})"), SelectChoice("UTC", "UTC")]}
    for name in sorted(names if names is not None else time_zone_names()):
        region, _, place = name.partition("/")
        if not place or region not in REGIONS:
            continue
        label = f"{place.replace('_', ' ').replace('/', ' / ')} ({offset_label(now, name)})"
        groups.setdefault(region, []).append(SelectChoice(name, label))
    return groups


def install_time_filters(app: Flask) -> None:
    """Register ``local_time`` for every template."""
    app.add_template_filter(local_time, "local_time")
