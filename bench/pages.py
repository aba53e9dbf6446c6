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
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import learning  # noqa: E402  (the dataset, the client and the log-in of bench/learning.py)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/15"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def worker_pids(master: int) -> list[int]:
    """gunicorn's workers: the children of the master process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime, all threads
    return total / CLK_TCK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def run_wrk(port: int, path: str, cookie: str | None, seconds: float, connections: int) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency",
               f"http://127.0.0.1:{port}{path}"]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise SystemExit(f"{path}: errors under load\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    if len(latency) != 2:
        raise SystemExit(f"{path}: no latency distribution in wrk's output\n{out}")
    return {"requests": requests, "p50": _ms(latency["50"]), "p99": _ms(latency["99"])}


def probe(port: int, path: str, cookie: str | None) -> int:
    """One request: must be 200; returns its statement count."""
    client = learning.Client(port)
    if cookie:
        client.cookies.update(dict(part.split("=", 1) for part in cookie.split("; ")))
    client.conn.request("GET", path, headers={"Cookie": cookie or ""})
    response = client.conn.getresponse()
    response.read()
    client.close()
    if response.status != 200:
        raise SystemExit(f"{path}: HTTP {response.status}")
    return int(response.getheader("X-Statements", "-1"))


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
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    size = ((40, 1_000, 50_000) if args.quick else (200, 20_000, 1_000_000))
    args.courses, args.learners, args.progress = size
    args.modules, args.lessons, args.sections = 3, 4, 4
    if args.workers > 1 and not args.postgres:
        raise SystemExit("--workers > 1 needs Redis for shared rate limits: add --postgres")

    from sqlalchemy import create_engine, event, text

    instance = Path(tempfile.mkdtemp(prefix="tangent-bench-"))
    env = learning.server_env(instance)
    env["TANGENT_JOB_WORKERS"] = "1"
    database = None
    if args.postgres:
        database = f"tangent_bench_{os.getpid()}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}"'))
            conn.execute(text(f'CREATE DATABASE "{database}"'))
        env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{database}"
        env["REDIS_URL"] = REDIS
    proc = None
    try:
        subprocess.run([learning.tangent(), "db", "upgrade"], env=env, check=True,
                       cwd=learning.ROOT, stdout=subprocess.DEVNULL)
        engine = create_engine(env.get("DATABASE_URL") or f"sqlite:///{instance / 'tangent.db'}")
        if not args.postgres:
            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:
                cursor = dbapi_conn.cursor()
                for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=OFF"):
                    cursor.execute(f"PRAGMA {pragma}")
                cursor.close()
        started = time.monotonic()
        loaded = learning.load(engine, args, random.Random(args.seed))
        if args.postgres:
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        engine.dispose()
        print(f"loaded in {time.monotonic() - started:.1f} s: "
              + ", ".join(f"{k} {v:,}" for k, v in loaded["counts"].items()))

        port = learning.free_port()
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "probe_server.py"), "--port", str(port),
             "--workers", str(args.workers), "--threads", str(args.threads)],
            env=env, cwd=learning.ROOT, stdout=subprocess.DEVNULL,
        )
        learning.wait_healthy(port, proc)
        email, lesson_path = loaded["sample"][0]
        cookies = learning.login(port, email)
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
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
              f"{'PostgreSQL + Redis' if args.postgres else 'SQLite'}; "
              f"wrk: 1 thread, {args.connections} connections")
        print(f"lesson page: {lesson_path}")

        totals = {name: {"requests": 0, "seconds": 0.0, "cpu": 0.0, "p50": [], "p99": []}
                  for name in targets}
        per_round = args.seconds / max(1, args.rounds)
        for _ in range(max(1, args.rounds)):
            for name, (path, c) in targets.items():
                cpu_before = cpu_seconds(workers)
                began = time.monotonic()
                result = run_wrk(port, path, c, per_round, args.connections)
                total = totals[name]
                total["seconds"] += time.monotonic() - began
                total["cpu"] += cpu_seconds(workers) - cpu_before
                total["requests"] += result["requests"]
                total["p50"].append(result["p50"])
                total["p99"].append(result["p99"])
        rps = {name: t["requests"] / t["seconds"] for name, t in totals.items()}
        print(f"\n{args.seconds:g} s per target in {args.rounds} interleaved rounds")
        print(f"{'target':<17}{'req/s':>8}{'/healthz':>10}{'/static':>9}{'p50 ms':>8}"
              f"{'p99 ms':>8}{'SQL':>5}{'CPU ms/req':>12}")
        for name, t in totals.items():
            print(f"{name:<17}{rps[name]:>8.0f}{rps[name] / rps['healthz']:>10.2f}"
                  f"{rps[name] / rps['static']:>9.2f}{sorted(t['p50'])[len(t['p50']) // 2]:>8.1f}"
                  f"{max(t['p99']):>8.1f}{statements[name]:>5}"
                  f"{1000 * t['cpu'] / max(1, t['requests']):>12.2f}")
        print("peak RSS per worker: "
              + ", ".join(f"{peak_rss_mb(pid):.0f} MB" for pid in workers))
    finally:
        if proc is not None:
            learning.stop(proc)
        if database:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
