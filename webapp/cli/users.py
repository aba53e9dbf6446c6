"""``tangent users``: create users and manage their role and status."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from webapp.cli.common import fail_on_domain_error, needs_schema, user_by_email
from webapp.models.users import ROLES


@click.group()
def users() -> None:
    """Create users and manage their role and status."""


@users.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="learner", show_default=True)
@click.option("--name", "display_name", help="Display name (default: the part before the @).")
@click.option("--password", help="Password; prompted for (hidden) when not given.")
@with_appcontext
@needs_schema
@fail_on_domain_error
def users_create(email: str, role: str, display_name: str | None, password: str | None) -> None:
    """Create a user with EMAIL."""
    from webapp.extensions import db
    from webapp.services import accounts

    if password is None:
        if not sys.stdin.isatty():
            raise click.ClickException("--password is required when not run interactively")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = accounts.create_user(email, password, display_name=display_name, role=role)
    db.session.commit()
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@with_appcontext
@needs_schema
@fail_on_domain_error
def users_set_role(email: str, role: str) -> None:
    """Give the user with EMAIL a new ROLE: learner (takes courses), editor (also writes
    them), moderator (also moderates the whole community) or admin (also runs the site)."""
    from webapp.extensions import db
    from webapp.services import accounts

    user = user_by_email(email)
    accounts.set_role(user, role, actor=None)
    db.session.commit()
    click.echo(f"{user.email} is now {user.role}.")


def _suspension_end(days: int | None, until) -> object:
    """When a suspension given ``--days`` or ``--until`` ends (None: until lifted)."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from flask import current_app

    from webapp.models.base import utcnow
    from webapp.settings import get_settings

    if days is not None and until is not None:
        raise click.UsageError("Give --days or --until, not both.")
    if days is not None:
        return utcnow() + timedelta(days=days)
    if until is not None:
        zone = ZoneInfo(get_settings(current_app).time_zone)
        return datetime.combine(until.date(), time.min, tzinfo=zone)
    return None


def _status_command(name: str, status: str, summary: str, *, with_reason: bool,
                    with_end: bool = False) -> None:
    """Add ``users NAME EMAIL``, which gives the user ``status`` (and ends their sessions)."""

    def set_status(email: str, reason: str = "", days: int | None = None,
                   until=None) -> None:
        from webapp.extensions import db
        from webapp.services import accounts

        user = user_by_email(email)
        end = _suspension_end(days, until) if with_end else None
        accounts.set_status(user, status, actor=None, reason=reason, until=end)
        db.session.commit()
        shown = f" until {end:%Y-%m-%d %H:%M %Z}" if end else ""
        click.echo(f"{user.email} is now {user.status}{shown}.")

    set_status.__doc__ = summary
    callback = with_appcontext(needs_schema(fail_on_domain_error(set_status)))
    if with_end:
        callback = click.option(
            "--until", type=click.DateTime(formats=["%Y-%m-%d"]),
            help="End the suspension at the start of this day (YYYY-MM-DD) in the site's "
                 "time zone.")(callback)
        callback = click.option("--days", type=click.IntRange(1, 3650),
                                help="End the suspension after this many days.")(callback)
    if with_reason:
        callback = click.option("--reason", default="",
                                help="Shown to the user at sign-in; recorded in the "
                                     "security log.")(callback)
    users.command(name)(click.argument("email")(callback))


_status_command("suspend", "suspended",
                "Suspend the user with EMAIL and end all their sessions; without --days "
                "or --until, until lifted.", with_reason=True, with_end=True)
_status_command("ban", "banned", "Ban the user with EMAIL and end all their sessions.",
                with_reason=True)
_status_command("activate", "active", "Lift a suspension or ban.", with_reason=False)


@users.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@with_appcontext
@needs_schema
def users_list(limit: int) -> None:
    """List users, newest first."""
    from webapp.extensions import db
    from webapp.models import User

    rows = db.session.scalars(select(User).order_by(User.id.desc()).limit(limit)).all()
    if not rows:
        click.echo("No users yet. Create one with: tangent users create EMAIL --role admin")
    for user in rows:
        click.echo(f"{user.id:>6}  {user.role:<9} {user.status:<10} {user.email}")


def _is_terminal() -> bool:
    return sys.stdin.isatty()


def _site_url() -> str:
    from flask import current_app

    from webapp.services.mail import DEFAULT_BASE_URL
    from webapp.settings import get_settings

    return get_settings(current_app).base_url or DEFAULT_BASE_URL


@users.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True,
              help="Read the new password from the first line of standard input (scripts).")
@with_appcontext
@needs_schema
@fail_on_domain_error
def users_set_password(email: str, password_stdin: bool) -> None:
    """Give the user with EMAIL a new password and end all their sessions."""
    from webapp.extensions import db
    from webapp.services import accounts

    user = user_by_email(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not _is_terminal():
        raise click.ClickException("--password-stdin is required when not run interactively")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    accounts.set_password(user, password, actor=None, site_url=_site_url())
    db.session.commit()
    click.echo(f"Password of {user.email} changed; every session of theirs has ended.")


@users.command("reset-link")
@click.argument("email")
@with_appcontext
@needs_schema
@fail_on_domain_error
def users_reset_link(email: str) -> None:
    """Print a password-reset link for the user with EMAIL (works once, for an hour).

    Pass it on to its owner yourself; nothing is mailed. Links point at TANGENT_BASE_URL.
    """
    from webapp.extensions import db
    from webapp.services import accounts

    user = user_by_email(email)
    link = accounts.issue_reset_link(user, actor=None, site_url=_site_url())
    db.session.commit()
    click.echo(link)


@users.command("export")
@click.argument("email")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True),
              help="Write the JSON to this file (default: standard output).")
@with_appcontext
@needs_schema
@fail_on_domain_error
def users_export(email: str, output: str | None) -> None:
    """Print (or write to --output) everything Tangent holds about the user with EMAIL, as
    JSON: the same document as the "Download my data" button."""
    import json

    from webapp.extensions import db
    from webapp.services import account_data

    user = user_by_email(email)
    document = account_data.export_user(user, actor=None)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if output:
        with open(output, "w", encoding="utf-8") as file:
            file.write(text + "\n")
    db.session.commit()
    if output:
        click.echo(f"Wrote the data of {user.email} to {output}.", err=True)
    else:
        click.echo(text)


@users.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Close the account without asking.")
@with_appcontext
@needs_schema
@fail_on_domain_error
def users_delete(email: str, yes: bool) -> None:
    """Close the account of the user with EMAIL: delete their own rows and anonymize the
    account, by the rules in the README ("Your account and your data")."""
    from webapp.extensions import db
    from webapp.services import account_data

    user = user_by_email(email)
    if not yes:
        if not sys.stdin.isatty():
            raise click.ClickException("--yes is required when not run interactively")
        click.confirm(f"Close the account of {user.email}? This cannot be undone.", abort=True)
    deleted = account_data.close_account(user, actor=None)
    db.session.commit()
    rows = sum(deleted.values())
    click.echo(f"Closed the account: it is now {user.email}; {rows} row{'s' if rows != 1 else ''} "
               "of theirs deleted.")
