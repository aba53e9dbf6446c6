"""The installed `tangent` command, run as a real process: config errors, users, serve."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.processes import TANGENT, free_port, get, tangent, wait_until_healthy
from webapp.database import head_revisions

pytestmark = pytest.mark.skipif(TANGENT is None,
                                reason="the tangent console script is not installed")


@pytest.mark.parametrize("args", [[], ["users", "list"]], ids=["bare", "command"])
def test_a_configuration_error_is_one_line_and_exit_status_2(env, args):
    env["DATABASE_URL"] = "mysql://x"
    result = tangent(*args, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Configuration error: DATABASE_URL: unsupported scheme 'mysql' (use sqlite or postgresql)"
    ]


def test_users_create_in_a_real_process(env, tmp_path):
    upgraded = tangent("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr

    created = tangent("users", "create", "Root@Example.org", "--role", "admin",
                      "--password", "a long enough password", env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Created admin root@example.org (id ")

    database = sqlite3.connect(tmp_path / "instance" / "tangent.db")
    try:
        rows = database.execute('SELECT email, role, status FROM "user"').fetchall()
    finally:
        database.close()
    assert rows == [("root@example.org", "admin", "active")]


def test_serve_migrates_loads_demo_and_serves_with_gunicorn(env, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen([TANGENT, "serve", "--port", str(port), "--demo"], env=env,
                                   stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    try:
        health = wait_until_healthy(base, process)
        assert health["database"] == "ok"
        assert health["revision"] == sorted(head_revisions())

        status, headers, body = get(f"{base}/")
        assert status == 200
        assert headers["Server"] == "gunicorn"
        csp = headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "'unsafe-inline'" not in csp
        assert b"<main" in body

        # A body over MAX_CONTENT_LENGTH, sent whole before the answer is read (as
        # urllib and many clients do): the 413 page arrives, not a connection reset.
        for size in (4 * 1024 * 1024 + 1, 5 * 1024 * 1024):
            request = urllib.request.Request(f"{base}/login", data=b"x" * size, method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=30)
            assert refused.value.code == 413
            assert b"Too large" in refused.value.read()

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=25) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    stdout = out_path.read_text()
    assert f"Tangent is running at {base}/" in stdout
    assert "Demo logins:" in stdout
    for email in ("learner@example.com", "editor@example.com", "admin@example.com"):
        assert email in stdout
    assert "Traceback" not in err_path.read_text()
    with pytest.raises(urllib.error.URLError):
        get(f"{base}/healthz")  # nothing is left listening


def test_serve_refuses_several_workers_without_redis(env):
    result = tangent("serve", "--workers", "2", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "more than one worker needs REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr
