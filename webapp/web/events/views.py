"""Views of the events area."""

from __future__ import annotations

from webapp.web.events import bp  # noqa: F401
