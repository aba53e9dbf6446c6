"""User accounts."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, Integer, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, choice_checks, fk_id, utcnow

# In rising order: a moderator writes courses as an editor does and also moderates the
# whole community; an admin does everything.
ROLES = ("learner", "editor", "moderator", "admin")
# The roles that may write courses (``User.is_editor``).
EDITOR_ROLES = ("editor", "moderator", "admin")
# The roles that moderate every course and the site (``User.is_moderator``).
MODERATOR_ROLES = ("moderator", "admin")
# "deleted": the account was closed; the row stays, anonymized, so that the audit trail
# (which the database keeps append-only) still points at one pseudonymous actor.
STATUSES = ("active", "suspended", "banned", "deleted")


class User(UserMixin, Base):
    __tablename__ = "user"
    __table_args__ = (
        *choice_checks(role=ROLES, status=STATUSES),
        CheckConstraint("session_version >= 1", name="session_version_positive"),
        # Emails are stored lower-cased, so the unique constraint on ``email`` is
        # case-insensitive; this keeps a write that bypasses the service honest.
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Stored normalized and lower-cased (see ck_user_email_lowercase).
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(16), default="learner")
    status: Mapped[str] = mapped_column(String(16), default="active")
    password_hash: Mapped[str] = mapped_column(String(255))
    # Bumped to end every session of this user (password change, suspension, ban).
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # Lessons open in focus mode (the learner's last choice).
    focus_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The IANA time zone the user reads times in; None follows the site's TANGENT_TIME_ZONE.
    time_zone: Mapped[str | None] = mapped_column(String(64), default=None)
    # When the owner proved the address is theirs (a link mailed to it); None: not yet.
    email_verified_at: Mapped[datetime | None] = mapped_column(default=None)
    # A suspension ends by itself at this moment (None: until an admin lifts it).
    suspended_until: Mapped[datetime | None] = mapped_column(default=None)
    # Why the account is suspended or banned, shown to its owner at sign-in.
    status_reason: Mapped[str] = mapped_column(String(500), default="",
                                               server_default=text("''"))
    # A moderator silenced the account (no posting) until this moment; None: not silenced.
    silenced_until: Mapped[datetime | None] = mapped_column(default=None)

    __mapper_args__ = {"version_id_col": version}

    def get_id(self) -> str:
        # Flask-Login stores this in the session; the session version in it makes
        # old sessions invalid as soon as the user's session_version changes.
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_editor(self) -> bool:
        return self.role in EDITOR_ROLES

    @property
    def is_moderator(self) -> bool:
        return self.role in MODERATOR_ROLES

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role}>"


class UserSession(Base):
    """One signed-in browser. The cookie holds a random token, this row its hash: signing
    out deletes the row, so a copy of the cookie taken before opens nothing afterwards."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = fk_id("user", index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Updated at most every few minutes by the requests of this session (not on each).
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)


class LearnerRow:
    """A row of one learner's own (progress, notes, attempts …), deleted with the account.

    The two columns lead the table, as they did before this mixin existed.
    """

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-2)
    user_id: Mapped[int] = fk_id("user", sort_order=-1)

    @staticmethod
    def one_per(table: str, unit: str) -> UniqueConstraint:
        """At most one row of ``table`` per learner and ``unit`` (a course, a lesson …)."""
        return UniqueConstraint("user_id", f"{unit}_id", name=f"uq_{table}_user_{unit}")
