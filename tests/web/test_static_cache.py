"""Static files under hashed names: pages link ``/static/<file>?v=<sha256 prefix>``, and
such a URL is cacheable for a year (the name changes when the content does)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from webapp import STATIC_IMMUTABLE, static_version

STATIC = Path(__file__).resolve().parents[2] / "static"


def version_of(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def test_pages_link_static_files_by_content_hash(client):
    page = client.get("/login").get_data(as_text=True)
    links = re.findall(r'(?:href|src)="/static/([^"?]+)\?v=([0-9a-f]{12})"', page)
    assert ("css/app.css", version_of("css/app.css")) in links
    assert all(version == version_of(name) for name, version in links)
    assert not re.search(r'(?:href|src)="/static/[^"?]+"', page)  # none without its hash


def test_hashed_url_is_cached_for_a_year(client):
    url = f"/static/css/app.css?v={version_of('css/app.css')}"
    with client.get(url) as response:
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == STATIC_IMMUTABLE
        assert "Expires" not in response.headers
        etag = response.headers["ETag"]
    with client.get(url, headers={"If-None-Match": etag}) as response:
        assert response.status_code == 304
        assert response.headers["Cache-Control"] == STATIC_IMMUTABLE


def test_unhashed_or_stale_urls_keep_the_short_default(client):
    for url in ("/static/css/app.css", "/static/css/app.css?v=000000000000"):
        with client.get(url) as response:
            assert response.status_code == 200
            assert "immutable" not in response.headers["Cache-Control"]
            assert "max-age=3600" in response.headers["Cache-Control"]


def test_missing_files_have_no_version_and_stay_404(app, client):
    assert static_version(app, "css/no-such.css") is None
    assert static_version(app, "../pyproject.toml") is None  # outside the folder
    assert client.get("/static/css/no-such.css?v=000000000000").status_code == 404
