"""Request size (413) and the global per-IP rate limit (429), behind proxies and on Redis.

``lab_app`` allows 5 requests a minute per IP and bodies up to 2 KiB.
"""

from __future__ import annotations

import io
import uuid

from webapp import create_app
from webapp.extensions import db
from webapp.models import SecurityEvent


def retry_after(response) -> int:
    value = int(response.headers["Retry-After"])
    assert 0 < value <= 60
    return value


def test_body_over_the_limit_gets_the_413_page(lab_client):
    response = lab_client.post("/login", data={"email": "a@example.org", "password": "x" * 3000})
    assert response.status_code == 413
    body = response.get_data(as_text=True)
    assert "<title>Too large · Tangent</title>" in body
    assert "larger than this site accepts" in body


def test_upload_over_the_limit_gets_413(lab_client):
    response = lab_client.post(
        "/account/profile",
        data={"file": (io.BytesIO(b"x" * 4096), "big.bin")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 413


def test_body_under_the_limit_is_processed(lab_client):
    # The same form, small enough: it reaches the CSRF check instead (400, not 413).
    response = lab_client.post("/login", data={"email": "a@example.org", "password": "x" * 500})
    assert response.status_code == 400


def test_exceeding_the_rate_limit_gets_the_429_page_with_retry_after(lab_client):
    assert [lab_client.get("/").status_code for _ in range(5)] == [200] * 5
    response = lab_client.get("/")
    assert response.status_code == 429
    retry_after(response)
    body = response.get_data(as_text=True)
    assert "<title>Too many requests · Tangent</title>" in body
    assert response.headers["Content-Security-Policy"]


def test_rate_limit_counts_requests_to_every_page_together(lab_client):
    statuses = [lab_client.get(path).status_code
                for path in ["/", "/login", "/register", "/courses/", "/"]]
    assert statuses == [200] * 5
    assert lab_client.get("/courses/").status_code == 429


def test_static_files_and_healthz_are_exempt(lab_client):
    for _ in range(8):
        with lab_client.get("/static/css/app.css") as response:
            assert response.status_code == 200
        assert lab_client.get("/healthz").status_code == 200
    # The exempt requests used none of the allowance.
    assert [lab_client.get("/").status_code for _ in range(5)] == [200] * 5


def test_limit_is_per_client_address(lab_app):
    first = lab_app.test_client()
    other = lab_app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    for _ in range(5):
        first.get("/")
    assert first.get("/").status_code == 429
    assert other.get("/").status_code == 200


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(proxy_app):
    client = proxy_app.test_client()
    alice = {"X-Forwarded-For": "203.0.113.1"}
    bob = {"X-Forwarded-For": "203.0.113.2"}
    assert [client.get("/", headers=alice).status_code for _ in range(5)] == [200] * 5
    assert client.get("/", headers=alice).status_code == 429
    assert client.get("/", headers=bob).status_code == 200


def test_without_trusted_proxies_x_forwarded_for_is_ignored(lab_client):
    # Otherwise anyone could dodge the limit by inventing a new header per request.
    for n in range(5):
        assert lab_client.get("/", headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code \
            == 200
    assert lab_client.get("/", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 429


def test_login_attempts_record_the_forwarded_client_address(proxy_app, csrf_token):
    client = proxy_app.test_client()
    token = csrf_token(client)
    client.post("/login", headers={"X-Forwarded-For": "203.0.113.5"},
                data={"email": "nobody@example.org", "password": "wrong-pass",
                      "csrf_token": token})
    with proxy_app.app_context():
        event = db.session.query(SecurityEvent).filter_by(kind="login_failed").one()
        assert event.ip == "203.0.113.5"


def test_each_app_applies_its_own_rate_limit_setting(app, app_settings):
    limited = create_app(app_settings(
        database_url=app.config["SQLALCHEMY_DATABASE_URI"],
        rate_limit="5 per minute",
    ))
    try:
        client = limited.test_client()
        assert [client.get("/").status_code for _ in range(6)] == [200] * 5 + [429]
    finally:
        with limited.app_context():
            db.engine.dispose()


def test_two_app_instances_on_one_redis_share_one_limit(make_app, redis_url, reset_limits):
    prefix = f"tangent-shared-{uuid.uuid4().hex[:8]}"
    settings = {"redis_url": redis_url, "rate_limit": "3 per minute",
                "rate_limit_key_prefix": prefix}
    first, second = make_app(**settings), make_app(**settings)
    reset_limits(first)
    a, b = first.test_client(), second.test_client()
    assert [a.get("/").status_code, a.get("/").status_code] == [200, 200]
    assert b.get("/").status_code == 200
    response = b.get("/")
    assert response.status_code == 429
    retry_after(response)
    assert a.get("/").status_code == 429


def test_without_redis_each_process_counts_on_its_own(make_app):
    settings = {"redis_url": None, "rate_limit": "3 per minute"}
    a, b = make_app(**settings).test_client(), make_app(**settings).test_client()
    assert [a.get("/").status_code for _ in range(2)] == [200, 200]
    assert [b.get("/").status_code for _ in range(2)] == [200, 200]
