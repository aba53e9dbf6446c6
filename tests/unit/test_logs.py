"""The JSON log format: one object per line, with the extras a caller passed."""

from __future__ import annotations

import json
import logging
import os
import sys

from webapp.logs import JsonFormatter


def _record(**kwargs) -> logging.LogRecord:
    record = logging.getLogger("webapp.test").makeRecord(
        "webapp.test", logging.WARNING, __file__, 1, "saved %s", ("lesson\nwith a newline",),
        kwargs.pop("exc_info", None), extra=kwargs,
    )
    record.request_id = "req-1"
    return record


def test_one_json_object_per_line_with_extras():
    line = JsonFormatter().format(_record(course_id=7, duration_ms=1.5))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "webapp.test"
    assert entry["message"] == "saved lesson\nwith a newline"
    assert entry["request_id"] == "req-1"
    assert (entry["course_id"], entry["duration_ms"]) == (7, 1.5)
    assert entry["time"].endswith("+00:00")
    assert entry["pid"] == os.getpid()
    # LogRecord internals are not extras.
    assert not {"args", "msg", "levelno", "pathname", "lineno"} & set(entry)


def test_exceptions_stay_on_the_line():
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        line = JsonFormatter().format(_record(exc_info=sys.exc_info(), obj=object()))
    assert "\n" not in line
    entry = json.loads(line)
    assert "RuntimeError: boom" in entry["exception"]
    assert entry["obj"].startswith("<object object")  # unknown types are stringified
