"""`tangent worker` as real processes: killed in the middle of a course draft and started
again, the draft completes with no duplicated lessons and no double-counted cost; two
processes asking for the same topic at once create one job; and `tangent serve` runs
jobs in its own process (the embedded set-up) while it serves.

The AI provider is the fake OpenAI-compatible server on 127.0.0.1. Both tests use
their own instance folder with a SQLite database and huey's SQLite queue, the
embedded set-up (the thread-based race test in test_jobs.py covers PostgreSQL).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.fake_openai import ReceivedRequest, Reply, chat_reply, fake_openai_server
from tests.processes import (
    TANGENT,
    free_port,
    wait_for,
    wait_until_healthy,
)

pytestmark = pytest.mark.skipif(TANGENT is None,
                                reason="the tangent console script is not installed")

OUTLINE = {
    "title": "Knots for sailors", "summary": "Tie the knots a sailor needs.",
    "level": "beginner",
    "modules": [
        {"title": "Basics", "lessons": [{"title": "The reef knot", "goal": "Tie a reef knot."},
                                        {"title": "The bowline", "goal": "Tie a bowline."}]},
        {"title": "Hitches", "lessons": [{"title": "Clove hitch", "goal": "Tie a clove hitch."},
                                         {"title": "Round turn", "goal": "Make a round turn."}]},
    ],
}
QUIZ = {"questions": [{"kind": "single", "prompt": "Which knot joins two ropes?",
                       "explanation": "The reef knot joins two ends.",
                       "choices": [{"text": "Reef knot", "correct": True},
                                   {"text": "Clove hitch", "correct": False}]}]}
LESSON_DELAY = 0.6  # long enough for the test to see the request and kill the worker
PROMPT_TOKENS, COMPLETION_TOKENS = 12, 34
# TANGENT_AI_PRICE_INPUT=1 and _OUTPUT=2 per million tokens.
COST_PER_CALL = Decimal(PROMPT_TOKENS * 1 + COMPLETION_TOKENS * 2) / Decimal(1_000_000)


def reply_for(request: ReceivedRequest) -> Reply:
    """Answer by what the prompt asks for: an outline, a lesson or a quiz."""
    prompt = request.json()["messages"][-1]["content"]
    if "<topic>" in prompt and '"modules"' in prompt:
        return chat_reply(OUTLINE, prompt_tokens=PROMPT_TOKENS,
                          completion_tokens=COMPLETION_TOKENS)
    if '"questions"' in prompt:
        return chat_reply(QUIZ, prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS)
    title = next((line for line in prompt.splitlines() if line.strip()), "Lesson")[:40]
    return chat_reply({"markdown": f"Intro to {title}.\n\n## Practice\n\nTie it twice.\n"},
                      prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS,
                      delay=LESSON_DELAY)


def query(db_path: Path, sql: str, *args):
    connection = sqlite3.connect(db_path, timeout=10)
    try:
        return connection.execute(sql, args).fetchall()
    finally:
        connection.close()


def age_heartbeat(db_path: Path, job_id: int, by: timedelta) -> None:
    """Move a job's last heartbeat ``by`` into the past, as the clock would have while its
    dead worker stopped beating (SQLite keeps it as ISO text)."""
    (beat,) = query(db_path, "SELECT heartbeat_at FROM generation_job WHERE id = ?", job_id)[0]
    aged = datetime.fromisoformat(beat) - by
    timespec = "microseconds" if "." in beat else "seconds"
    connection = sqlite3.connect(db_path, timeout=10)
    try:
        with connection:
            connection.execute("UPDATE generation_job SET heartbeat_at = ? WHERE id = ?",
                               (aged.isoformat(sep=" ", timespec=timespec), job_id))
    finally:
        connection.close()


# With a file name as its first argument, the script says "ready" once it has imported and
# created the app, then waits for that file to exist: a start line for two processes.
REQUEST_SCRIPT = """
import os, sys, time
from webapp import create_app
from webapp.extensions import db
from webapp.models import User
from webapp.jobs import runner
from webapp.services import jobs
from webapp.settings import get_settings
app = create_app()
go = sys.argv[1]
if go:
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
with app.app_context():
    user = db.session.scalar(db.select(User).filter_by(email="ed@example.org"))
    job, created = jobs.request_course_draft(user, topic=sys.argv[2], level="beginner",
                                             settings=get_settings(app))
    db.session.commit()
    if created:
        runner.enqueue(job.id)
    print(job.id, created)
"""


def request_draft(worker_env: dict[str, str], topic: str, go: Path | None = None
                  ) -> subprocess.Popen:
    """Ask for a course draft in a new process; with ``go``, it waits for that file."""
    return subprocess.Popen([sys.executable, "-c", REQUEST_SCRIPT, str(go or ""), topic],
                            env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(scope="module")
def migrated_instance(tmp_path_factory, app_settings, reset_schema) -> Path:
    """An instance folder at the head revision with an editor, made once per module (and
    xdist worker) in this process; each test works on a copy. The commands that do the
    same, `tangent db upgrade` and `tangent users create`, are tested in test_commands."""
    from webapp import create_app
    from webapp.extensions import db
    from webapp.services import accounts

    folder = tmp_path_factory.mktemp("worker-template") / "instance"
    template = create_app(app_settings(instance_path=folder,
                                       database_url=f"sqlite:///{folder / 'tangent.db'}"))
    reset_schema(template)
    with template.app_context():
        accounts.create_user("ed@example.org", "a long enough password", role="editor")
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    # The key the first `tangent` command would have kept there: processes that start
    # together on a folder without one race to create it.
    (folder / "secret_key").write_text(secrets.token_urlsafe(48) + "\n")
    (folder / "secret_key").chmod(0o600)
    return folder


@pytest.fixture
def instance(env, tmp_path, migrated_instance):
    shutil.copytree(migrated_instance, tmp_path / "instance")
    return env, tmp_path / "instance" / "tangent.db"


def test_two_processes_asking_for_one_topic_create_one_job(instance, tmp_path):
    worker_env, db_path = instance
    go = tmp_path / "go"
    processes = [request_draft(worker_env, "Knots for sailors", go) for _ in range(2)]
    try:
        for process in processes:  # both have imported the app and read the user
            assert process.stdout.readline() == "ready\n", process.stderr.read()
    finally:
        go.touch()
    outputs = [p.communicate(timeout=60) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err for _, err in outputs]
    answers = sorted(out.split() for out, _ in outputs)
    assert answers[0][0] == answers[1][0]  # the same job id
    assert sorted(created for _, created in answers) == ["False", "True"]
    assert query(db_path, "SELECT count(*) FROM generation_job") == [(1,)]


def test_killing_the_worker_mid_draft_then_restarting_completes_it_once(instance, tmp_path):
    worker_env, db_path = instance
    with fake_openai_server() as server:
        server.always(reply_for)
        worker_env = {**worker_env, "TANGENT_AI_PROVIDER": "openai",
                      "TANGENT_AI_BASE_URL": server.url, "TANGENT_AI_MODEL": "fake-model",
                      "TANGENT_AI_PRICE_INPUT": "1", "TANGENT_AI_PRICE_OUTPUT": "2",
                      "TANGENT_JOB_STALE_SECONDS": "10"}
        requested = request_draft(worker_env, "Knots for sailors")
        out, err = requested.communicate(timeout=60)
        assert requested.returncode == 0, err
        job_id = int(out.split()[0])

        def start_worker(name: str) -> subprocess.Popen:
            with (tmp_path / f"{name}.log").open("w") as log:
                return subprocess.Popen([TANGENT, "worker", "--workers", "1"], env=worker_env,
                                        stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

        first = start_worker("first")
        try:
            # Outline and the first lesson are committed when the second lesson is asked
            # for; the fake server holds that answer for LESSON_DELAY, and the kill lands
            # while it is in flight.
            wait_for(lambda: len(server.requests) >= 3, 60, "the second lesson's request")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        status, step_index = query(db_path, "SELECT status, step_index FROM generation_job")[0]
        assert status == "running" and step_index < 6
        lessons_before = query(db_path, "SELECT count(*) FROM lesson")[0][0]

        # The dead worker's heartbeat goes stale: aged past TANGENT_JOB_STALE_SECONDS
        # rather than waited out.
        age_heartbeat(db_path, job_id, timedelta(hours=1))
        second = start_worker("second")
        try:
            wait_for(lambda: query(db_path, "SELECT status FROM generation_job")[0][0]
                     in ("succeeded", "failed"), 90, "the resumed draft")
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                second.wait(timeout=20)
            except subprocess.TimeoutExpired:
                second.kill()
        requests_made = len(server.requests)

    job = query(db_path, "SELECT status, error, attempts, cost, course_id, step_count "
                         "FROM generation_job WHERE id = ?", job_id)[0]
    assert job[0] == "succeeded", (job, (tmp_path / "second.log").read_text()[-2000:])
    assert job[2] == 2 and job[5] == 6  # outline, 4 lessons, quiz
    titles = [t for (t,) in query(db_path, "SELECT title FROM lesson WHERE course_id = ? "
                                           "ORDER BY position", job[4])]
    assert titles == ["The reef knot", "The bowline", "Clove hitch", "Round turn"]
    assert 1 <= lessons_before < 4
    calls = query(db_path, "SELECT call_key, cost FROM provider_call WHERE job_id = ?", job_id)
    # One recorded call per committed step; the call cut off by the kill is not in the
    # ledger, and nothing was counted twice.
    assert len(calls) == 6 and len({key for key, _ in calls}) == 6
    total = sum(Decimal(str(cost)) for _, cost in calls)
    assert total == 6 * COST_PER_CALL
    assert Decimal(str(job[3])) == total
    assert requests_made in (6, 7)
    quiz = query(db_path, "SELECT count(*) FROM quiz WHERE course_id = ?", job[4])
    assert quiz == [(1,)]
    assert json.loads(query(db_path, "SELECT state FROM generation_job")[0][0])["quiz_id"]
    assert not os.path.exists(tmp_path / "instance" / "audio")


def test_serve_runs_jobs_in_process(instance, tmp_path):
    """A draft queued while nothing consumes jobs is done by `tangent serve` itself."""
    worker_env, db_path = instance
    requested = request_draft(worker_env, "Knots for sailors")
    _out, err = requested.communicate(timeout=60)
    assert requested.returncode == 0, err
    assert query(db_path, "SELECT status FROM generation_job") == [("queued",)]
    port = free_port()
    with (tmp_path / "serve.log").open("w") as log:
        server = subprocess.Popen([TANGENT, "serve", "--port", str(port)], env=worker_env,
                                  stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL)
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", server)
        wait_for(lambda: query(db_path, "SELECT status FROM generation_job")[0][0]
                 in ("succeeded", "failed"), 60, "the draft to finish under tangent serve")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    status, error = query(db_path, "SELECT status, error FROM generation_job")[0]
    assert (status, error) == ("succeeded", ""), (tmp_path / "serve.log").read_text()[-2000:]
    assert query(db_path, "SELECT count(*) FROM course WHERE status = 'draft'") == [(1,)]
