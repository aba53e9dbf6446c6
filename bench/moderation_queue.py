"""The moderation queue with 100,000 flagged items: its first and its deepest page,
against /healthz, side by side.

    python bench/moderation_queue.py [--items 100000] [--postgres] [--seconds 24 --rounds 3]

1. Migrates a fresh SQLite database in a temporary instance folder (or, with
   ``--postgres``, a fresh PostgreSQL database on 127.0.0.1 with Redis for rate limits),
   loads a small course world with ``bench/learning.py`` (2 courses, 50 learners; its
   owner, user 1, is made a moderator) and bulk-inserts ``--items`` channel messages in
   course 1's channel, each flagged: one queue item per message (``moderation_item``,
   open, hidden for a third of them), with reasons and flag counts spread out.
2. Starts ``bench/probe_server.py`` (``tangent serve``'s gunicorn setup plus a statement
   count header) like ``bench/pages.py``.
3. Signs the moderator in through the real /login form, and finds the cursor of the last
   page of each order by asking the service what it would put in the "next" link one
   page before the end. Then measures with wrk, interleaved: /healthz, the queue's first
   page and its deepest page, newest first; and the deepest page most-flagged first and
   filtered by a reason.
4. Prints requests/s, the ratio to /healthz, the ratio of each deep page to the first
   (goal: within 1.2x), p50/p99, SQL statements and CPU time per request.

Only 127.0.0.1 is contacted. Absolute numbers depend on the machine; ratios are the point.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (database, server, wrk runner, worker CPU time)
import learning  # noqa: E402  (dataset loader, HTTP client, log-in, server helpers)

CHUNK = 20_000
REASONS = ("spam", "abuse", "off_topic", "wrong", "other")


def load_items(engine, count: int, author_ids: list[int], course_id: int = 1) -> None:
    """``count`` messages in course ``course_id``'s channel, each with its open queue item."""
    from sqlalchemy import func, insert, select

    from webapp.content.render import render_message
    from webapp.content.sanitize import POLICY_VERSION
    from webapp.models import Channel, ChannelMessage, ModerationItem

    body = "Buy cheap watches at my shop, best prices, write to me for the address!"
    body_html = render_message(body)
    start = datetime.now(UTC) - timedelta(seconds=2 * count)
    with engine.begin() as conn:
        slug = f"course-{course_id}"
        channel_id = conn.execute(select(Channel.id).where(Channel.slug == slug)).scalar()
        if channel_id is None:
            channel_id = conn.execute(insert(Channel).values(slug=slug, course_id=course_id)
                                      .returning(Channel.id)).scalar()
        first = (conn.execute(select(func.max(ChannelMessage.id))).scalar() or 0) + 1
        for offset in range(0, count, CHUNK):
            n = min(CHUNK, count - offset)
            messages, items = [], []
            for i in range(offset, offset + n):
                at = start + timedelta(seconds=2 * i)
                hidden = i % 3 == 0
                messages.append({
                    "id": first + i, "channel_id": channel_id,
                    "author_id": author_ids[i % len(author_ids)], "body": body,
                    "body_html": body_html, "html_policy": POLICY_VERSION,
                    "status": "hidden" if hidden else "visible", "flag_count": 1 + i % 5,
                    "created_at": at, "reply_count": 0})
                reasons = {REASONS[i % 5], REASONS[(i * 7) % 5]}
                items.append({
                    "target_kind": "message", "target_id": first + i, "course_id": course_id,
                    "author_id": author_ids[i % len(author_ids)], "source": "flags",
                    "status": "open", "flag_count": 1 + i % 5,
                    "reasons": "," + ",".join(sorted(reasons)) + ",",
                    "ai_generated": False, "hidden": hidden, "created_at": at,
                    "waiting_since": at, "last_flagged_at": at + timedelta(seconds=1),
                    "outcome": ""})
            conn.execute(insert(ChannelMessage.__table__), messages)
            conn.execute(insert(ModerationItem.__table__), items)


def deep_cursors(env: dict, page_size: int) -> dict[str, str]:
    """The query strings of the last page of each measured listing: the cursor that the
    page before it links to (the row just before the last ``page_size``, found with one
    OFFSET query here, once, so that the server never runs one)."""
    os.environ.update({k: v for k, v in env.items() if k in (
        "TANGENT_INSTANCE_PATH", "DATABASE_URL", "REDIS_URL", "TANGENT_ENV")})
    from urllib.parse import urlencode

    from sqlalchemy import func, select

    from webapp import create_app
    from webapp.extensions import db
    from webapp.services.moderation import listing

    wanted = {"deep newest": listing.Filters(order="newest"),
              "deep most": listing.Filters(order="most"),
              "deep spam": listing.Filters(order="newest", reason="spam")}
    app = create_app()
    out = {}
    with app.app_context():
        for name, filters in wanted.items():
            stmt = listing._statement(filters, None, 0).limit(None)
            total = db.session.scalar(select(func.count()).select_from(
                stmt.order_by(None).subquery()))
            before_last = db.session.scalar(stmt.offset(max(0, total - page_size - 1))
                                            .limit(1))
            query = {**filters.query(), "after": listing._encode(filters.order, before_last)}
            # The cursor really is the last page: it holds page_size rows and no next link.
            page = listing.list_items(filters, after=query["after"], page_size=page_size)
            assert len(page.rows) == page_size and page.next_cursor is None, name
            out[name] = urlencode(query)
            print(f"{name}: {total:,} items, last page after row {total - page_size:,}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
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

    bench_db = common.BenchDatabase(args.postgres, "tangent-bench-moderation-")
    env = bench_db.env
    proc = None
    try:
        bench_db.migrate()
        engine = bench_db.engine()
        started = time.monotonic()
        learning.load(engine, world, random.Random(1))
        with engine.begin() as conn:
            conn.execute(text("UPDATE \"user\" SET role = 'moderator' WHERE id = 1"))
        load_items(engine, args.items, list(range(2, 52)))
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        engine.dispose()
        print(f"loaded {args.items:,} flagged messages in {time.monotonic() - started:.1f} s")
        deep = deep_cursors(env, 50)

        proc, port = common.start_server(env, args.workers, args.threads)
        cookies = learning.login(port, "owner@example.org")
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        targets = {"healthz": ("/healthz", None), "first": ("/moderation", cookie)}
        for name, query in deep.items():
            targets[name] = (f"/moderation?{query}", cookie)
        statements = {}
        for name, (path, c) in targets.items():
            statements[name] = common.probe(port, path, c)
        workers = common.worker_pids(proc.pid)
        print(f"server: gunicorn, {args.workers} worker(s) x {args.threads} threads, "
              f"{bench_db.label}; "
              f"wrk: 1 thread, {args.connections} connections")

        totals = common.measure(port, workers, targets, args.seconds, args.rounds,
                                args.connections)
        rps = {name: t["rps"] for name, t in totals.items()}
        print(f"\n{args.seconds:g} s per target in {args.rounds} interleaved rounds, "
              f"{args.items:,} open items in the queue")
        print(f"{'target':<16}{'req/s':>8}{'/healthz':>10}{'first/it':>10}{'p50 ms':>8}"
              f"{'p99 ms':>8}{'SQL':>5}{'CPU ms/req':>12}")
        for name, t in totals.items():
            ratio = rps[name] / rps["healthz"]
            versus = "" if name == "healthz" else f"{rps['first'] / rps[name]:.2f}" + (
                "!" if rps["first"] / rps[name] > 1.2 else "")
            print(f"{name:<16}{rps[name]:>8.0f}{ratio:>10.2f}{versus:>10}"
                  f"{t['p50']:>8.1f}{t['p99']:>8.1f}"
                  f"{statements[name]:>5}{t['cpu_ms']:>12.2f}")
        print("\nfirst/it: how many times slower than the first page (goal: at most 1.2)")
    finally:
        if proc is not None:
            learning.stop(proc)
        bench_db.close(keep=args.keep)


if __name__ == "__main__":
    main()
