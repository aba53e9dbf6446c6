"""What every request pays for, kept small (issue: speed of content pages)."""

from __future__ import annotations

import pytest

from tests.factories import make_course


@pytest.mark.parametrize("path", ["/", "/courses/", "/courses/lean", "/healthz"])
def test_anonymous_pages_without_forms_set_no_session_cookie(app, client, path):
    with app.app_context():
        make_course("Lean")
    response = client.get(path)
    assert response.status_code == 200
    assert not response.headers.getlist("Set-Cookie"), path


def test_pages_with_forms_still_get_their_csrf_session(client):
    response = client.get("/login")
    assert any(h.startswith("tangent_session=") for h in response.headers.getlist("Set-Cookie"))


def test_signed_in_pages_still_send_the_htmx_csrf_header(app, client, login):
    from tests.factories import make_user

    with app.app_context():
        make_user("ada@example.org")
    login(client, "ada@example.org")
    assert 'data-hx-headers=\'{"X-CSRFToken": "' in client.get("/courses/").get_data(as_text=True)


def test_serving_freezes_the_start_up_objects(app, monkeypatch):
    import gc

    from webapp import wsgi_server

    frozen = []
    monkeypatch.setattr(wsgi_server._Gunicorn, "run",
                        lambda _self: frozen.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        wsgi_server.serve_app(app, host="127.0.0.1", port=1, workers=1, threads=1)
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] > 10_000


def test_counting_requests_starts_no_threads(make_app, monkeypatch):
    import threading

    from webapp.extensions import LocalLimitStorage

    application = make_app(redis_url=None)  # the in-process storage
    limiter = application.extensions["tangent.limiter"]
    client = application.test_client()
    client.get("/courses/")
    assert isinstance(limiter.storage, LocalLimitStorage)
    started = []
    original = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start",
                        lambda self: (started.append(self), original(self))[1])
    for _ in range(30):
        assert client.get("/courses/").status_code == 200
    assert started == []


def test_expired_rate_limit_counters_are_swept_inline(monkeypatch):
    from webapp import extensions

    storage = extensions.LocalLimitStorage("tangent-memory://")
    storage.incr("gone", expiry=0.001)
    storage.incr("kept", expiry=60)
    import time

    time.sleep(0.01)
    monkeypatch.setattr(storage, "_next_sweep", 0.0)
    storage.incr("other", expiry=60)
    assert "gone" not in storage.storage and storage.storage["kept"] == 1
