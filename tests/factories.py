"""Test data through the real services (so audit rows and constraints apply)."""

from __future__ import annotations

import itertools

from webapp.extensions import db
from webapp.models import User
from webapp.services import accounts

DEFAULT_PASSWORD = "correct horse battery staple"
_counter = itertools.count(1)


def make_user(
    email: str | None = None,
    *,
    password: str = DEFAULT_PASSWORD,
    role: str = "learner",
    status: str = "active",
    display_name: str | None = None,
) -> User:
    """Create and commit a user; call inside an app context."""
    email = email or f"user{next(_counter)}@example.org"
    user = accounts.create_user(email, password, display_name=display_name, role=role)
    if status != "active":
        accounts.set_status(user, status, actor=None)
    db.session.commit()
    return user
