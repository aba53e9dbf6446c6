"""``tangent serve`` for the benchmark, plus two bench-only additions.

    python bench/probe_server.py --port N [--workers 1 --threads 8]

It builds the app exactly as ``tangent serve`` does (settings from the
environment, the same gunicorn options through ``serve_app``, embedded job
threads) and adds what only a benchmark needs:

- ``GET /_bench/empty``: a page that extends ``base.html`` and has no content,
  for the signed-in (or anonymous) layout's own cost — the ceiling of any page.
- an ``X-Statements`` response header: how many SQL statements the request ran
  (counted by a cursor event on the engine, per thread).

Never used outside ``bench/``; the schema must already be migrated.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import render_template
from sqlalchemy import event

from webapp import create_app
from webapp.extensions import db
from webapp.settings import get_settings
from webapp.wsgi_server import serve_app

EMPTY = ('{% extends "base.html" %}{% block title %}Empty{% endblock %}'
         '{% block content %}{% endblock %}')


def build_app():
    app = create_app()
    counter = threading.local()

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_args) -> None:
        counter.n = getattr(counter, "n", 0) + 1

    @app.before_request
    def _reset() -> None:
        counter.n = 0

    @app.after_request
    def _report(response):
        response.headers["X-Statements"] = str(getattr(counter, "n", 0))
        return response

    template = app.jinja_env.from_string(EMPTY)

    def empty():
        return render_template(template)

    app.add_url_rule("/_bench/empty", "bench_empty", empty)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    app = build_app()
    with app.app_context():
        db.engine.dispose()
    serve_app(app, host="127.0.0.1", port=args.port, workers=args.workers,
              threads=args.threads, job_workers=get_settings(app).job_workers)


if __name__ == "__main__":
    main()
