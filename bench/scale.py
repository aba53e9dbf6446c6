"""Issue 16's benchmarks at scale in one command: every main page on a large dataset,
deep keyset pages against first pages, statements at 1x and 10x, memory, audio Range.

    python bench/scale.py [--postgres | --both] [--scale 1.0] [--seconds N --rounds R]

1. Loads, into a fresh SQLite database (``--postgres``: a fresh PostgreSQL database on
   127.0.0.1 with Redis db 15; ``--both``: SQLite, then PostgreSQL) with bulk Core
   inserts, at ``--scale 1``: 100,000 learners with 1,000,000 progress rows over 200
   courses (``learning.py``), 10,000 more learners in course 1 with ~46 completed sections
   each (``insight.py``: its roster and insight pages), 100,000 messages in course 1's
   channel (``channels.py``), 50,000 flagged messages in course 2's queue
   (``moderation_queue.py``), 1,000,000 audit rows (``audit_log.py``), 10,000 questions in
   course 1, 200 notifications for the signed-in learner and one narration file.
2. Starts ``bench/probe_server.py`` (``tangent serve``'s gunicorn: 1 worker x 8 threads),
   signs in a learner enrolled in course 1 and the owner of every course (made admin).
3. Measures with wrk (1 thread, 8 connections), interleaved in rounds: /healthz, a static
   file, every main page, the deepest page of each keyset list next to its first page,
   /readyz if it answers 200, and a narration file read with ``Range: bytes=N-`` next to
   a static file of the same size read with the same header.
4. Counts statements per page on two small datasets (1x and 10x) and prints both.
5. Prints one table per database and a summary; exits non-zero if any page answers
   anything but its expected status (200; 206 for the Range reads).

Only 127.0.0.1 is contacted. Absolute numbers depend on the machine; ratios are the point.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import audit_log  # noqa: E402  (the audit rows, generated in SQL)
import channels  # noqa: E402  (a channel's messages)
import common  # noqa: E402  (database, server, wrk, CPU time, memory)
import insight  # noqa: E402  (course 1's learners with progress)
import learning  # noqa: E402  (courses, learners, progress; client and log-in)
import moderation_queue  # noqa: E402  (flagged messages with their queue items)

# Sizes at --scale 1, and the floor under each (so every list has a second page even
# on the small datasets of the statement count).
SIZES = {
    "courses": (200, 30), "learners": (100_000, 200), "progress": (1_000_000, 2_000),
    "roster": (10_000, 120), "messages": (100_000, 100), "queue": (50_000, 150),
    "audit": (1_000_000, 200), "questions": (10_000, 60),
}
NOTIFICATIONS = 200
SMALL = (0.003, 0.03)  # the two datasets whose statement counts must be equal
AUDIO_BYTES = 1024 * 1024
LISTS = ("catalog", "audit", "channel", "roster", "moderation")
AUDIO_GOAL = 0.8


def sizes(scale: float) -> dict[str, int]:
    return {name: max(floor, round(full * scale)) for name, (full, floor) in SIZES.items()}


# --- loading -----------------------------------------------------------------------------


def load(engine, size: dict, postgres: bool, instance: Path) -> dict:
    """The whole dataset; returns what the targets need and the time of each part."""
    from sqlalchemy import func, insert, select, text, update

    from webapp.content.render import render_message
    from webapp.content.sanitize import POLICY_VERSION
    from webapp.models import Enrollment, User
    from webapp.models.community import Notification, QaQuestion
    from webapp.models.jobs import AudioAsset

    rng = random.Random(1)
    took: dict[str, float] = {}

    def timed(name, work):
        started = time.monotonic()
        result = work()
        took[name] = time.monotonic() - started
        return result

    world = argparse.Namespace(courses=size["courses"], modules=3, lessons=4, sections=4,
                               learners=size["learners"], progress=size["progress"])
    loaded = timed("courses, learners, progress", lambda: learning.load(engine, world, rng))
    email, lesson_path = loaded["sample"][0]
    learner_id = int(email.removeprefix("learner").split("@")[0]) + 1
    now = datetime.now(UTC)
    with engine.begin() as conn:
        # The owner of every course reads the audit log and the queue too.
        conn.execute(update(User).where(User.id == 1).values(role="admin"))
        # The signed-in learner is a member of course 1 (its channel, questions, audio).
        if conn.scalar(select(Enrollment.id).where(Enrollment.user_id == learner_id,
                                                   Enrollment.course_id == 1)) is None:
            conn.execute(insert(Enrollment), [{"user_id": learner_id, "course_id": 1,
                                               "created_at": now, "last_activity_at": now}])
    timed("course 1's roster", lambda: insight.load_learners(engine, size["roster"], rng))
    authors = list(range(2, 52))
    slug, _ = timed("channel messages",
                    lambda: channels.load_messages(engine, size["messages"], authors))
    timed("moderation queue",
          lambda: moderation_queue.load_items(engine, size["queue"], authors, course_id=2))

    def audit():
        with engine.begin() as conn:
            audit_log.fill(conn, size["audit"], postgres, make_actors=False)
    timed("audit rows", audit)

    def community():
        body = "Why does the loop in step 2 print every row twice? I followed the lesson."
        body_html = render_message(body)
        rows = [{"course_id": 1, "author_id": authors[n % len(authors)], "body": body,
                 "body_html": body_html, "html_policy": POLICY_VERSION,
                 "title": f"Question {n} about the loop in step 2",
                 "search_text": f"question {n} about the loop in step 2 {body.lower()}",
                 "score": n % 7, "answer_count": n % 3,
                 "created_at": now - timedelta(minutes=n),
                 "last_activity_at": now - timedelta(minutes=n)}
                for n in range(size["questions"])]
        notes = [{"user_id": learner_id, "kind": "mention", "actor_id": authors[n % 50],
                  "course_id": 1, "title": f"Learner {n} mentioned you in course 1",
                  "url": f"/channels/{slug}", "created_at": now - timedelta(minutes=n),
                  "read_at": None if n < 5 else now}
                 for n in range(NOTIFICATIONS)]
        with engine.begin() as conn:
            for i in range(0, len(rows), 20_000):
                conn.execute(insert(QaQuestion.__table__), rows[i:i + 20_000])
            conn.execute(insert(Notification.__table__), notes)
    timed("questions, notifications", community)

    # One narration of course 1's first lesson, in the private store.
    data = random.Random(2).randbytes(AUDIO_BYTES)
    sha = hashlib.sha256(data).hexdigest()
    store = instance / "audio" / sha[:2]
    store.mkdir(mode=0o700, parents=True)
    (store / f"{sha}.mp3").write_bytes(data)
    with engine.begin() as conn:
        asset_id = conn.execute(insert(AudioAsset).values(
            lesson_id=1, lesson_version=1, voice="bench", provider="bench",
            mime_type="audio/mpeg", storage_name=f"{sha[:2]}/{sha}.mp3", sha256=sha,
            size_bytes=len(data), duration_ms=60_000, section_offsets={}, cost=0,
        ).returning(AudioAsset.id)).scalar()

    def finish():
        with engine.connect() as conn:
            if postgres:  # rows inserted with explicit ids: move the sequences past them
                for table in ("user", "channel_message", "enrollment"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "  # noqa: S608
                        f"(SELECT max(id) FROM \"{table}\"))")
            conn.execute(text("ANALYZE"))
            conn.commit()
    timed("ANALYZE", finish)
    with engine.connect() as conn:
        counts = {name: conn.scalar(select(func.count()).select_from(text(f'"{name}"')))
                  for name in ("user", "enrollment", "section_progress", "lesson_progress",
                               "channel_message", "moderation_item", "audit_event",
                               "qa_question")}
    return {"counts": counts, "took": took, "email": email, "lesson_path": lesson_path,
            "channel": slug, "asset_id": asset_id, "audio": data}


def deep_paths(engine, channel_slug: str) -> dict[str, str]:
    """The deepest full page of the audit log, the channel, course 1's roster and the
    moderation queue: the cursor that the page before it links to (found here with one
    OFFSET query each, so the server never runs one)."""
    from sqlalchemy import func, select

    from webapp.models import Enrollment, User
    from webapp.models.audit import AuditEvent
    from webapp.models.community import Channel, ChannelMessage
    from webapp.models.moderation import ModerationItem
    from webapp.services.community.channels import PAGE_SIZE as CHANNEL_PAGE
    from webapp.services.insight import roster
    from webapp.services.moderation import listing
    from webapp.web.admin.logs_views import PAGE_SIZE as AUDIT_PAGE

    with engine.connect() as conn:
        audit_before = conn.scalar(select(AuditEvent.id).order_by(AuditEvent.id)
                                   .offset(AUDIT_PAGE).limit(1))
        channel_id = conn.scalar(select(Channel.id).where(Channel.slug == channel_slug))
        message_before = conn.scalar(
            select(ChannelMessage.id).where(ChannelMessage.channel_id == channel_id,
                                            ChannelMessage.parent_id.is_(None))
            .order_by(ChannelMessage.id).offset(CHANNEL_PAGE).limit(1))
        name = func.lower(User.display_name)
        value, enrollment_id = conn.execute(
            select(name, Enrollment.id).join(User, User.id == Enrollment.user_id)
            .where(Enrollment.course_id == 1).order_by(name.desc(), Enrollment.id.desc())
            .offset(roster.PAGE_SIZE).limit(1)).one()
        flagged, item_id = conn.execute(
            select(ModerationItem.last_flagged_at, ModerationItem.id)
            .where(ModerationItem.status == "open")
            .order_by(ModerationItem.last_flagged_at, ModerationItem.id)
            .offset(listing.PAGE_SIZE).limit(1)).one()
    filters = listing.Filters(order="newest")
    cursor = listing._encode("newest", SimpleNamespace(last_flagged_at=flagged, id=item_id))
    return {
        "audit": f"/admin/audit?before={audit_before}",
        "channel": f"/channels/{channel_slug}?before={message_before}",
        "roster": "/edit/courses/1/insight/learners?"
                  + urlencode({"after": roster._encode_cursor(value, enrollment_id)}),
        "moderation": "/moderation?" + urlencode({**filters.query(), "after": cursor}),
    }


def targets_for(port: int, loaded: dict, deep: dict, static_audio: str) -> tuple[dict, list]:
    """Every measured target: name -> (path, cookie, headers, expected status)."""
    learner = common.cookie_header(learning.login(port, loaded["email"]))
    staff_cookies = learning.login(port, "owner@example.org")
    staff = common.cookie_header(staff_cookies)
    catalog_deep, catalog_pages = learning.last_catalog_page(port, staff_cookies)
    lesson = loaded["lesson_path"]
    course = lesson.split("/lessons/")[0]
    seek = {"Range": f"bytes={len(loaded['audio']) // 2}-"}
    targets = {
        "healthz": ("/healthz", None, None, 200),
        "static": ("/static/css/app.css", None, None, 200),
        "home": ("/", learner, None, 200),
        "catalog": ("/courses/", learner, None, 200),
        "catalog deep": (catalog_deep, learner, None, 200),
        "course": (course, learner, None, 200),
        "lesson": (lesson, learner, None, 200),
        "lesson focus": (lesson + "?focus=1", learner, None, 200),
        "dashboard": ("/dashboard", learner, None, 200),
        "channel": (f"/channels/{loaded['channel']}", learner, None, 200),
        "channel deep": (deep["channel"], learner, None, 200),
        "questions": ("/courses/" + _course1_slug(loaded) + "/questions", learner, None, 200),
        "notifications": ("/notifications", learner, None, 200),
        "audit": ("/admin/audit", staff, None, 200),
        "audit deep": (deep["audit"], staff, None, 200),
        "moderation": ("/moderation", staff, None, 200),
        "moderation deep": (deep["moderation"], staff, None, 200),
        "roster": ("/edit/courses/1/insight/learners", staff, None, 200),
        "roster deep": (deep["roster"], staff, None, 200),
        "insight funnel": ("/edit/courses/1/insight/funnel", staff, None, 200),
        "gradebook": ("/edit/courses/1/insight/gradebook", staff, None, 200),
        "audio Range": (f"/audio/{loaded['asset_id']}", learner, seek, 206),
        "static Range": (static_audio, None, seek, 206),
    }
    notes = [f"catalog: {catalog_pages} pages"]
    status, _, _ = common.request(port, "/readyz", None)
    if status == 200:
        targets["readyz"] = ("/readyz", None, None, 200)
    else:
        notes.append(f"/readyz: HTTP {status}, not measured")
    return targets, notes


def _course1_slug(loaded: dict) -> str:
    return loaded["course1"]


def statement_counts(port: int, targets: dict) -> dict[str, int]:
    """Each page three times (warm caches, kept figures), the last request's count."""
    counts = {}
    for name, (path, cookie, headers, expect) in targets.items():
        for _ in range(3):
            counts[name] = common.probe(port, path, cookie, headers, (expect,))
    return counts


# --- one database --------------------------------------------------------------------------


class Run:
    """Load ``size`` into a fresh database, start the server; ``close()`` undoes both."""

    def __init__(self, postgres: bool, size: dict, label: str) -> None:
        self.db = common.BenchDatabase(postgres, "tangent-bench-scale-")
        self.proc = None
        self.static_audio = learning.ROOT / "static" / f"bench-scale-{os.getpid()}.mp3"
        self.size, self.label = size, label

    def start(self, quiet: bool = False) -> None:
        from sqlalchemy import select

        from webapp.models import Course

        self.db.migrate()
        engine = self.db.engine()
        started = time.monotonic()
        self.loaded = load(engine, self.size, self.db.postgres, self.db.instance)
        with engine.connect() as conn:
            self.loaded["course1"] = conn.scalar(select(Course.slug).where(Course.id == 1))
        self.deep = deep_paths(engine, self.loaded["channel"])
        engine.dispose()
        self.load_seconds = time.monotonic() - started
        self.static_audio.write_bytes(self.loaded["audio"])
        if not quiet:
            print(f"[{self.db.label}] loaded in {self.load_seconds:.0f} s ("
                  + ", ".join(f"{k} {v:.0f} s" for k, v in self.loaded["took"].items()) + ")")
            print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in
                                         self.loaded["counts"].items()))
        self.proc, self.port = common.start_server(self.db.env)
        self.targets, self.notes = targets_for(self.port, self.loaded, self.deep,
                                               "/static/" + self.static_audio.name)

    def close(self) -> None:
        if self.proc is not None:
            learning.stop(self.proc)
        self.static_audio.unlink(missing_ok=True)
        self.db.close()


def statements_at_two_sizes(postgres: bool) -> dict[str, tuple[int, int]]:
    found = []
    for scale in SMALL:
        run = Run(postgres, sizes(scale), f"{scale}")
        try:
            run.start(quiet=True)
            found.append(statement_counts(run.port, run.targets))
        finally:
            run.close()
    return {name: (found[0][name], found[1].get(name, -1)) for name in found[0]}


def bench_database(postgres: bool, args) -> dict:
    size = sizes(args.scale)
    run = Run(postgres, size, "main")
    try:
        run.start()
        for note in run.notes:
            print(f"  {note}")
        cold = {}
        for name in ("insight funnel", "gradebook", "roster", "audit", "moderation"):
            path, cookie, _, _ = run.targets[name]
            began = time.monotonic()
            common.probe(run.port, path, cookie)
            cold[name] = 1000 * (time.monotonic() - began)
        print("  first request (the funnel works out its kept figures): "
              + ", ".join(f"{k} {v:.0f} ms" for k, v in cold.items()))
        statement_counts(run.port, run.targets)  # warm: kept figures, caches
        workers = common.worker_pids(run.proc.pid)
        print(f"  measuring {len(run.targets)} targets, {args.seconds:g} s each in "
              f"{args.rounds} interleaved rounds (gunicorn 1 worker x 8 threads; wrk 1 "
              f"thread, {args.connections} connections)", flush=True)
        result = common.measure(run.port, workers, run.targets, args.seconds, args.rounds,
                                args.connections)
        rss = [common.peak_rss_mb(pid) for pid in workers]
        load_seconds = run.load_seconds
        counts = run.loaded["counts"]
    finally:
        run.close()
    statements = statements_at_two_sizes(postgres) if not args.no_statements else {}
    return {"label": "PostgreSQL" if postgres else "SQLite", "result": result, "rss": rss,
            "statements": statements, "load": load_seconds, "counts": counts}


# --- printing ------------------------------------------------------------------------------


def print_table(report: dict) -> list[str]:
    """The table of one database; returns the problems found."""
    result, statements = report["result"], report["statements"]
    healthz, static = result["healthz"]["rps"], result["static"]["rps"]
    small = ", ".join(f"{n:g}" for n in SMALL)
    print(f"\n== {report['label']}: loaded in {report['load']:.0f} s ==")
    print(f"{'target':<16}{'req/s':>8}{'/healthz':>9}{'/static':>8}{'p50 ms':>8}"
          f"{'p95 ms':>8}{'p99 ms':>8}{'CPU ms':>8}{'SQL 1x':>7}{'SQL 10x':>8}")
    problems = []
    for name, r in result.items():
        one, ten = statements.get(name, (-1, -1))
        mark = "" if one == ten else "  <- differs"
        if one != ten:
            problems.append(f"{report['label']}: {name} runs {one} statements at 1x, "
                            f"{ten} at 10x")
        print(f"{name:<16}{r['rps']:>8.0f}{r['rps'] / healthz:>9.2f}{r['rps'] / static:>8.2f}"
              f"{r['p50']:>8.1f}{r['p95']:>8.1f}{r['p99']:>8.1f}{r['cpu_ms']:>8.2f}"
              f"{one:>7}{ten:>8}{mark}")
    print(f"(SQL: statements of a warm request on the small datasets --scale {small};"
          f" -1: not counted)")
    print("deepest page / first page, time per request (goal about 1):")
    for name in LISTS:
        first, deep = result[name]["rps"], result[f"{name} deep"]["rps"]
        print(f"  {name:<12}{first / deep:>6.2f}")
    audio, plain = result["audio Range"], result["static Range"]
    ratio = audio["rps"] / plain["rps"]
    print(f"audio Range / static Range of the same size: {ratio:.2f} (goal >= {AUDIO_GOAL}; "
          f"{audio['bytes'] / 1024:.0f} KiB and {plain['bytes'] / 1024:.0f} KiB a response)")
    print("peak RSS per worker: " + ", ".join(f"{mb:.0f} MB" for mb in report["rss"]))
    return problems


def print_summary(reports: list[dict]) -> None:
    print("\n== summary: req/s relative to /healthz ==")
    print(f"{'target':<16}" + "".join(f"{r['label']:>12}" for r in reports))
    for name in reports[0]["result"]:
        print(f"{name:<16}" + "".join(
            f"{r['result'][name]['rps'] / r['result']['healthz']['rps']:>12.2f}"
            if name in r["result"] else f"{'-':>12}" for r in reports))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true",
                        help="PostgreSQL and Redis on 127.0.0.1 instead of SQLite")
    parser.add_argument("--both", action="store_true", help="SQLite, then PostgreSQL")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="dataset size; 1: 100,000 learners, 1,000,000 progress and "
                             "audit rows (0.01: a smoke run of about 2 minutes)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="measuring time per target, split over --rounds "
                             "(default 6, or 2 below --scale 0.1)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds (default 3, or 1 below --scale 0.1)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--no-statements", action="store_true",
                        help="skip the statement count on the 1x and 10x small datasets")
    args = parser.parse_args()
    if args.scale <= 0 or args.scale > 100:
        raise SystemExit("--scale must be above 0 and at most 100")
    smoke = args.scale < 0.1
    args.seconds = args.seconds or (2 if smoke else 6)
    args.rounds = args.rounds or (1 if smoke else 3)
    if args.seconds <= 0 or args.rounds < 1:
        raise SystemExit("--seconds must be above 0 and --rounds at least 1")
    common.require_wrk()
    databases = [False, True] if args.both else [args.postgres]
    print("sizes: " + ", ".join(f"{k} {v:,}" for k, v in sizes(args.scale).items()))
    started = time.monotonic()
    reports, problems = [], []
    for postgres in databases:
        reports.append(bench_database(postgres, args))
        problems += print_table(reports[-1])
    if len(reports) > 1:
        print_summary(reports)
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if problems:
        print("problems:\n  " + "\n  ".join(problems))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
