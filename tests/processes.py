"""Running the installed `tangent` command as real processes (not fixtures: constants for
``skipif`` and plain steps). The ``env`` fixture (tests/unit/conftest.py) gives each test
an environment with an instance folder of its own."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("tangent")
TANGENT = str(_SCRIPT) if _SCRIPT.exists() else shutil.which("tangent")
# How often the waits below look again: short, since every look is cheap.
POLL_SECONDS = 0.05


def process_env(instance: Path) -> dict[str, str]:
    """This process's environment minus Tangent's settings, on the instance folder
    ``instance``."""
    cleaned = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("TANGENT_", "FLASK_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "SENTRY_DSN", "LOG_FORMAT",
                        "LOG_LEVEL"}
    }
    cleaned["TANGENT_INSTANCE_PATH"] = str(instance)
    return cleaned


def tangent(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([TANGENT, *args], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice, so parallel workers do not
    pick the same one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def wait_for(predicate, timeout: float, what: str):
    """The first truthy value of ``predicate()``, looked at every ``POLL_SECONDS``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(POLL_SECONDS)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


def wait_until_healthy(base: str, process: subprocess.Popen, timeout: float = 30) -> dict:
    """The JSON of ``base``/healthz once it answers 200; fails if ``process`` exits first."""

    def healthy():
        if process.poll() is not None:
            pytest.fail(f"tangent serve exited early with status {process.returncode}")
        try:
            status, _, body = get(f"{base}/healthz")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None
        return json.loads(body) if status == 200 else None

    return wait_for(healthy, timeout, f"{base}/healthz to answer 200")
