"""Views of the notifications area."""

from __future__ import annotations

from webapp.web.notifications import bp  # noqa: F401
