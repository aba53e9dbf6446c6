"""Single-use, expiring tokens for links mailed to account owners.

The link holds 32 random bytes; the ``account_token`` row holds only their SHA-256 hash,
the purpose, the expiry and when it was used. A token opens nothing once used, expired,
superseded by a newer one of the same purpose, or when its purpose does not match.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import AccountToken, User
from webapp.models.base import utcnow
from webapp.services.exceptions import DomainError

# How long each kind of link works.
LIFETIMES = {
    "reset": timedelta(hours=1),
    "verify": timedelta(hours=48),
    "email_change": timedelta(hours=24),
}
# A token is 43 URL-safe characters; anything much longer is not one.
TOKEN_MAX = 100


class TokenInvalid(DomainError):
    """The link is unknown, used or expired (``reason`` says which, for the page)."""

    status = 404

    def __init__(self, reason: str) -> None:
        super().__init__("This link no longer works.")
        self.reason = reason


def hash_token(raw: str) -> str:
    """What the database keeps of a token: its SHA-256, hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


def hours(purpose: str) -> int:
    """How many hours a link of ``purpose`` works (for the mail's wording)."""
    return int(LIFETIMES[purpose].total_seconds() // 3600)


def issue_token(user: User, purpose: str, *, new_email: str | None = None) -> str:
    """A new link token for ``user``; earlier unused ones of the same purpose stop working.
    Returns the raw token (only its hash is stored)."""
    now = utcnow()
    db.session.execute(
        update(AccountToken)
        .where(AccountToken.user_id == user.id, AccountToken.purpose == purpose,
               AccountToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    raw = secrets.token_urlsafe(32)
    db.session.add(AccountToken(purpose=purpose, user_id=user.id, token_hash=hash_token(raw),
                                expires_at=now + LIFETIMES[purpose], new_email=new_email))
    db.session.flush()
    return raw


def find_token(raw: str, purpose: str) -> AccountToken:
    """The live token ``raw`` of ``purpose``; raises ``TokenInvalid`` saying why not."""
    if not raw or len(raw) > TOKEN_MAX or not raw.isascii() or "\x00" in raw:
        raise TokenInvalid("unknown")
    token = db.session.scalar(select(AccountToken).where(
        AccountToken.token_hash == hash_token(raw), AccountToken.purpose == purpose))
    if token is None:
        raise TokenInvalid("unknown")
    if token.used_at is not None:
        raise TokenInvalid("used")
    if token.expires_at <= utcnow():
        raise TokenInvalid("expired")
    return token


def use_token(token: AccountToken) -> None:
    """Spend ``token``: a conditional UPDATE, so two requests racing with one link cannot
    both use it."""
    result = db.session.execute(
        update(AccountToken).where(AccountToken.id == token.id, AccountToken.used_at.is_(None))
        .values(used_at=utcnow()).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise TokenInvalid("used")
