"""Run the app under gunicorn from ``tangent serve`` (the production WSGI server)."""

from __future__ import annotations

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


def serve_app(app: Flask, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted. Access logs come from the app (with request ids)."""
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
    _Gunicorn(app, options).run()
