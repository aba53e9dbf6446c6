"""The ``tangent`` command: Flask's CLI group (``db`` included) plus Tangent's own groups.

One module per command group; each parses its arguments, calls services, commits
and prints. ``main`` is the console script (``tangent = "webapp.cli:main"``).
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from flask.cli import FlaskGroup

from webapp.cli.audio import audio
from webapp.cli.backup import backup
from webapp.cli.content import content
from webapp.cli.demo import demo
from webapp.cli.maintenance import maintenance
from webapp.cli.serve import serve, worker
from webapp.cli.users import users
from webapp.settings import ConfigError


def _create_app():
    from webapp import create_app

    try:
        return create_app()
    except ConfigError as exc:
        # Flask's group prints a full traceback when the app fails to load while
        # listing commands (``tangent``, ``tangent --help``); stop here instead,
        # with the same one line as ``main``.
        _exit_on_config_error(exc)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             set_debug_flag=False, load_dotenv=False)
def cli() -> None:
    """Tangent, a server-rendered learning platform."""


for _command in (users, content, demo, serve, worker, audio, backup, maintenance):
    cli.add_command(_command)


def _exit_on_config_error(exc: ConfigError) -> NoReturn:
    click.echo(f"Configuration error: {exc}", err=True)
    sys.exit(2)


def main() -> None:
    """Console entry point: configuration errors are one line and exit status 2."""
    try:
        cli.main(prog_name="tangent")
    except ConfigError as exc:
        _exit_on_config_error(exc)
