"""What several command groups share: domain errors as one-line failures, lookups by
email or slug, migrations."""

from __future__ import annotations

from functools import wraps

import click
from sqlalchemy import select


def fail_on_domain_error(func):
    """Turn domain errors into a one-line CLI error (exit status 1)."""
    from webapp.services.exceptions import DomainError

    @wraps(func)
    def wrapped(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DomainError as exc:
            from webapp.extensions import db

            db.session.rollback()
            raise click.ClickException(exc.message) from None

    return wrapped


def user_by_email(email: str):
    from webapp.services import accounts

    user = accounts.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email!r}")
    return user


def course_by_slug(slug: str):
    from webapp.extensions import db
    from webapp.models import Course

    course = db.session.scalar(select(Course).where(Course.slug == slug))
    if course is None:
        raise click.ClickException(f"no course with slug {slug!r}")
    return course


def plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def needs_schema(func):
    """Commands that read or write the database run on a current schema.

    A database that was never migrated (a new instance: the README's first command
    is ``tangent users create``) is migrated first, saying so. One whose schema is
    older than this code stops with the one command that fixes it; a schema change
    on a live site is something to do on purpose.
    """

    @wraps(func)
    def wrapped(*args, **kwargs):
        from webapp.database import current_revisions, head_revisions
        from webapp.extensions import db

        # In the command's own session (a second connection would wait on SQLite's
        # write lock), ended before the command starts its work.
        try:
            current = current_revisions(db.session.connection())
        finally:
            db.session.rollback()
        if not current:
            upgrade_database()
            click.echo("Created the database schema (a new instance).", err=True)
        elif current != set(head_revisions()):
            raise click.ClickException(
                "the database schema is older than this version of Tangent: "
                "run `tangent db upgrade` first")
        return func(*args, **kwargs)

    return wrapped


def upgrade_database() -> None:
    """Apply pending migrations (the only way the schema changes)."""
    from flask_migrate import upgrade

    upgrade()
