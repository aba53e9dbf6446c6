"""The first commands on a new instance work without `tangent db upgrade` first, and a
schema older than the code stops a command with the one line that fixes it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("tangent")
TANGENT = str(_SCRIPT) if _SCRIPT.exists() else shutil.which("tangent")
pytestmark = pytest.mark.skipif(TANGENT is None,
                                reason="the tangent console script is not installed")


@pytest.fixture
def run(tmp_path):
    """``run("users", "list")``: the real command on a fresh SQLite instance folder."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TANGENT_", "FLASK_"))
           and key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SENTRY_DSN"}}
    env["TANGENT_INSTANCE_PATH"] = str(tmp_path / "instance")
    env["TANGENT_DEMO_PASSWORD"] = "demo passphrase for tests"

    def run_(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([TANGENT, *args], env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120, check=False)

    return run_


def test_users_create_on_a_new_instance_creates_the_schema_first(run):
    result = run("users", "create", "head@school.example", "--role", "admin",
                 "--password", "a long enough passphrase")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "Created the database schema" in result.stderr
    assert "head@school.example" in result.stdout
    listed = run("users", "list")
    assert listed.returncode == 0 and "head@school.example" in listed.stdout
    assert "Created the database schema" not in listed.stderr


def test_demo_on_a_new_instance_loads(run):
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert "learner@example.com" in result.stdout


def test_an_old_schema_stops_a_command_with_what_to_run(run):
    assert run("db", "upgrade", "0005_jobs").returncode == 0
    result = run("users", "list")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the database schema is older than this version of Tangent: "
        "run `tangent db upgrade` first")
