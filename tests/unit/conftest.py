"""Fixtures for tests that run the `tangent` command as real processes."""

from __future__ import annotations

import pytest

from tests.processes import process_env


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """The process environment minus Tangent's settings, on a fresh instance folder
    (under this test's ``tmp_path``, so parallel workers never share one)."""
    return process_env(tmp_path / "instance")
