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


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["plain", "htmx"])
def test_render_with_one_template_serves_it_to_everyone_and_still_varies(lab_client, headers):
    response = lab_client.get("/_test/fragment", headers=headers)
    assert response.status_code == 201
    body = response.get_data(as_text=True)
    assert 'id="error-201"' in body and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]


def test_partial_or_redirect_gives_htmx_the_fragment_and_others_a_redirect(lab_client):
    fragment = lab_client.get("/_test/partial-or-redirect", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert 'id="error-200"' in fragment.get_data(as_text=True)
    assert "HX-Request" in fragment.headers["Vary"]
    plain = lab_client.get("/_test/partial-or-redirect")
    assert plain.status_code == 303
    assert plain.headers["Location"] == "/courses/"
    boosted = lab_client.get("/_test/partial-or-redirect",
                             headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 204
    assert boosted.headers["HX-Redirect"] == "/courses/"
