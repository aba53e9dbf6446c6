"""What the wrk-based bench scripts share: a fresh database, the probe server, wrk itself,
the interleaved measuring loop and the worker's CPU time and memory.

    from common import BenchDatabase, start_server, measure, ...

Every script starts what it measures on 127.0.0.1 only and stops it in ``finally``.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import learning  # noqa: E402  (the HTTP client, log-in, server environment)

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/15"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# wrk's Lua hooks: p50/p95/p99 (wrk --latency prints no p95) and a count of responses
# whose status is not the expected one (wrk itself counts 3xx as fine, and a sign-in
# redirect is a 302).
WRK_SCRIPT = """
local threads = {}
local expected = tonumber(os.getenv("BENCH_EXPECT") or "200")
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; other = 0 end
function response(status, headers, body)
  if status ~= expected then bad = bad + 1; other = status end
end
function done(summary, latency, requests)
  local n, seen = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("bad")
    if t:get("other") ~= 0 then seen = t:get("other") end
  end
  io.write(string.format("BENCH p50=%d p95=%d p99=%d bad=%d status=%d bytes=%d\\n",
    latency:percentile(50), latency:percentile(95), latency:percentile(99), n, seen,
    summary.bytes))
end
"""
_script_path: Path | None = None


def _wrk_script() -> Path:
    global _script_path
    if _script_path is None or not _script_path.exists():
        handle, name = tempfile.mkstemp(prefix="tangent-bench-", suffix=".lua")
        with os.fdopen(handle, "w") as out:
            out.write(WRK_SCRIPT)
        _script_path = Path(name)
        atexit.register(_script_path.unlink, missing_ok=True)
    return _script_path


def require_wrk() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")


# --- the worker processes ---------------------------------------------------------------


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


# --- wrk and single requests ------------------------------------------------------------


def run_wrk(port: int, path: str, cookie: str | None, seconds: float, connections: int,
            headers: dict | None = None, expect: int = 200) -> dict:
    """One wrk run (1 thread, keep-alive): requests, p50/p95/p99 in ms, bytes. Exits if any
    response was not ``expect`` or a socket failed."""
    # wrk takes whole seconds only; a slow page is measured, not cut off at wrk's 2 s.
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s",
               "--timeout", "30s", "-s", str(_wrk_script()),
               f"http://127.0.0.1:{port}{path}"]
    extra = dict(headers or {})
    if cookie:
        extra["Cookie"] = cookie
    for name, value in extra.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    done = subprocess.run(command, capture_output=True, text=True,
                          env={**os.environ, "BENCH_EXPECT": str(expect)})
    if done.returncode != 0:
        raise SystemExit(f"{path}: wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    out = done.stdout
    found = re.search(r"BENCH p50=(\d+) p95=(\d+) p99=(\d+) bad=(\d+) status=(\d+) "
                      r"bytes=(\d+)", out)
    if found is None:
        raise SystemExit(f"{path}: no summary in wrk's output\n{out}")
    p50, p95, p99, bad, status, size = (int(v) for v in found.groups())
    if bad or "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        raise SystemExit(f"{path}: {bad} responses were not {expect} (one was {status}) "
                         f"or sockets failed under load\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"requests": requests, "p50": p50 / 1000, "p95": p95 / 1000, "p99": p99 / 1000,
            "bytes": size}


def request(port: int, path: str, cookie: str | None,
            headers: dict | None = None) -> tuple[int, int, bytes]:
    """One GET: (status, statement count from X-Statements or -1, body)."""
    client = learning.Client(port)
    try:
        client.conn.request("GET", path, headers={"Cookie": cookie or "", **(headers or {})})
        response = client.conn.getresponse()
        body = response.read()
    finally:
        client.close()
    return response.status, int(response.getheader("X-Statements", "-1")), body


def probe(port: int, path: str, cookie: str | None, headers: dict | None = None,
          expect: tuple[int, ...] = (200,)) -> int:
    """One request whose status must be in ``expect``; returns its statement count."""
    status, statements, _ = request(port, path, cookie, headers)
    if status not in expect:
        raise SystemExit(f"{path}: HTTP {status}")
    return statements


# --- the database and the server --------------------------------------------------------


class BenchDatabase:
    """A fresh instance folder with a migrated SQLite database, or (``postgres``) a fresh
    PostgreSQL database on 127.0.0.1 with Redis db 15; ``close()`` drops both."""

    def __init__(self, postgres: bool, prefix: str = "tangent-bench-") -> None:
        from sqlalchemy import create_engine, text

        self.postgres = postgres
        self.instance = Path(tempfile.mkdtemp(prefix=prefix))
        self.env = learning.server_env(self.instance)
        self.env["TANGENT_JOB_WORKERS"] = "1"
        self.database = None
        if postgres:
            self.database = f"{prefix.strip('-').replace('-', '_')}_{os.getpid()}"
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}"'))
                conn.execute(text(f'CREATE DATABASE "{self.database}"'))
            admin.dispose()
            self.env["DATABASE_URL"] = PG_ADMIN.rsplit("/", 1)[0] + f"/{self.database}"
            self.env["REDIS_URL"] = REDIS
        self.url = self.env.get("DATABASE_URL") or f"sqlite:///{self.instance / 'tangent.db'}"

    @property
    def label(self) -> str:
        return "PostgreSQL + Redis" if self.postgres else "SQLite"

    def migrate(self) -> None:
        subprocess.run([learning.tangent(), "db", "upgrade"], env=self.env, check=True,
                       cwd=learning.ROOT, stdout=subprocess.DEVNULL)

    def engine(self):
        """An engine for bulk loading (SQLite: foreign keys on, WAL, no fsync)."""
        from sqlalchemy import create_engine, event

        engine = create_engine(self.url)
        if not self.postgres:
            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn, _record) -> None:
                cursor = dbapi_conn.cursor()
                for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=OFF"):
                    cursor.execute(f"PRAGMA {pragma}")
                cursor.close()
        return engine

    def close(self, keep: bool = False) -> None:
        from sqlalchemy import create_engine, text

        if self.database:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            admin.dispose()
        if not keep:
            shutil.rmtree(self.instance, ignore_errors=True)


def start_server(env: dict, workers: int = 1, threads: int = 8) -> tuple[subprocess.Popen, int]:
    """``bench/probe_server.py`` on 127.0.0.1 and a free port, healthy; (process, port)."""
    port = learning.free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "probe_server.py"), "--port", str(port),
         "--workers", str(workers), "--threads", str(threads)],
        env=env, cwd=learning.ROOT, stdout=subprocess.DEVNULL,
    )
    try:
        learning.wait_healthy(port, proc)
    except BaseException:
        learning.stop(proc)
        raise
    return proc, port


def cookie_header(cookies: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


# --- measuring --------------------------------------------------------------------------


def measure(port: int, workers: list[int], targets: dict, seconds: float, rounds: int,
            connections: int) -> dict:
    """Every target with wrk, interleaved over ``rounds`` so the machine's drift hits all
    alike. A target is ``(path, cookie)`` or ``(path, cookie, headers, expected status)``.
    Returns per target: req/s, the median p50/p95 and worst p99 of the rounds (ms), the
    worker CPU ms per request, bytes per response."""
    totals = {name: {"requests": 0, "seconds": 0.0, "cpu": 0.0, "p50": [], "p95": [],
                     "p99": [], "bytes": 0} for name in targets}
    per_round = seconds / max(1, rounds)
    for _ in range(max(1, rounds)):
        for name, target in targets.items():
            path, cookie, headers, expect = (*target, None, 200)[:4] if len(target) == 2 \
                else target
            cpu_before = cpu_seconds(workers)
            began = time.monotonic()
            result = run_wrk(port, path, cookie, per_round, connections, headers, expect)
            total = totals[name]
            total["seconds"] += time.monotonic() - began
            total["cpu"] += cpu_seconds(workers) - cpu_before
            total["requests"] += result["requests"]
            total["bytes"] += result["bytes"]
            for key in ("p50", "p95", "p99"):
                total[key].append(result[key])
    out = {}
    for name, t in totals.items():
        n = max(1, t["requests"])
        out[name] = {"rps": t["requests"] / t["seconds"], "requests": t["requests"],
                     "p50": sorted(t["p50"])[len(t["p50"]) // 2],
                     "p95": sorted(t["p95"])[len(t["p95"]) // 2], "p99": max(t["p99"]),
                     "cpu_ms": 1000 * t["cpu"] / n, "bytes": t["bytes"] / n}
    return out
