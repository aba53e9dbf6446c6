"""Run the app under gunicorn from ``tangent serve`` (the production WSGI server)."""

from __future__ import annotations

import gc

from flask import Flask
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, app: Flask, options: dict) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def serve_app(app: Flask, *, host: str, port: int, workers: int, threads: int,
              job_workers: int = 0) -> None:
    """Serve until interrupted. Access logs come from the app (with request ids).

    With ``job_workers``, each gunicorn worker process also runs that many job
    threads (the embedded setup: no separate ``tangent worker`` needed).
    """
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        "proc_name": "tangent",
        "forwarded_allow_ips": "127.0.0.1,::1",
    }
    if job_workers:
        consumers = []

        def post_worker_init(_worker) -> None:
            from webapp.jobs import start_embedded_consumer

            consumers.append(start_embedded_consumer(app, job_workers))

        def worker_exit(_server, _worker) -> None:
            for consumer in consumers:
                consumer.stop(graceful=True)

        options["post_worker_init"] = post_worker_init
        options["worker_exit"] = worker_exit
    freeze_startup_objects()
    _Gunicorn(app, options).run()


def freeze_startup_objects() -> None:
    """Move everything built at start-up (the app, its templates, SQLAlchemy's mappers …)
    out of the garbage collector's sight. Workers fork after this and inherit it, so a
    full collection no longer walks ~137,000 objects that live as long as the process,
    stalling every thread for ~90 ms every few hundred requests; the pages those objects
    sit on also stay shared between workers instead of being copied by the collector."""
    gc.collect()
    gc.freeze()
