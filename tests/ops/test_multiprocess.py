"""The production set-up as real processes on 127.0.0.1 (deploy/README.md): `tangent serve`
with three gunicorn workers and no job threads, two `tangent worker` processes, PostgreSQL
and Redis from the machine, configured through the environment only.

One test walks through what must hold across processes: a rate limit shared by the web
workers, one generation per topic, a branch job started through one worker and seen
finished by polls another answers, sessions that survive a worker's death, a job worker
killed mid-job (nothing lost, no cost counted twice) and a rolling restart (SIGHUP) that
drops no request.

Which web worker answered a request is read from the JSON log lines (each has the
process id and the request id the test sent). Each job worker talks to a fake
OpenAI-compatible server of its own, so the server that receives a draft's requests
says which worker runs it. Each request comes from a client address of its own
(X-Forwarded-For, one trusted proxy) except in the rate-limit check, so that only that
check uses up an address's allowance.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text

from tests import factories
from tests.fake_openai import ReceivedRequest, Reply, chat_reply, fake_openai_server
from tests.processes import TANGENT, free_port, process_env, wait_for, wait_until_healthy
from tests.unit.test_worker_process import OUTLINE, QUIZ  # the same draft, answered by the fake
from webapp.models.base import utcnow

DATABASE_URL = os.environ.get("DATABASE_URL", "")
pytestmark = [
    pytest.mark.skipif(TANGENT is None, reason="the tangent console script is not installed"),
    pytest.mark.skipif(not DATABASE_URL.startswith("postgres") or not os.environ.get("REDIS_URL"),
                       reason="the multi-process set-up needs PostgreSQL (DATABASE_URL) and "
                              "Redis (REDIS_URL), as in CI's second run"),
]

RATE_LIMIT = 20
STALE_SECONDS = 10  # the smallest TANGENT_JOB_STALE_SECONDS allows
LESSON_DELAY = 1.0  # a draft's lessons: long enough to kill a worker while one is asked for
TOKENS = (12, 34)
# TANGENT_AI_PRICE_INPUT=1 and _OUTPUT=2 per million tokens.
COST_PER_CALL = Decimal(TOKENS[0] * 1 + TOKENS[1] * 2) / Decimal(1_000_000)
EDITOR = "ed@example.org"
TOPIC = "Knots for sailors"


def reply_for(request: ReceivedRequest) -> Reply:
    """An outline, a quiz or a lesson, by what the prompt asks for; a draft's lessons slow."""
    prompt = request.json()["messages"][-1]["content"]
    if "<topic>" in prompt and '"modules"' in prompt:
        return chat_reply(OUTLINE, prompt_tokens=TOKENS[0], completion_tokens=TOKENS[1])
    if '"questions"' in prompt:
        return chat_reply(QUIZ, prompt_tokens=TOKENS[0], completion_tokens=TOKENS[1])
    draft_lesson = any(lesson["title"] in prompt for module in OUTLINE["modules"]
                       for lesson in module["lessons"])
    markdown = "Intro.\n\n## Practice\n\nTry it twice.\n"
    if draft_lesson:
        return chat_reply({"markdown": markdown}, prompt_tokens=TOKENS[0],
                          completion_tokens=TOKENS[1], delay=LESSON_DELAY)
    return chat_reply({"title": "Wild yeast", "markdown": markdown},  # a branch lesson
                      prompt_tokens=TOKENS[0], completion_tokens=TOKENS[1])


# --- HTTP: a new connection per request, no redirects followed -------------------------------

_addresses = itertools.count(1)


def client_address() -> str:
    """A client address not used before in this run (TEST-NET-2 and onwards)."""
    n = next(_addresses)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


class Site:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.cookie = ""

    def request(self, method: str, path: str, *, form: dict | None = None,
                address: str | None = None, headers: dict | None = None,
                signed_in: bool = True) -> tuple[int, dict[str, str], str, str]:
        """(status, headers, body, request id) over a connection of its own."""
        request_id = uuid.uuid4().hex
        sent = {"X-Request-ID": request_id, "X-Forwarded-For": address or client_address(),
                "Connection": "close", **(headers or {})}
        if signed_in and self.cookie:
            sent["Cookie"] = self.cookie
        body = None
        if form is not None:
            from urllib.parse import urlencode

            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text_body = response.read().decode()
            received = {k.lower(): v for k, v in response.getheaders()}
            for value in response.headers.get_all("Set-Cookie") or []:
                if signed_in and value.startswith("tangent_session="):
                    self.cookie = value.split(";", 1)[0]
            return response.status, received, text_body, request_id
        finally:
            connection.close()

    def pids_of(self, request_ids) -> dict[str, int]:
        """The process id that logged each of ``request_ids`` (the access-log line)."""
        wanted, found = set(request_ids), {}
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "webapp.access" and entry["request_id"] in wanted:
                    found[entry["request_id"]] = entry["pid"]
        return found

    def pid_of(self, request_id: str) -> int:
        return wait_for(lambda: self.pids_of([request_id]).get(request_id), 5,
                        f"the log line of request {request_id}")

    def csrf(self, path: str) -> str:
        status, _, body, _ = self.request("GET", path)
        assert status == 200, (path, status)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)


def children(pid: int) -> set[int]:
    """The gunicorn workers of master ``pid`` right now."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def stop(process: subprocess.Popen, timeout: float = 25) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the set-up ------------------------------------------------------------------------------


@pytest.fixture
def database(postgres_url, app_settings, reset_schema, tmp_path
             ) -> Iterator[tuple[str, Engine, int]]:
    """A PostgreSQL schema of this test's own at head, with an editor who owns a published
    course whose lesson suggests a branch: (its URL, an engine on it, that lesson's id).
    Dropped after."""
    from webapp import create_app
    from webapp.extensions import db

    schema = f"tangent_mp_{uuid.uuid4().hex[:10]}"
    url = make_url(postgres_url).set(drivername="postgresql+psycopg").update_query_dict(
        {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    seeding = create_app(app_settings(database_url=url, redis_url=None,
                                      instance_path=tmp_path / "seed"))
    reset_schema(seeding)  # creates the schema and migrates it
    with seeding.app_context():
        editor = factories.make_user(EDITOR, role="editor")
        course = factories.make_branch_course(owner=editor)
        lesson_id = course.modules[0].lessons[0].id
        db.session.remove()
        db.engine.dispose()
    engine = create_engine(url)
    try:
        yield url, engine, lesson_id
    finally:
        engine.dispose()
        engine = create_engine(postgres_url)
        try:
            with engine.begin() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            engine.dispose()


@pytest.fixture
def redis_db(redis_url) -> Iterator[str]:
    """This worker's Redis database, without the queue and the limits the processes keep
    (the queue's name and the limiter's prefix are the production defaults)."""
    import redis

    def clear() -> None:
        client = redis.Redis.from_url(redis_url)
        try:
            for pattern in ("huey.*tangent*", "LIMITS:{LIMITER/tangent/*"):
                keys = list(client.scan_iter(pattern))
                if keys:
                    client.delete(*keys)
        finally:
            client.close()

    clear()
    yield redis_url
    clear()


def test_the_production_setup_across_processes(database, redis_db, tmp_path):
    db_url, engine, lesson_id = database
    processes: list[subprocess.Popen] = []

    def query(sql: str, **params):
        with engine.connect() as connection:
            return connection.execute(text(sql), params).all()

    port = free_port()
    env = {**process_env(tmp_path / "instance"),
           "TANGENT_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
           "DATABASE_URL": db_url, "REDIS_URL": redis_db, "LOG_FORMAT": "json",
           "LOG_LEVEL": "INFO", "TANGENT_TRUSTED_PROXIES": "1",
           "TANGENT_BASE_URL": f"http://127.0.0.1:{port}",
           "TANGENT_RATE_LIMIT": f"{RATE_LIMIT} per minute",
           "TANGENT_JOB_STALE_SECONDS": str(STALE_SECONDS), "TANGENT_TTS_PROVIDER": "none",
           "TANGENT_AI_PROVIDER": "openai", "TANGENT_AI_MODEL": "fake-model",
           "TANGENT_AI_PRICE_INPUT": "1", "TANGENT_AI_PRICE_OUTPUT": "2",
           "TANGENT_AI_REQUESTS_PER_MINUTE": "50", "TANGENT_AI_DAILY_REQUESTS": "50"}

    def start(name: str, *args: str, **extra: str) -> subprocess.Popen:
        with (tmp_path / f"{name}.log").open("w") as log:
            process = subprocess.Popen([TANGENT, *args], env={**env, **extra}, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        processes.append(process)
        return process

    with fake_openai_server() as first_ai, fake_openai_server() as second_ai:
        ais = [first_ai, second_ai]
        for ai in ais:
            ai.always(reply_for)
        try:
            master = start("web", "serve", "--port", str(port), "--workers", "3",
                           "--no-job-worker")
            job_workers = [start(f"worker{i}", "worker", "--workers", "1",
                                 TANGENT_AI_BASE_URL=ai.url) for i, ai in enumerate(ais)]
            site = Site(port, tmp_path / "web.log")
            wait_until_healthy(f"http://127.0.0.1:{port}", master)
            wait_for(lambda: len(children(master.pid)) == 3, 30, "three gunicorn workers")
            for i in range(2):
                wait_for(lambda i=i: "job worker running" in
                         (tmp_path / f"worker{i}.log").read_text(), 30, f"job worker {i}")

            # 1. One rate limit for all web workers: it trips at RATE_LIMIT, not 3x that.
            address = client_address()

            def home(_):
                return site.request("GET", "/", address=address, signed_in=False)

            with ThreadPoolExecutor(4) as pool:
                answers = list(pool.map(home, range(RATE_LIMIT + 5)))
            statuses = [status for status, *_ in answers]
            assert statuses.count(200) == RATE_LIMIT, statuses
            assert statuses.count(429) == 5, statuses
            served_by = set(site.pids_of([rid for *_, rid in answers]).values())
            assert len(served_by) > 1, "one worker answered every request"
            assert served_by <= children(master.pid)

            # Sign in (the cookie is used by every request below).
            status, headers, _, _ = site.request("POST", "/login", form={
                "email": EDITOR, "password": factories.DEFAULT_PASSWORD,
                "csrf_token": site.csrf("/login")})
            assert status in (302, 303), status

            # 3. A branch started through one worker; a poll answered by another sees it done.
            status, headers, _, started = site.request(
                "POST", f"/lessons/{lesson_id}/branches",
                form={"topic": "Wild yeast", "csrf_token": site.csrf("/edit/drafts/new")})
            assert status == 303, status
            branch_url = headers["location"]
            starter = site.pid_of(started)

            def finished_elsewhere():
                status, _, body, rid = site.request("GET", f"{branch_url}/card",
                                                    headers={"HX-Request": "true"})
                assert status in (200, 286), status
                return status == 286 and site.pid_of(rid) != starter and body

            card = wait_for(finished_elsewhere, 30, "a finished branch card from another worker")
            assert "Intro." in card
            assert query("SELECT status FROM branch") == [("ready",)]

            # 2. One generation per topic: six requests at once through the workers.
            token = site.csrf("/edit/drafts/new")
            bases = [len(ai.requests) for ai in ais]

            def ask(_):
                return site.request("POST", "/edit/drafts/new", form={
                    "topic": TOPIC, "level": "beginner", "csrf_token": token})

            with ThreadPoolExecutor(6) as pool:
                asked = list(pool.map(ask, range(6)))
            assert [status for status, *_ in asked] == [303] * 6, asked
            assert len({headers["location"] for _, headers, *_ in asked}) == 1
            assert len(set(site.pids_of([rid for *_, rid in asked]).values())) > 1
            ((job_id,),) = query("SELECT id FROM generation_job WHERE kind = 'course_draft'")

            # 5. Kill the job worker running the draft while its second lesson is asked for.
            running = wait_for(lambda: [i for i, ai in enumerate(ais)
                                        if len(ai.requests) - bases[i] >= 3], 30,
                               "the draft's second lesson request")[0]
            job_workers[running].send_signal(signal.SIGKILL)
            job_workers[running].wait(timeout=10)
            ((status, step_index),) = query(
                "SELECT status, step_index FROM generation_job WHERE id = :id", id=job_id)
            assert status == "running" and step_index < 6

            # 4. Sessions survive a web worker's death: the master starts another, and the
            # signed-in cookie works on every worker.
            victim = min(children(master.pid))
            os.kill(victim, signal.SIGKILL)
            workers = wait_for(lambda: (lambda now: len(now) == 3 and victim not in now
                                        and now)(children(master.pid)), 30,
                               "the master to replace the killed worker")
            seen: set[int] = set()

            def account(_):
                status, _, body, rid = site.request("GET", "/account/")
                assert status == 200 and EDITOR in body, status
                return rid

            for _ in range(10):
                with ThreadPoolExecutor(6) as pool:
                    ids = list(pool.map(account, range(12)))
                seen |= set(site.pids_of(ids).values())
                if seen >= workers:
                    break
            assert seen >= workers, (seen, workers)

            # 6. A rolling restart (SIGHUP) while a client sends requests back to back.
            outcomes: list[object] = []
            stop_client = threading.Event()

            def client() -> None:
                while not stop_client.is_set():
                    try:
                        outcomes.append(site.request("GET", "/courses/", signed_in=False)[0])
                    except (OSError, http.client.HTTPException) as exc:
                        outcomes.append(exc)

            thread = threading.Thread(target=client, daemon=True)
            thread.start()
            try:
                wait_for(lambda: len(outcomes) >= 5, 10, "the client's first answers")
                old = children(master.pid)
                master.send_signal(signal.SIGHUP)
                wait_for(lambda: (lambda now: len(now) == 3 and not now & old)(
                    children(master.pid)), 30, "three new workers and no old one")
                count = len(outcomes)
                wait_for(lambda: len(outcomes) >= count + 5, 10, "answers from the new workers")
            finally:
                stop_client.set()
                thread.join(timeout=20)
            assert outcomes and all(outcome == 200 for outcome in outcomes), [
                o for o in outcomes if o != 200][:5]

            # 5, continued. Once the dead worker's heartbeat is stale, the worker is started
            # again (as systemd's Restart= does); its start-up recovery hands the job back to
            # the queue and one of the two job workers finishes it.
            def stale():
                ((beat,),) = query("SELECT heartbeat_at FROM generation_job WHERE id = :id",
                                   id=job_id)
                beat = beat if beat.tzinfo else beat.replace(tzinfo=UTC)  # kept in UTC
                return utcnow() - beat > timedelta(seconds=STALE_SECONDS)

            wait_for(stale, STALE_SECONDS + 10, "the killed worker's heartbeat to go stale")
            job_workers.append(start("worker-restarted", "worker", "--workers", "1",
                                     TANGENT_AI_BASE_URL=ais[running].url))
            wait_for(lambda: query("SELECT status FROM generation_job WHERE id = :id",
                                   id=job_id)[0][0] in ("succeeded", "failed"), 40,
                     "the resumed draft")
        finally:
            for process in reversed(processes):
                stop(process)

    status, error, attempts, cost, course_id = query(
        "SELECT status, error, attempts, cost, course_id FROM generation_job "
        "WHERE id = :id", id=job_id)[0]
    assert (status, error, attempts) == ("succeeded", "", 2), \
        (tmp_path / "worker-restarted.log").read_text()[-3000:]
    # Nothing lost: every lesson once, in order, and the quiz.
    titles = [t for (t,) in query("SELECT title FROM lesson WHERE course_id = :c "
                                  "ORDER BY position", c=course_id)]
    assert titles == ["The reef knot", "The bowline", "Clove hitch", "Round turn"]
    assert query("SELECT count(*) FROM quiz WHERE course_id = :c", c=course_id) == [(1,)]
    # Nothing counted twice: one ledger row per step (outline, four lessons, quiz); the
    # call the kill cut off is not in it.
    calls = query("SELECT call_key, cost FROM provider_call WHERE job_id = :id", id=job_id)
    assert len(calls) == 6 and len({key for key, _ in calls}) == 6
    total = sum(Decimal(str(c)) for _, c in calls)
    assert total == 6 * COST_PER_CALL
    assert Decimal(str(cost)) == total
