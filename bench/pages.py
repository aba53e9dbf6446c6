"""Content pages against /healthz and a static file, side by side, under gunicorn and wrk.

    python bench/pages.py [--quick] [--postgres] [--workers 1] [--seconds 24 --rounds 3]

1. Loads the dataset of ``bench/learning.py`` (default 200 courses, 20,000 learners,
   1,000,000 progress rows; ``--quick``: 40 courses, 1,000 learners, 50,000 rows) into a
   fresh SQLite database in a temporary instance folder, or with ``--postgres`` into a
   fresh PostgreSQL database on 127.0.0.1 with Redis on 127.0.0.1 for rate limits.
2. Starts ``bench/probe_server.py`` (``tangent serve``'s gunicorn setup, 1 worker x 8
   threads by default, plus a bench-only empty page and a statement-count header).
3. Signs learners in through the real /login form, then measures every target with
   wrk (one thread, 8 connections, keep-alive) in interleaved rounds, so the machine's
   drift hits all targets alike: requests/s, the ratio to /healthz and to a static
   file, p50/p99 latency, SQL statements per page and the worker's CPU time per
   request (statements counted on a warm page). Every response must be 200.
4. Prints the table, the peak RSS of each worker, stops the server and cleans up.

Only 127.0.0.1 is contacted. Absolute numbers depend on the machine; ratios are the point.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import learning  # noqa: E402  (the dataset, the client and the log-in of bench/learning.py)

# The helpers other scripts imported from here now live in bench/common.py.
from common import (  # noqa: E402, F401
    PG_ADMIN,
    REDIS,
    BenchDatabase,
    cookie_header,
    cpu_seconds,
    measure,
    peak_rss_mb,
    probe,
    require_wrk,
    run_wrk,
    start_server,
    worker_pids,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 courses, 1,000 learners, 50,000 progress rows")
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL and Redis on 127.0.0.1 instead of SQLite")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--seconds", type=float, default=24,
                        help="measuring time per target, split over --rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated targets to measure")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    require_wrk()
    size = ((40, 1_000, 50_000) if args.quick else (200, 20_000, 1_000_000))
    args.courses, args.learners, args.progress = size
    args.modules, args.lessons, args.sections = 3, 4, 4
    if args.workers > 1 and not args.postgres:
        raise SystemExit("--workers > 1 needs Redis for shared rate limits: add --postgres")

    from sqlalchemy import text

    bench_db = BenchDatabase(args.postgres)
    proc = None
    try:
        bench_db.migrate()
        engine = bench_db.engine()
        started = time.monotonic()
        loaded = learning.load(engine, args, random.Random(args.seed))
        if args.postgres:
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        engine.dispose()
        print(f"loaded in {time.monotonic() - started:.1f} s: "
              + ", ".join(f"{k} {v:,}" for k, v in loaded["counts"].items()))

        proc, port = start_server(bench_db.env, args.workers, args.threads)
        email, lesson_path = loaded["sample"][0]
        cookie = cookie_header(learning.login(port, email))
        course_path = lesson_path.split("/lessons/")[0]
        targets = {
            "healthz": ("/healthz", None),
            "static": ("/static/css/app.css", None),
            "empty-anon": ("/_bench/empty", None),
            "empty-signed-in": ("/_bench/empty", cookie),
            "home": ("/", cookie),
            "home-anon": ("/", None),
            "catalog": ("/courses/", cookie),
            "course": (course_path, cookie),
            "lesson": (lesson_path, cookie),
            "lesson-focus": (lesson_path + "?focus=1", cookie),
            "dashboard": ("/dashboard", cookie),
        }
        if args.only:
            wanted = {"healthz", "static", *args.only.split(",")}
            targets = {k: v for k, v in targets.items() if k in wanted}
        statements = {}
        for name, (path, c) in targets.items():  # warm every page's caches, then count
            for _ in range(3):
                statements[name] = probe(port, path, c)
        workers = worker_pids(proc.pid)
        print(f"server: gunicorn, {args.workers} worker(s) x {args.threads} threads, "
              f"{bench_db.label}; wrk: 1 thread, {args.connections} connections")
        print(f"lesson page: {lesson_path}")

        result = measure(port, workers, targets, args.seconds, args.rounds, args.connections)
        print(f"\n{args.seconds:g} s per target in {args.rounds} interleaved rounds")
        print(f"{'target':<17}{'req/s':>8}{'/healthz':>10}{'/static':>9}{'p50 ms':>8}"
              f"{'p99 ms':>8}{'SQL':>5}{'CPU ms/req':>12}")
        for name, r in result.items():
            print(f"{name:<17}{r['rps']:>8.0f}{r['rps'] / result['healthz']['rps']:>10.2f}"
                  f"{r['rps'] / result['static']['rps']:>9.2f}{r['p50']:>8.1f}"
                  f"{r['p99']:>8.1f}{statements[name]:>5}{r['cpu_ms']:>12.2f}")
        print("peak RSS per worker: "
              + ", ".join(f"{peak_rss_mb(pid):.0f} MB" for pid in workers))
    finally:
        if proc is not None:
            learning.stop(proc)
        bench_db.close(keep=args.keep)


if __name__ == "__main__":
    main()
