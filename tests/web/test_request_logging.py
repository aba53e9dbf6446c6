"""Request ids (X-Request-ID) and JSON log lines that never carry passwords."""

from __future__ import annotations

import json
import re

import pytest

PASSWORD = "Pa55-must-never-be-logged"
REQUEST_ID_RE = re.compile(r"^[0-9a-f]{32}$")


def log_lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize("path", ["/", "/healthz", "/static/css/app.css", "/no-such-page"])
def test_valid_request_id_is_echoed(client, path):
    with client.get(path, headers={"X-Request-ID": "lb-7f3a.2:x_9"}) as response:
        assert response.headers["X-Request-ID"] == "lb-7f3a.2:x_9"


@pytest.mark.parametrize(
    "incoming",
    [None, "", "x" * 65, "has spaces in it", "semi;colon", "<script>"],
    ids=["absent", "empty", "too-long", "spaces", "semicolon", "markup"],
)
def test_missing_or_invalid_request_id_is_replaced(client, incoming):
    headers = {} if incoming is None else {"X-Request-ID": incoming}
    first = client.get("/", headers=headers).headers["X-Request-ID"]
    second = client.get("/", headers=headers).headers["X-Request-ID"]
    assert REQUEST_ID_RE.match(first) and REQUEST_ID_RE.match(second)
    assert first != second


def test_error_page_shows_the_request_id_as_a_reference(client):
    body = client.get("/no-such-page", headers={"X-Request-ID": "ref-404-abc"}).get_data(
        as_text=True)
    assert "ref-404-abc" in body


def test_json_log_lines_carry_the_request_id_and_never_the_password(csrf_token, json_logs):
    with json_logs(routes=True) as (logged_app, stream):
        client = logged_app.test_client()
        token = csrf_token(client)
        client.post("/login", headers={"X-Request-ID": "req-login-1"}, data={
            "email": "nobody@example.org", "password": PASSWORD, "csrf_token": token,
        })
        client.post("/register", headers={"X-Request-ID": "req-register-1"}, data={
            "email": "new@example.org", "password": PASSWORD, "csrf_token": token,
        })
        client.post("/account/password", data={
            "current_password": PASSWORD, "new_password": PASSWORD + "2", "csrf_token": token,
        })
        client.get("/_test/boom", headers={"X-Request-ID": "req-boom-1"})

    raw = stream.getvalue()
    assert PASSWORD not in raw
    lines = log_lines(stream)  # every line is one JSON object
    assert {"time", "level", "logger", "message", "request_id"} <= set(lines[0])

    access = {(line["method"], line["path"]): line for line in lines
              if line["logger"] == "webapp.access"}
    login_line = access[("POST", "/login")]
    assert login_line["request_id"] == "req-login-1"
    assert login_line["status"] == 400
    assert access[("POST", "/register")]["request_id"] == "req-register-1"

    (error,) = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == "req-boom-1"
    assert "RuntimeError" in error["exception"]
