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
