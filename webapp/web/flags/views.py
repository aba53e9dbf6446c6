"""Views of the flags area."""

from __future__ import annotations

from webapp.web.flags import bp  # noqa: F401
