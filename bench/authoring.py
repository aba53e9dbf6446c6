"""Lesson authoring: what rendering and sanitizing cost, and proof that reads pay none of it.

    python bench/authoring.py [--seconds 12 --reads 20 --size 50]
    python bench/authoring.py --quick           # a few seconds

(a) Generates a ~50 KB lesson (prose, code blocks, tables, lists, callouts,
    details, figures, a quiz and a branch) and measures ``render_lesson`` — render
    and sanitize, as saving a lesson does — against the same call with the
    sanitizer switched off, in interleaved rounds. Prints KB/s, lessons/s and
    the ratio (the sanitizer's share).
(b) Builds the app (``webapp.create_app``) on a temporary instance folder and
    SQLite, creates a learner and a published course holding that lesson through
    the services, enrolls the learner and signs in through the real /login form.
    Then counts every ``bleach.Cleaner.clean`` call while it GETs the lesson page
    N times: the count must be 0, since pages serve the stored, already
    sanitized HTML. It also times a page that would re-render on each read (the
    same GET plus ``render_lesson`` of the source, in-process) against the
    stored page, interleaved, and prints the ratio.

Nothing listens on a network port; the folder is removed at the end.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench password for the one learner"  # noqa: S105 - a throwaway local database
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

PROSE = ("Indexes make reads faster and writes slower: every insert updates each index on "
         "the table, and the planner has to choose between them. In this step we measure "
         "both sides with `EXPLAIN ANALYZE`, read the plan from the inside out, and decide "
         "whether the trade is worth it for *this* workload; the [manual]"
         "(https://www.postgresql.org/docs/current/indexes.html) has the details. ")
CODE = '''```python
def top_customers(session, limit=10):
    """The customers with the most orders, most first."""
    rows = session.execute(
        select(Customer.name, func.count(Order.id).label("n"))
        .join(Order)
        .group_by(Customer.id)
        .order_by(desc("n"))
        .limit(limit)
    )
    return [(name, n) for name, n in rows]
```'''
TABLE = ("| query | rows | ms |\n|:--|--:|--:|\n"
         + "\n".join(f"| q{k} | {k * 1000} | {k * 1.5} |" for k in range(1, 7)))


def lesson_source(kilobytes: int = 50) -> str:
    """A lesson of about ``kilobytes`` KB with every kind of block and component."""
    parts, n = [f"What this lesson is about. {PROSE * 2}"], 1
    while sum(len(p) + 2 for p in parts) < kilobytes * 1000:
        n += 1
        parts.append(f"## Step {n}\n\n{PROSE * 3}\n\n{PROSE * 2}\n\n{CODE}\n\n"
                     "- the first point\n- a second point with `code`\n- a third point")
        if n % 3 == 0:
            parts.append(TABLE)
        if n % 4 == 0:
            parts.append(f'<Callout kind="tip">\n{PROSE}\n</Callout>')
        if n % 5 == 0:
            parts.append(f'<Details summary="Show the answer to step {n}">\n{PROSE}\n\n{CODE}\n'
                         "</Details>")
        if n % 6 == 0:
            parts.append(f'<Figure src="/static/img/plan-{n}.png" alt="Query plan of step {n}" '
                         f'caption="The plan for step {n}"/>')
    parts.append('<Quiz id="indexes"/>\n\n<Branch topic="Covering indexes"/>')
    return "\n\n".join(parts)


def interleaved(runs: dict[str, Callable[[], object]], seconds: float,
                rounds: int = 4) -> dict[str, list[float]]:
    """Call each function in turn for ``seconds / rounds / len(runs)`` per round; timings."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    slot = seconds / rounds / len(runs)
    for _ in range(rounds):
        for name, run in runs.items():
            stop = time.perf_counter() + slot
            while True:
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
                if time.perf_counter() >= stop:
                    break
    return times


@contextmanager
def sanitizer_off():
    """``render_lesson`` with its sanitizer step replaced by the identity."""
    from webapp.content import render

    real = render.clean_with_report
    render.clean_with_report = lambda html: (html, [])
    try:
        yield
    finally:
        render.clean_with_report = real


@contextmanager
def counting_cleaner():
    """Count every ``bleach.Cleaner.clean`` call (the one sanitizer runs through it)."""
    import bleach

    real = bleach.Cleaner.clean
    calls = [0]

    def clean(self, text):
        calls[0] += 1
        return real(self, text)

    bleach.Cleaner.clean = clean
    try:
        yield calls
    finally:
        bleach.Cleaner.clean = real


def measure_rendering(source: str, seconds: float, rounds: int) -> dict[str, float]:
    from webapp.content.render import render_lesson

    result = render_lesson(source, "Bench")
    assert result.findings == [], result.findings  # the generated lesson is clean
    with sanitizer_off():
        render_lesson(source, "Bench")  # warm both paths

    def unsanitized():
        with sanitizer_off():
            render_lesson(source, "Bench")

    times = interleaved({"render+sanitize": lambda: render_lesson(source, "Bench"),
                         "render only": unsanitized}, seconds, rounds)
    kb = len(source.encode()) / 1000
    print(f"(a) lesson: {kb:.1f} KB source, {len(result.sections)} sections, "
          f"{sum(len(s.html) for s in result.sections) / 1000:.1f} KB of HTML")
    print(f"    {'':17}{'calls':>6}{'median ms':>11}{'KB/s':>9}{'lessons/s':>11}")
    medians = {}
    for name, values in times.items():
        median = statistics.median(values)
        medians[name] = median
        print(f"    {name:17}{len(values):6}{median * 1000:11.1f}{kb / median:9.0f}"
              f"{1 / median:11.2f}")
    ratio = medians["render+sanitize"] / medians["render only"]
    print(f"    sanitize overhead: render+sanitize / render only = {ratio:.2f} "
          f"(the sanitizer is {1 - 1 / ratio:.0%} of the time)")
    return medians


def build_world(instance: Path, source: str):
    """App, schema, a learner, a published course holding the lesson; returns (app, url)."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.services import accounts, courses, progress

    app = create_app({
        "env": "testing",
        "secret_key": "bench-secret-key-that-is-long-enough-for-production-checks",
        "instance_path": instance,
        "database_url": f"sqlite:///{instance / 'bench.db'}",
        "rate_limit": "100000 per minute",
        "log_format": "text",
        "log_level": "WARNING",
    })
    with app.app_context():
        db.create_all()
        learner = accounts.create_user("learner@example.org", PASSWORD, display_name="Learner")
        course = courses.create_course_unchecked(None, title="Indexes in practice", summary="Bench")
        module = courses.add_module_unchecked(None, course, "Module 1")
        lesson = courses.add_lesson_unchecked(None, module, "Reading query plans", source)
        courses.publish_course(None, course)
        db.session.commit()
        progress.enroll(learner, course)
        db.session.commit()
        url = f"/courses/{course.slug}/lessons/{lesson.slug}"
    return app, url


def sign_in(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = CSRF_RE.search(page).group(1)
    response = client.post("/login", data={"email": "learner@example.org", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code in (302, 303), response.status_code


def measure_reads(source: str, reads: int, instance: Path) -> dict[str, float]:
    from webapp.content.render import render_lesson

    app, url = build_world(instance, source)
    client = app.test_client()
    sign_in(client)
    page = client.get(url)
    assert page.status_code == 200, page.status_code
    body = page.get_data(as_text=True)
    assert 'class="quiz-embed"' in body and "Mark as done" in body  # signed in, enrolled

    with counting_cleaner() as calls:
        render_lesson("<Callout>\nprobe\n</Callout>", "Probe")
        probe = calls[0]
        calls[0] = 0
        for _ in range(reads):
            assert client.get(url).status_code == 200
        during_reads = calls[0]
    print(f"(b) sanitizer calls during {reads} lesson page reads: {during_reads} "
          f"(the probe counted {probe} for one render, so it is live)")
    assert probe > 0 and during_reads == 0

    def stored():
        assert client.get(url).status_code == 200

    def rerendered():
        assert client.get(url).status_code == 200
        render_lesson(source, "Reading query plans")

    times = {"stored page": [], "re-render/read": []}
    for _ in range(reads):  # interleaved one by one
        for name, run in (("stored page", stored), ("re-render/read", rerendered)):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"    {'':17}{'reads':>6}{'median ms':>11}{'pages/s':>9}")
    for name, median in medians.items():
        print(f"    {name:17}{reads:6}{median * 1000:11.1f}{1 / median:9.1f}")
    print(f"    re-rendering on each read would make the page "
          f"{medians['re-render/read'] / medians['stored page']:.1f}x slower")
    return medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size", type=int, default=50, help="lesson size in KB")
    parser.add_argument("--seconds", type=float, default=12.0,
                        help="time for (a), split over interleaved rounds")
    parser.add_argument("--reads", type=int, default=20, help="lesson page reads per kind in (b)")
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = parser.parse_args(argv)
    rounds = 4
    if args.quick:
        args.seconds, args.reads, rounds = 1.0, 3, 2
    started = time.perf_counter()
    source = lesson_source(args.size)
    measure_rendering(source, args.seconds, rounds)
    instance = Path(tempfile.mkdtemp(prefix="tangent-bench-authoring-"))
    try:
        measure_reads(source, args.reads, instance)
    finally:
        if args.keep:
            print(f"instance folder kept: {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
