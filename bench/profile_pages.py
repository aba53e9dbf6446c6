"""Where a page's CPU time goes: SQLAlchemy, the database driver, Jinja, Flask/Werkzeug …

    python bench/profile_pages.py [--requests 300]

Loads the ``--quick`` dataset of ``bench/pages.py`` into a temporary SQLite database,
signs a learner in with Flask's test client (in-process, no server), warms each page,
then runs it under cProfile and adds up the time spent *inside* the functions of each
library (``tottime``, so nothing is counted twice). cProfile slows Python down, so the
shares are the point, not the milliseconds; the first column is CPU time measured without the
profiler (best of 3 batches).
"""

from __future__ import annotations

import argparse
import cProfile
import html
import os
import pstats
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

import learning  # noqa: E402

GROUPS = (
    ("SQLAlchemy", ("/sqlalchemy/",)),
    ("DB driver", ("sqlite3.Cursor", "sqlite3.Connection", "/psycopg/")),
    ("Jinja + templates", ("/jinja2/", "/templates/")),
    ("Flask/Werkzeug", ("/flask/", "/werkzeug/", "/flask_", "/itsdangerous/")),
    ("Tangent", ("/webapp/",)),
)


def group_of(filename: str, name: str) -> str:
    where = f"{filename}:{name}"
    for label, needles in GROUPS:
        if any(needle in where for needle in needles):
            return label
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--only", default="", help="comma-separated pages, e.g. lesson,catalog")
    parser.add_argument("--top", type=int, default=0,
                        help="also list each page's N costliest functions (own time)")
    parser.add_argument("--callers", default="",
                        help="also list who calls the functions matching this name")
    args = parser.parse_args()
    instance = Path(tempfile.mkdtemp(prefix="tangent-profile-"))
    try:
        env = learning.server_env(instance)
        subprocess.run([learning.tangent(), "db", "upgrade"], env=env, check=True,
                       cwd=learning.ROOT, stdout=subprocess.DEVNULL)
        from sqlalchemy import create_engine

        engine = create_engine(f"sqlite:///{instance / 'tangent.db'}")
        size = argparse.Namespace(courses=40, learners=1000, progress=50_000, modules=3,
                                  lessons=4, sections=4)
        loaded = learning.load(engine, size, random.Random(1))
        engine.dispose()
        os.environ.update({k: v for k, v in env.items() if k.startswith(("TANGENT", "LOG"))})

        from webapp import create_app

        app = create_app()
        client = app.test_client()
        email, lesson = loaded["sample"][0]
        page = client.get("/login").get_data(as_text=True)
        token = html.unescape(re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)[1])
        response = client.post("/login", data={"email": email, "password": learning.PASSWORD,
                                               "csrf_token": token})
        assert response.status_code in (302, 303), "sign-in failed"
        pages = {"healthz": "/healthz", "home": "/", "catalog": "/courses/",
                 "course": lesson.split("/lessons/")[0], "lesson": lesson,
                 "lesson-focus": lesson + "?focus=1", "dashboard": "/dashboard"}
        if args.only:
            pages = {name: path for name, path in pages.items()
                     if name in args.only.split(",")}
        labels = [label for label, _ in GROUPS] + ["other"]
        print(f"{'page':<14}{'ms/req':>8}  " + "".join(f"{label:>19}" for label in labels))
        for name, path in pages.items():
            for _ in range(20):
                assert client.get(path).status_code == 200, path
            best = float("inf")
            for _ in range(3):
                began = time.process_time()
                for _ in range(args.requests):
                    client.get(path)
                best = min(best, (time.process_time() - began) / args.requests)
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                client.get(path)
            profile.disable()
            totals = dict.fromkeys(labels, 0.0)
            for (filename, _line, func), row in pstats.Stats(profile).stats.items():
                totals[group_of(filename, func)] += row[2]  # tottime
            whole = sum(totals.values()) or 1
            print(f"{name:<14}{best * 1000:>8.2f}  "
                  + "".join(f"{100 * totals[label] / whole:>18.0f}%" for label in labels))
            if args.top:
                stats = pstats.Stats(profile)
                stats.sort_stats("tottime").print_stats(args.top)
                stats.sort_stats("cumulative").print_stats(args.top)
            if args.callers:
                pstats.Stats(profile).print_callers(args.callers)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
