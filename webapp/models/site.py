"""Site settings an admin edits on /admin/settings: one row per setting."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, utcnow

# The settings there are; the footer pages are Markdown sources.
SITE_SETTING_KEYS = ("site_name", "institution_name", "support_email", "logo",
                     "page_privacy", "page_terms", "page_accessibility",
                     # The community's rules (``webapp.services.community_rules``).
                     "flag_hide_threshold", "newcomer_days", "newcomer_posts",
                     "newcomer_posts_per_hour", "member_posts_per_hour",
                     "message_max_length", "edit_window_minutes",
                     "notification_retention_days",
                     # Moderation (``webapp.services.moderation``).
                     "hold_links_from_newcomers", "hold_branch_requests",
                     "claim_minutes",
                     # Scheduled maintenance (``webapp.jobs.maintenance``).
                     "security_event_retention_days")


class SiteSetting(Base):
    __tablename__ = "site_setting"
    __table_args__ = choice_checks(key=SITE_SETTING_KEYS)

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Text settings; for the logo, its media type and a digest ("image/png;1a2b…").
    value: Mapped[str] = mapped_column(Text, default="")
    # The logo's bytes (a few hundred KB at most); None for text settings.
    data: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
