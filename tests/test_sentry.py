"""Errors reach Sentry when SENTRY_DSN is set (a fake Sentry server on loopback)."""

from __future__ import annotations

import gzip
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp import create_app


class _FakeSentry(BaseHTTPRequestHandler):
    envelopes: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        type(self).envelopes.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_sentry():
    _FakeSentry.envelopes = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeSentry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://publickey@127.0.0.1:{server.server_address[1]}/1"
    server.shutdown()
    server.server_close()


def test_unhandled_error_is_sent_to_sentry_without_personal_data(
    tmp_path_factory, fake_sentry, app_settings, reset_schema
):
    import sentry_sdk

    app = create_app(app_settings(
        sentry_dsn=fake_sentry,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('sentry') / 's.db'}",
    ))
    reset_schema(app)

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom-for-sentry")

    try:
        cookie = f"tangent_session={uuid.uuid4().hex}"
        response = app.test_client().get("/boom", headers={"Cookie": cookie})
        assert response.status_code == 500
        assert "kaboom" not in response.get_data(as_text=True)
        sentry_sdk.flush(timeout=5)
    finally:
        sentry_sdk.get_client().close()

    events = [line for body in _FakeSentry.envelopes for line in body.split(b"\n")
              if b"kaboom-for-sentry" in line]
    assert events, "the error never reached the fake Sentry server"
    event = json.loads(events[0])
    assert event["exception"]["values"][0]["type"] == "RuntimeError"
    # The cookie value is made at run time so the test's own source (sent as
    # stack-frame context) cannot contain it.
    assert cookie.encode() not in b"".join(_FakeSentry.envelopes)
