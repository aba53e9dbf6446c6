"""Single-use, expiring links mailed to account owners (reset, verify, email change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, fk_id, utcnow

TOKEN_PURPOSES = ("reset", "verify", "email_change")


class AccountToken(Base):
    """The link's random token is never stored: only its SHA-256 hash, so a copy of the
    database opens no account. ``used_at`` makes it single-use."""

    __tablename__ = "account_token"
    __table_args__ = choice_checks(purpose=TOKEN_PURPOSES)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = fk_id("user", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    # The address an email change moves to (purpose "email_change" only).
    new_email: Mapped[str | None] = mapped_column(String(254), default=None)
