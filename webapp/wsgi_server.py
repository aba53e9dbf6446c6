"""Run the app under gunicorn from ``tangent serve`` (the production WSGI server)."""

from __future__ import annotations

import errno
import gc

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import TConn, ThreadWorker

# What `tangent serve` runs its workers with; `gunicorn -k webapp.wsgi_server.GracefulThreadWorker`
# does the same when gunicorn is started directly (deploy/README.md).
WORKER_CLASS = "webapp.wsgi_server.GracefulThreadWorker"
# Seconds a worker thread waits for a client's bytes (a request that is slow to arrive,
# or a reader that stops reading) before it gives up on the connection.
SOCKET_TIMEOUT = 30


class _Connection(TConn):
    def init(self) -> None:
        super().init()  # makes the socket blocking, without a time limit
        self.sock.settimeout(SOCKET_TIMEOUT)


class GracefulThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, except that a connection goes to the thread pool as soon
    as it is accepted instead of first waiting in the worker's poller for its request.

    On a graceful stop (the rolling restart of SIGHUP, or SIGTERM) gthread closes the
    connections still waiting in its poller, and their clients, whose requests were
    already on the way, get a connection reset. Here every accepted connection is in
    the pool, which the worker drains (up to ``graceful_timeout``) before it exits; the
    listening socket stays open in the master and the other workers, so connections
    not yet accepted are taken by them. A thread waits at most ``SOCKET_TIMEOUT`` for a
    request's bytes (behind nginx, which sends a request whole, it does not wait).
    """

    def accept(self, server, listener) -> None:
        try:
            sock, client = listener.accept()
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                return
            raise
        self.nr_conns += 1
        self.enqueue_req(_Connection(self.cfg, sock, client, server))


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
        "worker_class": WORKER_CLASS,
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
