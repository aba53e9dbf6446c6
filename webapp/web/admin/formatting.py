"""How the console shows a security event's details: "active → suspended", the reason,
an end time in the reader's time zone, the other facts as "name: value"."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from webapp.web.times import local_time


def _value(key: str, value: Any) -> Markup:
    if key == "until" and isinstance(value, str):
        try:
            return local_time(datetime.fromisoformat(value))
        except ValueError:
            pass
    return escape(value)


def describe_detail(detail: dict[str, Any] | None) -> Markup:
    """One line of HTML for ``SecurityEvent.detail``; "—" when there is nothing."""
    detail = {k: v for k, v in (detail or {}).items() if v not in (None, "")}
    parts: list[Markup] = []
    if "before" in detail and "after" in detail:
        parts.append(Markup("{} → {}").format(detail.pop("before"), detail.pop("after")))
    for key in sorted(detail):
        parts.append(Markup("{}: {}").format(key.replace("_", " "), _value(key, detail[key])))
    return Markup("; ").join(parts) if parts else Markup("—")
