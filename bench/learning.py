"""Learning pages on a large dataset, measured side by side against /healthz under gunicorn.

    python bench/learning.py [--courses 200 --learners 20000 --progress 1000000 --seconds 20]

1. Makes a fresh SQLite database in a temporary instance folder, migrates it with
   ``tangent db upgrade`` and bulk-loads courses, learners, enrollments and progress
   (Core executemany, one transaction per chunk).
2. Starts ``tangent serve`` (gunicorn) on 127.0.0.1 and a free port.
3. Signs a few learners in through the real /login form (CSRF included) and measures
   requests/second for /healthz, a lesson page, /dashboard, the catalog's first page and
   its last page (reached by following the "after" cursor links), in interleaved rounds.
4. Prints the figures and ratios, stops the server, removes the folder.

Only 127.0.0.1 is contacted. Absolute numbers depend on the machine; the ratios are
the point.
"""

from __future__ import annotations

import argparse
import html
import http.client
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench password for every learner"  # noqa: S105 - a throwaway local database
TAGS = ["python", "databases", "web", "security", "testing", "data", "devops", "design",
        "networking", "algorithms", "rust", "javascript", "writing", "math", "ai", "cloud"]
TOPICS = ["Query planning", "HTTP caching", "Type systems", "Unit testing", "Indexes",
          "Concurrency", "Packaging", "Observability", "Accessibility", "Cryptography",
          "Graph search", "Data modelling", "Shell scripting", "Compilers", "Statistics"]
LEVELS = ("beginner", "intermediate", "advanced")
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
AFTER_RE = re.compile(r'href="([^"]*[?&]after=[^"]+)"')
CHUNK = 50_000


def ts(value: datetime) -> str:
    """How SQLAlchemy stores a UTC timestamp in SQLite."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


# --- loading -----------------------------------------------------------------------------


def lesson_source(title: str, sections: int) -> str:
    parts = [f"{title} starts with a question worth asking: what problem does it solve, "
             "and what does it cost? This lesson walks through it step by step."]
    for n in range(2, sections + 1):
        parts.append(
            f"## Step {n}\n\nIn step {n} we look at how {title.lower()} behaves under load, "
            "which trade-offs matter in practice, and how to check them yourself.\n\n"
            "```python\nfor row in rows:\n    print(row)\n```\n\n"
            "> **Note** Measure before you optimize; the slow part is rarely where you expect."
        )
    return "\n\n".join(parts)


def load(engine, args, rng: random.Random) -> dict:
    """Bulk-load the dataset; returns what the measuring step needs."""
    from sqlalchemy import func, insert, select
    from werkzeug.security import generate_password_hash

    from webapp.content.render import RENDERER_VERSION, render_sections
    from webapp.models import (
        Bookmark,
        Course,
        CourseTag,
        Enrollment,
        Lesson,
        LessonProgress,
        Module,
        Section,
        SectionProgress,
        Tag,
        User,
    )

    now = datetime.now(UTC)
    stamp = ts(now)
    n_modules, n_lessons, n_sections = args.modules, args.lessons, args.sections
    rendered = render_sections(lesson_source("This topic", n_sections), "Introduction")
    assert len(rendered) == n_sections, "the lesson template must render to --sections steps"
    source = lesson_source("This topic", n_sections)

    def bulk(conn, model, rows) -> None:
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(model.__table__), rows[i:i + CHUNK])

    def raw(conn, table: str, columns: list[str], rows: list[tuple]) -> None:
        # Names are this script's constants; values go through parameters.
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        sql = (f'INSERT INTO "{table}" ({", ".join(columns)}) '  # noqa: S608
               f'VALUES ({", ".join(mark for _ in columns)})')
        for i in range(0, len(rows), CHUNK):
            conn.exec_driver_sql(sql, rows[i:i + CHUNK])

    with engine.begin() as conn:
        bulk(conn, Tag, [{"id": i + 1, "slug": t, "name": t.title()} for i, t in enumerate(TAGS)])
        bulk(conn, User, [{"id": 1, "email": "owner@example.org", "display_name": "Owner",
                           "role": "editor", "password_hash": generate_password_hash(PASSWORD)}])

        courses, course_tags, modules, lessons, sections = [], [], [], [], []
        course_sections: dict[int, list[tuple[int, int]]] = {}  # course → [(lesson, section)]
        lesson_id = section_id = module_id = 0
        for c in range(1, args.courses + 1):
            topic = TOPICS[c % len(TOPICS)]
            published = now - timedelta(hours=args.courses - c, minutes=rng.randrange(60))
            courses.append({
                "id": c, "slug": f"{topic.lower().replace(' ', '-')}-{c}",
                "title": f"{topic} {c}", "summary": f"A practical course on {topic.lower()}.",
                "status": "published", "level": LEVELS[c % 3],
                "estimated_minutes": n_modules * n_lessons * 5, "owner_id": 1,
                "published_at": published,
            })
            for tag_id in rng.sample(range(1, len(TAGS) + 1), 3):
                course_tags.append({"course_id": c, "tag_id": tag_id})
            position = 0
            course_sections[c] = []
            for m in range(1, n_modules + 1):
                module_id += 1
                modules.append({"id": module_id, "course_id": c, "position": m,
                                "title": f"Part {m}"})
                for n in range(1, n_lessons + 1):
                    lesson_id += 1
                    position += 1
                    lessons.append((lesson_id, c, module_id, position, f"lesson-{m}-{n}",
                                    f"Lesson {m}.{n}", source, RENDERER_VERSION, 5, 1, stamp))
                    for s, part in enumerate(rendered, start=1):
                        section_id += 1
                        sections.append((section_id, lesson_id, part.key, s, part.title,
                                         part.html))
                        course_sections[c].append((lesson_id, section_id))
        bulk(conn, Course, courses)
        bulk(conn, CourseTag, course_tags)
        bulk(conn, Module, modules)
        raw(conn, "lesson", ["id", "course_id", "module_id", "position", "slug", "title",
                             "source", "renderer_version", "estimated_minutes", "version",
                             "updated_at"], lessons)
        raw(conn, "section", ["id", "lesson_id", "key", "position", "title", "html"], sections)

    password_hash = generate_password_hash(PASSWORD)
    with engine.begin() as conn:
        raw(conn, "user", ["id", "email", "display_name", "role", "status", "password_hash",
                           "session_version", "version", "created_at", "updated_at",
                           "focus_mode"],
            [(u + 1, f"learner{u}@example.org", f"Learner {u}", "learner", "active",
              password_hash, 1, 1, stamp, stamp, False) for u in range(1, args.learners + 1)])

    # Progress: each learner enrolls in a few courses and works through them in order;
    # the per-learner budget adds up to --progress completed sections.
    per_learner = args.progress // max(1, args.learners)
    extra = args.progress - per_learner * args.learners
    course_len = n_modules * n_lessons * n_sections
    enrollments, section_rows, lesson_rows, bookmarks = [], [], [], []
    sp_id = lp_id = e_id = b_id = 0
    sample = []  # (learner id, course id, lesson id) with progress, for the measuring step
    for u in range(1, args.learners + 1):
        user_id = u + 1
        budget = per_learner + (1 if u <= extra else 0)
        n_courses = max(2, min(args.courses, -(-budget // max(1, course_len // 2)) + 1))
        picked = rng.sample(range(1, args.courses + 1), n_courses)
        shares = [budget // n_courses] * n_courses
        shares[0] += budget - sum(shares)
        for course_id, share in zip(picked, shares, strict=True):
            share = min(share, course_len)
            steps = course_sections[course_id][:share]
            when = now - timedelta(days=rng.randrange(1, 90))
            last_lesson = last_section = None
            lessons_seen: dict[int, list[int]] = {}
            for lesson, section in steps:
                sp_id += 1
                when += timedelta(minutes=3)
                at = ts(when)
                section_rows.append((sp_id, user_id, section, lesson, course_id, "completed",
                                     at, at))
                lessons_seen.setdefault(lesson, []).append(section)
                last_lesson, last_section = lesson, section
            for lesson, done in lessons_seen.items():
                lp_id += 1
                complete = len(done) == n_sections
                lesson_rows.append((lp_id, user_id, lesson, course_id,
                                    "completed" if complete else "in_progress",
                                    ts(when) if complete else None, done[-1], ts(when)))
            e_id += 1
            finished = share == course_len
            enrollments.append((e_id, user_id, course_id, ts(when - timedelta(days=1)), ts(when),
                                last_lesson, last_section, ts(when) if finished else None))
            if last_lesson is not None and rng.random() < 0.3:
                b_id += 1
                bookmarks.append((b_id, user_id, last_lesson, ts(when)))
            if last_lesson is not None and len(sample) < 50 and rng.random() < 0.01:
                sample.append((u, course_id, last_lesson))

    with engine.begin() as conn:
        raw(conn, "enrollment", ["id", "user_id", "course_id", "created_at", "last_activity_at",
                                 "last_lesson_id", "last_section_id", "completed_at"],
            enrollments)
        raw(conn, "bookmark", ["id", "user_id", "lesson_id", "created_at"], bookmarks)
    with engine.begin() as conn:
        raw(conn, "lesson_progress", ["id", "user_id", "lesson_id", "course_id", "status",
                                      "completed_at", "last_section_id", "updated_at"],
            lesson_rows)
    with engine.begin() as conn:
        raw(conn, "section_progress", ["id", "user_id", "section_id", "lesson_id", "course_id",
                                       "status", "completed_at", "updated_at"], section_rows)
    with engine.connect() as conn:
        counts = {t.__tablename__: conn.scalar(select(func.count()).select_from(t))
                  for t in (Course, Lesson, Section, User, Enrollment, SectionProgress,
                            LessonProgress, Bookmark)}
        if engine.dialect.name == "sqlite":
            fk_errors = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        else:  # PostgreSQL checked the keys on insert; move the id sequences past the rows
            fk_errors = []
            for t in (Course, Module, Lesson, Section, User, Enrollment, SectionProgress,
                      LessonProgress, Bookmark, Tag):
                name = t.__tablename__  # the script's own table names
                sql = (f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "  # noqa: S608
                       f"(SELECT max(id) FROM \"{name}\"))")
                conn.exec_driver_sql(sql)
            conn.commit()
    assert not fk_errors, f"foreign key violations after load: {fk_errors[:5]}"
    slugs = {c["id"]: c["slug"] for c in courses}
    lesson_slugs = {row[0]: row[4] for row in lessons}
    return {"counts": counts, "sample": [
        (f"learner{u}@example.org", f"/courses/{slugs[c]}/lessons/{lesson_slugs[lesson]}")
        for u, c, lesson in sample]}


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SENTRY_DSN", "TANGENT_ENV")}
    env.update({
        "TANGENT_INSTANCE_PATH": str(instance),
        "TANGENT_ENV": "development",
        # The benchmark is one client on 127.0.0.1; the default budget would answer 429.
        "TANGENT_RATE_LIMIT": "100000000 per minute",
        "LOG_LEVEL": "WARNING",
    })
    return env


def tangent() -> str:
    found = Path(sys.executable).parent / "tangent"
    return str(found) if found.exists() else "tangent"


class Client:
    """One keep-alive connection to 127.0.0.1 with a cookie jar of one session."""

    def __init__(self, port: int, cookies: dict | None = None) -> None:
        self.port = port
        self.cookies = dict(cookies or {})
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data.decode("utf-8", "replace")

    def close(self) -> None:
        self.conn.close()


def stop(proc: subprocess.Popen) -> None:
    """Stop the server and wait for it (killed if it does not stop in 30 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode}")
        try:
            client = Client(port)
            status, _ = client.request("GET", "/healthz")
            client.close()
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not become healthy in time")


def login(port: int, email: str) -> dict:
    client = Client(port)
    status, page = client.request("GET", "/login")
    match = CSRF_RE.search(page)
    assert status == 200 and match, "no login form"
    body = urlencode({"email": email, "password": PASSWORD,
                      "csrf_token": html.unescape(match.group(1))})
    status, _ = client.request("POST", "/login", body)
    assert status in (302, 303), f"login failed for {email}: {status}"
    status, page = client.request("GET", "/dashboard")
    assert status == 200, f"dashboard after login: {status}"
    client.close()
    return client.cookies


def last_catalog_page(port: int, cookies: dict) -> tuple[str, int]:
    client = Client(port, cookies)
    path, pages = "/courses/", 1
    while True:
        status, page = client.request("GET", path)
        assert status == 200, f"{path}: {status}"
        links = [html.unescape(link) for link in AFTER_RE.findall(page)]
        if not links:
            client.close()
            return path, pages
        path, pages = links[-1], pages + 1


def measure(port: int, path: str, sessions: list[dict], threads: int, seconds: float) -> tuple:
    """(completed requests, elapsed seconds) for ``threads`` clients looping on ``path``."""
    done = [0] * threads
    errors: list[str] = []
    start_gate = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        client = Client(port, sessions[i % len(sessions)] if sessions else None)
        for _ in range(3):  # warm up this connection and the page's caches
            client.request("GET", path)
        start_gate.wait()
        n = 0
        while time.monotonic() < stop_at[0]:
            status, _ = client.request("GET", path)
            if status != 200:
                errors.append(f"{path}: HTTP {status}")
                break
            n += 1
        done[i] = n
        client.close()

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    stop_at[0] = time.monotonic() + 3600
    start_gate.wait()
    began = time.monotonic()
    stop_at[0] = began + seconds
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - began
    if errors:
        raise SystemExit(errors[0])
    return sum(done), elapsed


# --- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--modules", type=int, default=3, help="modules per course")
    parser.add_argument("--lessons", type=int, default=4, help="lessons per module")
    parser.add_argument("--sections", type=int, default=4, help="sections per lesson")
    parser.add_argument("--learners", type=int, default=20_000)
    parser.add_argument("--progress", type=int, default=1_000_000,
                        help="completed section_progress rows in total")
    parser.add_argument("--seconds", type=float, default=20,
                        help="measuring time per endpoint (split over --rounds)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved rounds, so drift hits every endpoint alike")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--server-threads", type=int, default=8, help="gunicorn threads")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    instance = Path(tempfile.mkdtemp(prefix="tangent-bench-"))
    env = server_env(instance)
    proc = None
    try:
        print(f"instance folder: {instance}")
        started = time.monotonic()
        subprocess.run([tangent(), "db", "upgrade"], env=env, check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        print(f"migrated in {time.monotonic() - started:.1f} s")

        from sqlalchemy import create_engine, event

        engine = create_engine(f"sqlite:///{instance / 'tangent.db'}")

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.close()

        started = time.monotonic()
        loaded = load(engine, args, random.Random(args.seed))
        engine.dispose()
        load_seconds = time.monotonic() - started
        print(f"loaded in {load_seconds:.1f} s: "
              + ", ".join(f"{k} {v:,}" for k, v in loaded["counts"].items()))
        if not loaded["sample"]:
            raise SystemExit("no learner with progress was sampled; use a larger dataset")

        port = free_port()
        proc = subprocess.Popen(
            [tangent(), "serve", "--host", "127.0.0.1", "--port", str(port),
             "--threads", str(args.server_threads)],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
        )
        wait_healthy(port, proc)
        sample = loaded["sample"][: max(1, min(args.threads, 4))]
        sessions = [login(port, email) for email, _ in sample]
        lesson_path = sample[0][1]
        last_path, pages = last_catalog_page(port, sessions[0])
        print(f"server: gunicorn, 1 worker x {args.server_threads} threads on 127.0.0.1:{port}")
        print(f"lesson page: {lesson_path}; catalog: {pages} pages, last = {last_path}")

        endpoints = {
            "healthz": ("/healthz", []),
            "lesson": (lesson_path, sessions[:1]),
            "dashboard": ("/dashboard", sessions),
            "catalog-first": ("/courses/", sessions),
            "catalog-last": (last_path, sessions),
        }
        totals = {name: [0, 0.0] for name in endpoints}
        per_round = args.seconds / max(1, args.rounds)
        for _ in range(max(1, args.rounds)):
            for name, (path, cookies) in endpoints.items():
                n, elapsed = measure(port, path, cookies, args.threads, per_round)
                totals[name][0] += n
                totals[name][1] += elapsed
        rps = {name: n / elapsed for name, (n, elapsed) in totals.items()}

        print(f"\n{args.threads} client threads, {args.seconds:g} s per endpoint "
              f"in {args.rounds} rounds")
        print(f"{'endpoint':<15}{'requests':>10}{'req/s':>10}{'ms/req':>10}")
        for name, (n, elapsed) in totals.items():
            print(f"{name:<15}{n:>10}{rps[name]:>10.1f}"
                  f"{1000 * elapsed * args.threads / max(1, n):>10.1f}")
        print("\nratios")
        for label, top, bottom in (("lesson / healthz", "lesson", "healthz"),
                                   ("dashboard / healthz", "dashboard", "healthz"),
                                   ("catalog-last / catalog-first", "catalog-last",
                                    "catalog-first")):
            print(f"{label:<29}{rps[top] / rps[bottom]:.2f}")
        print(f"load time {load_seconds:.1f} s")
    finally:
        if proc is not None:
            stop(proc)
        if not args.keep:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
