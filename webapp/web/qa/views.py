"""Views of the qa area."""

from __future__ import annotations

from webapp.web.qa import bp  # noqa: F401
