"""Error responses: a page for browsers, a partial for htmx, never a stack trace.

Each status is produced the way a user would meet it (``lab_app`` allows 5
requests a minute and 2 KiB bodies, and has routes that fail like real views).
"""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, make_user

TITLES = {
    400: "Bad request",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}
LEAKS = ("Traceback", "secret-token-abc123", "sqlalchemy", "sqlite3", "psycopg",
         "IntegrityError", "OperationalError", 'File "')


def trigger(client, status: int, headers: dict):
    """Make ``client`` meet ``status`` the way a user would."""
    if status == 400:  # a form without its CSRF token
        return client.post("/login", data={"email": "a@example.org"}, headers=headers)
    if status == 403:
        return client.get("/_test/forbidden", headers=headers)
    if status == 404:
        return client.get("/no/such/page", headers=headers)
    if status == 405:
        return client.get("/logout", headers=headers)
    if status == 409:  # a unique constraint
        return client.get("/_test/unique", headers=headers)
    if status == 413:
        return client.post("/login", data={"bio": "x" * 5000}, headers=headers)
    if status == 429:
        for _ in range(5):
            client.get("/courses/")
        return client.get("/courses/", headers=headers)
    if status == 500:
        return client.get("/_test/boom", headers=headers)
    if status == 503:  # the database cannot be reached
        return client.get("/_test/unreachable", headers=headers)
    raise AssertionError(status)


def assert_no_leak(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, f"{leak!r} shown to the user"


@pytest.mark.parametrize("status", sorted(TITLES))
def test_error_is_a_full_page_for_normal_requests(lab_client, status):
    response = trigger(lab_client, status, {})
    assert response.status_code == status
    assert response.mimetype == "text/html"
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith("<!doctype html>")
    assert f"<title>{TITLES[status]} · Tangent</title>" in body
    assert f"<h1>{TITLES[status]}</h1>" in body
    assert '<main id="main"' in body and 'href="/"' in body
    assert "HX-Retarget" not in response.headers
    assert response.headers["Content-Security-Policy"]
    assert_no_leak(body)


@pytest.mark.parametrize("status", sorted(TITLES))
def test_error_is_a_small_partial_for_htmx_requests(lab_client, status):
    response = trigger(lab_client, status, {"HX-Request": "true"})
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<body" not in body
    assert f'id="error-{status}"' in body
    assert TITLES[status] in body
    assert len(body) < 500
    assert response.headers["HX-Retarget"] == "#flash"
    assert "HX-Request" in response.headers["Vary"]
    assert_no_leak(body)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "partial"])
def test_statuses_that_can_be_retried_say_when(lab_client, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    for status in (429, 503):
        response = trigger(lab_client, status, headers)
        assert int(response.headers["Retry-After"]) > 0
    assert "POST" in trigger(lab_client, 405, headers).headers["Allow"]


@pytest.mark.parametrize("header", ["HX-Boosted", "HX-History-Restore-Request"])
def test_boosted_and_history_requests_get_the_full_page(lab_client, header):
    response = lab_client.get("/no/such/page", headers={"HX-Request": "true", header: "true"})
    assert response.status_code == 404
    # They replace the whole page, so they need the page, not the fragment.
    assert "<title>Page not found · Tangent</title>" in response.get_data(as_text=True)
    assert "HX-Retarget" not in response.headers
    assert "HX-Request" in response.headers["Vary"]


def test_domain_error_message_reaches_the_user(lab_client):
    body = lab_client.get("/_test/forbidden").get_data(as_text=True)
    assert "Only the course owner can do that." in body


def test_foreign_key_violation_is_400(lab_client):
    response = lab_client.get("/_test/foreign-key")
    assert response.status_code == 400
    assert_no_leak(response.get_data(as_text=True))


def test_check_constraint_violation_is_400(lab_client):
    assert lab_client.get("/_test/check").status_code == 400


def test_unexpected_error_is_logged_for_the_operator(lab_client, caplog):
    response = lab_client.get("/_test/boom", headers={"X-Request-ID": "req-boom-1"})
    assert response.status_code == 500
    assert "req-boom-1" in response.get_data(as_text=True)  # the reference to quote
    (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.exc_info and "secret-token-abc123" in str(record.exc_info[1])


def test_app_keeps_working_after_database_errors(app, lab_app, lab_client, login):
    assert lab_client.get("/_test/unique").status_code == 409
    assert lab_client.get("/_test/foreign-key").status_code == 400
    with app.app_context():
        make_user("after@example.org")
    assert login(lab_client, "after@example.org", DEFAULT_PASSWORD).status_code == 303
    assert lab_client.get("/account/").status_code == 200


# --- the database is unreachable -------------------------------------------------


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert_no_leak(response.get_data(as_text=True))


def test_signed_in_pages_answer_503_when_the_database_is_down(down_app):
    client = down_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:1"
        session["sid"] = "a session token"
        session["_fresh"] = True
    for path in ("/", "/account/", "/courses/"):
        response = client.get(path)
        assert_unavailable(response)
        assert "<title>Temporarily unavailable · Tangent</title>" in response.get_data(
            as_text=True)
    partial = client.get("/account/", headers={"HX-Request": "true"})
    assert_unavailable(partial)
    assert "<html" not in partial.get_data(as_text=True)


def test_forms_answer_503_when_the_database_is_down(down_app, csrf_token):
    client = down_app.test_client()
    token = csrf_token(client)  # the form itself needs no database
    response = client.post("/login", data={
        "email": "ada@example.org", "password": DEFAULT_PASSWORD, "csrf_token": token,
    })
    assert_unavailable(response)
    response = client.post("/register", data={
        "email": "new@example.org", "password": DEFAULT_PASSWORD, "csrf_token": token,
    })
    assert_unavailable(response)


def test_healthz_answers_503_when_the_database_is_down(down_app):
    response = down_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert response.json["status"] == "unavailable"
    assert response.json["database"] == "unreachable"
    body = response.get_data(as_text=True)
    for secret in ("Traceback", "postgres@", "127.0.0.1", "nonexistent-tangent-folder"):
        assert secret not in body
