"""``tangent demo``: demo users and courses, and the logins to try them with."""

from __future__ import annotations

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import fail_on_domain_error, needs_schema


def load_demo(instance_path: Path) -> None:
    """Load the demo (idempotent), commit, keep generated passwords, print the logins."""
    from webapp.extensions import db
    from webapp.services import demo as demo_service

    setup = demo_service.load_demo(
        instance_path, fixed_password=os.environ.get(demo_service.DEMO_PASSWORD_ENV) or None)
    db.session.commit()
    demo_service.keep_demo_logins(instance_path, setup)
    click.echo("Demo logins:")
    for login in setup.logins:
        shown = login.password or "(existing account; password unchanged)"
        click.echo(f"  {login.role:<9} {login.email:<24} {shown}")


@click.command("demo")
@with_appcontext
@needs_schema
@fail_on_domain_error
def demo() -> None:
    """Load demo users and courses; safe to run again."""
    load_demo(Path(current_app.instance_path))
