"""A course's insight pages with 20,000 learners and ~1,000,000 progress rows, against /healthz.

    python bench/insight.py [--learners 20000] [--postgres] [--seconds 24 --rounds 3]

1. Migrates a fresh SQLite database (or, with ``--postgres``, a fresh PostgreSQL database
   with Redis), loads a small world with ``bench/learning.py`` (course 1: 2 modules x 5
   lessons x 6 sections, owned by owner@example.org) and bulk-inserts ``--learners``
   learners enrolled in course 1 over the past 12 weeks, each with 40-60 completed
   sections in course order (about 50 per learner: 1,000,000 rows at full size) and the
   matching lesson progress.
2. Starts ``bench/probe_server.py`` (``tangent serve``'s gunicorn setup plus a statement
   count header), signs the course's owner in.
3. Requests each insight page once (a page that answers 404 is not merged yet: skipped
   with a note), then measures /healthz and the pages with wrk, interleaved.
4. Prints requests/s, the ratio to /healthz (goal >= 0.25 on PostgreSQL), p50/p99, SQL
   statements per request and CPU time per request; stops the server and cleans up.

Only 127.0.0.1 is contacted. Absolute numbers depend on the machine; ratios are the point.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (database, server, wrk runner, worker CPU time)
import learning  # noqa: E402  (dataset loader, HTTP client, log-in, server helpers)

GOAL = 0.25
CHUNK = 20_000
PAGES = {"roster": "learners", "gradebook": "gradebook", "funnel": "funnel",
         "difficulty": "difficulty", "activity": "activity"}


def load_learners(engine, count: int, rng: random.Random) -> int:
    """``count`` learners enrolled in course 1 with their progress; the section rows made."""
    from sqlalchemy import func, insert, select

    from webapp.models import Enrollment, Lesson, LessonProgress, Section, SectionProgress, User

    now = datetime.now(UTC)
    with engine.begin() as conn:
        outline = conn.execute(select(Lesson.id, Section.id).join(Section,
                               Section.lesson_id == Lesson.id).where(Lesson.course_id == 1)
                               .order_by(Lesson.position, Section.position)).all()
        per_lesson: dict[int, int] = {}
        for lesson_id, _ in outline:
            per_lesson[lesson_id] = per_lesson.get(lesson_id, 0) + 1
        first = (conn.scalar(select(func.max(User.id))) or 0) + 1
        made = 0
        for start in range(0, count, 2_000):
            ids = range(first + start, first + min(count, start + 2_000))
            users, enrollments, sections, lessons = [], [], [], []
            for uid in ids:
                users.append({"id": uid, "email": f"insight{uid}@example.org",
                              "display_name": f"Learner {uid}", "role": "learner",
                              "password_hash": "!"})
                enrolled = now - timedelta(minutes=rng.randrange(12 * 7 * 24 * 60))
                reach = min(len(outline), rng.randint(40, 60))
                at = enrolled
                done: dict[int, int] = {}
                for lesson_id, section_id in outline[:reach]:
                    at = min(now, at + timedelta(minutes=rng.randrange(1, 90)))
                    sections.append({"user_id": uid, "course_id": 1, "lesson_id": lesson_id,
                                     "section_id": section_id, "status": "completed",
                                     "completed_at": at, "updated_at": at})
                    done[lesson_id] = done.get(lesson_id, 0) + 1
                for lesson_id, n in done.items():
                    whole = n == per_lesson[lesson_id]
                    lessons.append({"user_id": uid, "course_id": 1, "lesson_id": lesson_id,
                                    "status": "completed" if whole else "in_progress",
                                    "completed_at": at if whole else None, "updated_at": at})
                stop = outline[min(reach, len(outline) - 1)]
                enrollments.append({"user_id": uid, "course_id": 1, "created_at": enrolled,
                                    "last_activity_at": at, "last_lesson_id": stop[0],
                                    "last_section_id": stop[1],
                                    "completed_at": at if reach == len(outline) else None})
            conn.execute(insert(User.__table__), users)
            conn.execute(insert(Enrollment.__table__), enrollments)
            for table, rows in ((SectionProgress.__table__, sections),
                                (LessonProgress.__table__, lessons)):
                for i in range(0, len(rows), CHUNK):
                    conn.execute(insert(table), rows[i:i + CHUNK])
            made += len(sections)
    return made


def status(port: int, path: str, cookie: str) -> int:
    client = learning.Client(port)
    client.conn.request("GET", path, headers={"Cookie": cookie})
    response = client.conn.getresponse()
    response.read()
    client.close()
    return response.status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=20_000)
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
    world = argparse.Namespace(courses=2, learners=50, progress=200, modules=2, lessons=5,
                               sections=6)

    from sqlalchemy import text

    bench_db = common.BenchDatabase(args.postgres, "tangent-bench-insight-")
    env = bench_db.env
    proc = None
    try:
        bench_db.migrate()
        engine = bench_db.engine()
        started = time.monotonic()
        rng = random.Random(1)
        learning.load(engine, world, rng)
        rows = load_learners(engine, args.learners, rng)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        engine.dispose()
        print(f"loaded {args.learners:,} learners and {rows:,} section progress rows "
              f"in {time.monotonic() - started:.1f} s")

        proc, port = common.start_server(env, args.workers, args.threads)
        cookies = learning.login(port, "owner@example.org")
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        targets = {"healthz": ("/healthz", None)}
        for name, page in PAGES.items():
            path = f"/edit/courses/1/insight/{page}"
            began = time.monotonic()
            code = status(port, path, cookie)
            if code == 404:
                print(f"{name}: 404, not merged yet: skipped")
                continue
            if code != 200:
                raise SystemExit(f"{path}: HTTP {code}")
            print(f"{name}: first request {1000 * (time.monotonic() - began):.0f} ms")
            targets[name] = (path, cookie)
        statements = {name: common.probe(port, path, c) for name, (path, c) in targets.items()}
        workers = common.worker_pids(proc.pid)
        print(f"server: gunicorn, {args.workers} worker(s) x {args.threads} threads, "
              f"{bench_db.label}; "
              f"wrk: 1 thread, {args.connections} connections")
        totals = common.measure(port, workers, targets, args.seconds, args.rounds,
                                args.connections)
        rps = {name: t["rps"] for name, t in totals.items()}
        print(f"\n{args.seconds:g} s per target in {args.rounds} interleaved rounds")
        print(f"{'target':<12}{'req/s':>8}{'/healthz':>10}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'SQL':>5}{'CPU ms/req':>12}")
        for name, t in totals.items():
            ratio = rps[name] / rps["healthz"]
            mark = "" if name == "healthz" or ratio >= GOAL else "  < goal"
            print(f"{name:<12}{rps[name]:>8.1f}{ratio:>10.3f}"
                  f"{t['p50']:>9.1f}{t['p99']:>9.1f}"
                  f"{statements[name]:>5}{t['cpu_ms']:>12.2f}{mark}")
        print(f"\ngoal: each page >= {GOAL} x /healthz on PostgreSQL")
    finally:
        if proc is not None:
            learning.stop(proc)
        bench_db.close(keep=args.keep)


if __name__ == "__main__":
    main()
