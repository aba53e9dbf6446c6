"""htmx helpers: when a fragment is wanted, Vary, and redirects."""

from __future__ import annotations

import pytest

from webapp import htmx


@pytest.mark.parametrize(
    ("headers", "partial"),
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
        ({"HX-Boosted": "true"}, False),
        ({"HX-Request": "false"}, False),
    ],
    ids=["plain", "htmx", "boosted", "history-restore", "boosted-header-only", "htmx-false"],
)
def test_is_partial(app, headers, partial):
    with app.test_request_context("/", headers=headers):
        assert htmx.is_partial() is partial


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
    ],
    ids=["plain", "htmx", "boosted", "history-restore"],
)
def test_render_gives_the_page_or_the_fragment_and_varies_on_hx_request(
    lab_client, headers, fragment
):
    response = lab_client.get("/_test/render", headers=headers)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'id="error-200"' in body
    assert ("<html" in body) is not fragment
    assert "HX-Request" in response.headers["Vary"]


def test_redirect_is_client_side_for_htmx_and_303_otherwise(lab_client):
    plain = lab_client.get("/_test/redirect")
    assert plain.status_code == 303
    assert plain.headers["Location"] == "/courses/"
    via_htmx = lab_client.get("/_test/redirect", headers={"HX-Request": "true"})
    assert via_htmx.status_code == 204
    assert via_htmx.headers["HX-Redirect"] == "/courses/"
    assert "Location" not in via_htmx.headers
