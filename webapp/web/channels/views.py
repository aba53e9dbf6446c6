"""Views of the channels area."""

from __future__ import annotations

from webapp.web.channels import bp  # noqa: F401
