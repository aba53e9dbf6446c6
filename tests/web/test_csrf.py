"""CSRF: every state-changing route refuses a request without this session's token."""

from __future__ import annotations

import pytest

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import User

KNOWN_POST_ROUTES = {"/login", "/logout", "/register", "/account/profile", "/account/password"}
CSRF_MESSAGE = "Your form expired or was not sent from this site"


def post_routes(app) -> list[str]:
    adapter = app.url_map.bind("localhost")
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods:
            paths.append(adapter.build(rule.endpoint, dict.fromkeys(rule.arguments, 1)))
    return sorted(paths)


def test_post_routes_are_discovered(app):
    assert set(post_routes(app)) >= KNOWN_POST_ROUTES


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_post_route_without_a_token_is_refused(app, client, signed_in, login):
    with app.app_context():
        make_user("csrf@example.org")
    if signed_in:
        assert login(client, "csrf@example.org", DEFAULT_PASSWORD).status_code == 303
    refused = {}
    for path in post_routes(app):
        response = client.post(path, data={"email": "csrf@example.org", "display_name": "X"})
        refused[path] = (response.status_code, CSRF_MESSAGE in response.get_data(as_text=True))
    assert refused == dict.fromkeys(post_routes(app), (400, True))
    if signed_in:  # nothing happened: still signed in, name unchanged
        assert client.get("/account/").status_code == 200
        with app.app_context():
            assert db.session.query(User).one().display_name == "csrf"


def test_token_from_another_session_is_refused(app, client, csrf_token):
    other = app.test_client()
    token = csrf_token(other)
    client.get("/login")
    response = client.post("/register", data={
        "email": "stolen@example.org", "password": DEFAULT_PASSWORD, "csrf_token": token,
    })
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(User).count() == 0


def test_htmx_header_token_is_accepted(app, htmx_client, csrf_token):
    with app.app_context():
        make_user("htmx@example.org")
    token = csrf_token(htmx_client)
    response = htmx_client.post(
        "/login", data={"email": "htmx@example.org", "password": DEFAULT_PASSWORD},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 303
    token = csrf_token(htmx_client, "/account/")
    response = htmx_client.post(
        "/account/profile", data={"display_name": "Via htmx"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 303
    assert "Via htmx" in htmx_client.get("/account/").get_data(as_text=True)


def test_htmx_request_without_token_gets_the_error_partial(htmx_client):
    htmx_client.get("/login")
    response = htmx_client.post("/login", data={"email": "a@example.org", "password": "x"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert CSRF_MESSAGE in body
    assert "<html" not in body
    assert response.headers["HX-Retarget"] == "#flash"
