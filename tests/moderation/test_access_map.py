"""Every moderation page and action is for moderators and admins only: the list is
derived from the URL map (any route added later under /moderation is covered too),
tried with GET and with a POST that carries a valid CSRF token, as an anonymous visitor,
a learner, a course editor and a moderator."""

from __future__ import annotations

import re

import pytest

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Channel, ChannelMessage

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
VALUES = {"action": "hide", "user_id": 1, "item_id": 1, "appeal_id": 1}


def moderation_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every rule under /moderation, with a sample for each argument."""
    adapter = app.url_map.bind("localhost")
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/moderation"):
            continue
        path = adapter.build(rule.endpoint, {k: VALUES.get(k, 1) for k in rule.arguments})
        routes += [(method, path) for method in sorted(rule.methods & {"GET", "POST"})]
    return sorted(set(routes))


@pytest.fixture
def clients(app, make_user, make_course, login):
    with app.app_context():
        make_user("boss@example.org", role="admin")  # user 1: /moderation/people/1 exists
        editor = make_user("ed@example.org", role="editor")
        make_course("Loops", owner=editor)
        make_user("mod@example.org", role="moderator")
        make_user("learner@example.org")
        channel = Channel(slug="general-test")
        db.session.add(channel)
        db.session.flush()
        db.session.add(ChannelMessage(channel_id=channel.id, author_id=1, body="x",
                                      body_html="<p>x</p>"))
        db.session.commit()
    out = {"anonymous": app.test_client()}
    for name, email in (("learner", "learner@example.org"), ("editor", "ed@example.org"),
                        ("moderator", "mod@example.org"), ("admin", "boss@example.org")):
        client = app.test_client()
        assert login(client, email, DEFAULT_PASSWORD).status_code == 303
        out[name] = client
    return out


def _token(client) -> str:
    page = client.get("/dashboard").get_data(as_text=True)
    return CSRF_RE.search(page).group(1)


def test_the_map_covers_the_moderation_area(app):
    paths = {path for _method, path in moderation_routes(app)}
    assert {"/moderation", "/moderation/items/1", "/moderation/items/1/hide",
            "/moderation/people/1", "/moderation/appeals/1", "/moderation/bulk"} <= paths


def test_every_moderation_route_is_for_moderators_and_admins_only(app, clients):
    routes = moderation_routes(app)
    tokens = {name: _token(c) for name, c in clients.items() if name != "anonymous"}
    for method, path in routes:
        anonymous = clients["anonymous"].open(path, method=method)
        if method == "GET":
            assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"], \
                (method, path, anonymous.status_code)
        else:  # no session, no CSRF token: refused before anything else
            assert anonymous.status_code in (302, 400), (method, path, anonymous.status_code)
        for name in ("learner", "editor"):
            data = {"csrf_token": tokens[name]} if method == "POST" else None
            response = clients[name].open(path, method=method, data=data)
            assert response.status_code == 403, (name, method, path, response.status_code)
        for name in ("moderator", "admin"):
            data = {"csrf_token": tokens[name]} if method == "POST" else None
            response = clients[name].open(path, method=method, data=data)
            # Allowed in: the page, or the page's own answer to sample ids and empty forms.
            assert response.status_code not in (302, 401, 403, 500), \
                (name, method, path, response.status_code)
