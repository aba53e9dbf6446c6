"""``tangent serve`` and ``tangent worker``: the web server and the background job worker."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp.cli.common import fail_on_domain_error, needs_schema, upgrade_database
from webapp.cli.demo import load_demo


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True)
@click.option("--demo", "with_demo", is_flag=True, help="Load demo users and content first.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes. Use more than 1 only with REDIS_URL set, so that "
                   "rate limits are shared.")
@click.option("--threads", type=click.IntRange(1, 256), default=8, show_default=True)
@click.option("--no-job-worker", "no_job_worker", is_flag=True,
              help="Do not run background jobs in this process (run `tangent worker` instead).")
@with_appcontext
@fail_on_domain_error
def serve(host: str, port: int, with_demo: bool, workers: int, threads: int,
          no_job_worker: bool) -> None:
    """Apply migrations, start the job worker and serve Tangent with gunicorn."""
    from webapp.extensions import db
    from webapp.settings import get_settings
    from webapp.wsgi_server import serve_app

    app = current_app._get_current_object()
    settings = get_settings(app)
    if workers > 1 and not settings.redis_url:
        raise click.BadParameter("more than one worker needs REDIS_URL for shared rate limits",
                                 param_hint="--workers")
    upgrade_database()
    if with_demo:
        load_demo(Path(app.instance_path))
    db.session.remove()
    db.engine.dispose()
    display_host = f"[{host}]" if ":" in host else host
    click.echo(f"Tangent is running at http://{display_host}:{port}/  (Ctrl+C to stop)")
    serve_app(app, host=host, port=port, workers=workers, threads=threads,
              job_workers=0 if no_job_worker else settings.job_workers)


@click.command("worker")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Job threads (default: TANGENT_JOB_WORKERS, 2).")
@with_appcontext
@needs_schema
@fail_on_domain_error
def worker(workers: int | None) -> None:
    """Run background jobs (AI drafts, narration) until stopped; resumes interrupted jobs."""
    from webapp.extensions import db
    from webapp.jobs import recover
    from webapp.settings import get_settings

    app = current_app._get_current_object()
    settings = get_settings(app)
    upgrade_database()
    db.session.remove()
    huey = app.extensions["tangent.huey"]
    consumer = huey.create_consumer(workers=workers or settings.job_workers,
                                    worker_type="thread", periodic=True)
    resumed = recover(app)
    click.echo(f"Tangent job worker running ({workers or settings.job_workers} threads"
               f"{f'; resumed jobs {resumed}' if resumed else ''}). Ctrl+C to stop.")
    consumer.run()
