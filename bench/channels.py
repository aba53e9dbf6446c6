"""A course channel with 100,000 messages: its page and the poll, against /healthz.

    python bench/channels.py [--messages 100000] [--postgres] [--seconds 24 --rounds 3]

1. Migrates a fresh SQLite database in a temporary instance folder (or, with
   ``--postgres``, a fresh PostgreSQL database on 127.0.0.1 with Redis for rate limits),
   loads a small course world with ``bench/learning.py`` (2 courses, 50 learners) and
   bulk-inserts ``--messages`` top-level messages into the first course's channel (Core
   executemany, the body rendered once).
2. Starts ``bench/probe_server.py`` (``tangent serve``'s gunicorn setup plus a statement
   count header) like ``bench/pages.py``.
3. Signs an enrolled learner in through the real /login form, reads the poll address
   (with its signed proof) from the channel page, then measures with wrk, interleaved:
   /healthz, the channel page (the newest 30 messages), and the poll with nothing new
   (``since`` = the newest message; answers 204).
4. Prints requests/s and the ratio to /healthz (goals: poll >= 0.8, page >= 0.5), p50/p99,
   SQL statements per request and CPU time per request; stops the server and cleans up.

Only 127.0.0.1 is contacted. Absolute numbers depend on the machine; ratios are the point.
"""

from __future__ import annotations

import argparse
import html
import random
import re
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (database, server, wrk runner, worker CPU time)
import learning  # noqa: E402  (dataset loader, HTTP client, log-in, server helpers)

POLL_RE = re.compile(r'data-hx-get="(/channels/[^"]+/poll\?[^"]+)"')
GOALS = {"poll": 0.8, "page": 0.5}
CHUNK = 20_000


def load_messages(engine, count: int, author_ids: list[int]) -> tuple[str, int]:
    """``count`` top-level messages in course 1's channel; its slug and the newest id."""
    from sqlalchemy import func, insert, select

    from webapp.content.render import render_message
    from webapp.content.sanitize import POLICY_VERSION
    from webapp.models import Channel, ChannelMessage

    slug = "course-1"
    body = ("Has anyone tried the **second exercise**? I keep getting `None` back from "
            "the function, see the lesson's step 3. Thanks @Learner 2!")
    body_html = render_message(body)
    start = datetime.now(UTC) - timedelta(seconds=count)
    with engine.begin() as conn:
        conn.execute(insert(Channel.__table__), [{"slug": slug, "course_id": 1,
                                                  "created_at": start}])
        channel_id = conn.scalar(select(Channel.id).where(Channel.slug == slug))
        rows = []
        for n in range(count):
            rows.append({"channel_id": channel_id, "author_id": author_ids[n % len(author_ids)],
                         "body": body, "body_html": body_html, "html_policy": POLICY_VERSION,
                         "status": "visible", "flag_count": 0, "reply_count": n % 3,
                         "created_at": start + timedelta(seconds=n)})
            if len(rows) == CHUNK:
                conn.execute(insert(ChannelMessage.__table__), rows)
                rows = []
        if rows:
            conn.execute(insert(ChannelMessage.__table__), rows)
        newest = conn.scalar(select(func.max(ChannelMessage.id)))
        total = conn.scalar(select(func.count()).select_from(ChannelMessage))
    assert total == count, f"loaded {total} messages, wanted {count}"
    return slug, newest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL and Redis on 127.0.0.1 instead of SQLite")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--seconds", type=float, default=24,
                        help="measuring time per target, split over --rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = parser.parse_args()
    common.require_wrk()
    if args.workers > 1 and not args.postgres:
        raise SystemExit("--workers > 1 needs Redis for shared rate limits: add --postgres")
    world = argparse.Namespace(courses=2, learners=50, progress=200, modules=1, lessons=2,
                               sections=3)

    from sqlalchemy import text

    bench_db = common.BenchDatabase(args.postgres, "tangent-bench-channels-")
    env = bench_db.env
    proc = None
    try:
        bench_db.migrate()
        engine = bench_db.engine()
        started = time.monotonic()
        learning.load(engine, world, random.Random(1))
        # Learners are users 2..51; every one is enrolled in both courses (bench/learning.py).
        slug, newest = load_messages(engine, args.messages, list(range(2, 52)))
        if args.postgres:
            with engine.connect() as conn:
                conn.execute(text("ANALYZE"))
                conn.commit()
        engine.dispose()
        print(f"loaded {args.messages:,} messages into {slug} in "
              f"{time.monotonic() - started:.1f} s")

        proc, port = common.start_server(env, args.workers, args.threads)
        cookies = learning.login(port, "learner1@example.org")
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        client = learning.Client(port, cookies)
        status, page = client.request("GET", f"/channels/{slug}")
        client.close()
        match = POLL_RE.search(page)
        if status != 200 or not match:
            raise SystemExit(f"/channels/{slug}: HTTP {status}, no poll element")
        poll = html.unescape(match.group(1))
        if f"since={newest}&" not in poll:
            raise SystemExit(f"the poll does not start after the newest message: {poll}")
        targets = {"healthz": ("/healthz", None), "page": (f"/channels/{slug}", cookie),
                   "poll": (poll, cookie, None, 204)}
        statements = {}
        for name, (path, c, *_) in targets.items():
            for _ in range(3):
                statements[name] = probe_any(port, path, c)
        workers = common.worker_pids(proc.pid)
        print(f"server: gunicorn, {args.workers} worker(s) x {args.threads} threads, "
              f"{bench_db.label}; "
              f"wrk: 1 thread, {args.connections} connections")

        totals = common.measure(port, workers, targets, args.seconds, args.rounds,
                                args.connections)
        rps = {name: t["rps"] for name, t in totals.items()}
        print(f"\n{args.seconds:g} s per target in {args.rounds} interleaved rounds, "
              f"{args.messages:,} messages in the channel")
        print(f"{'target':<9}{'req/s':>8}{'/healthz':>10}{'goal':>6}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'SQL':>5}{'CPU ms/req':>12}")
        for name, t in totals.items():
            ratio = rps[name] / rps["healthz"]
            goal = GOALS.get(name)
            mark = "" if goal is None else (f"{goal:.1f}" + ("" if ratio >= goal else "!"))
            print(f"{name:<9}{rps[name]:>8.0f}{ratio:>10.2f}{mark:>6}"
                  f"{t['p50']:>8.1f}{t['p99']:>8.1f}"
                  f"{statements[name]:>5}{t['cpu_ms']:>12.2f}")
    finally:
        if proc is not None:
            learning.stop(proc)
        bench_db.close(keep=args.keep)


def probe_any(port: int, path: str, cookie: str | None) -> int:
    """One request that must succeed (200, or 204 for the poll); its statement count."""
    client = learning.Client(port)
    client.conn.request("GET", path, headers={"Cookie": cookie or ""})
    response = client.conn.getresponse()
    response.read()
    client.close()
    if response.status not in (200, 204):
        raise SystemExit(f"{path}: HTTP {response.status}")
    return int(response.getheader("X-Statements", "-1"))


if __name__ == "__main__":
    main()
