"""``tangent maintenance``: the scheduled maintenance tasks, for deployments that run them
from cron instead of a job worker (``list`` shows them with their last run)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import needs_schema


@click.group()
def maintenance() -> None:
    """List the scheduled maintenance tasks, or run one now."""


@maintenance.command("list")
@with_appcontext
@needs_schema
def maintenance_list() -> None:
    """Each task: name, when it runs, its last run and outcome."""
    from webapp.extensions import db
    from webapp.jobs import maintenance as tasks

    for state in tasks.states():
        row = state.row
        if row is None or row.last_started_at is None:
            last = "never run"
        else:
            last = f"last run {row.last_started_at:%Y-%m-%d %H:%M} UTC"
            if state.running:
                last += ", running now"
            elif row.last_outcome:
                last += f": {row.last_outcome}"
                if row.last_detail:
                    last += f" ({row.last_detail})"
        click.echo(f"{state.task.name:<24}{state.task.schedule:<30}{last}")
    db.session.rollback()


@maintenance.command("run")
@click.argument("name")
@click.option("--force", is_flag=True,
              help="Run even if it already ran in this period (never beside a running one).")
@with_appcontext
@needs_schema
def maintenance_run(name: str, force: bool) -> None:
    """Run the maintenance task NAME (see ``tangent maintenance list``) once, unless another
    process is running it or it already ran in this period. Exit status 1 if it failed."""
    from webapp.extensions import db
    from webapp.jobs import maintenance as tasks

    try:
        tasks.get_task(name)
    except tasks.UnknownTask as exc:
        raise click.ClickException(str(exc)) from None
    # The run opens its own app context and transactions.
    db.session.rollback()
    result = tasks.run_task(current_app._get_current_object(), name, forced=force)
    if not result.ran:
        hint = " (--force runs it again)" if result.detail == tasks.ALREADY_RAN else ""
        click.echo(f"{name}: skipped, {result.detail}{hint}.")
        return
    if result.outcome == "failed":
        raise click.ClickException(f"{name} failed: {result.detail}")
    click.echo(f"{name}: {result.outcome}, {result.detail}.")
