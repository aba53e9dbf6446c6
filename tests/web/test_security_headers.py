"""Security headers, cookies and the no-inline-code rule for templates and pages."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from tests.factories import DEFAULT_PASSWORD, make_user

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"

# (method, path, expected status): a page, JSON, a static file and error responses.
RESPONSES = [
    ("GET", "/", 200),
    ("GET", "/login", 200),
    ("GET", "/healthz", 200),
    ("GET", "/static/css/app.css", 200),
    ("GET", "/static/vendor/htmx-2.0.11.min.js", 200),
    ("GET", "/no-such-page", 404),
    ("GET", "/logout", 405),
    ("POST", "/login", 400),
]

SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
HANDLER_ATTR_RE = re.compile(r"""<[^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=""", re.IGNORECASE)
STYLE_ATTR_RE = re.compile(r"""<[^>]*\sstyle\s*=""", re.IGNORECASE)
STYLE_ELEMENT_RE = re.compile(r"<style\b", re.IGNORECASE)
JS_URL_RE = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        assert name not in directives, f"directive {name} given twice"
        directives[name] = values
    return directives


def set_cookie(response, name: str) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, f"expected one Set-Cookie for {name}, got {headers}"
    return headers[0]


def cookie_flags(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


def cookie_attr(header: str, attr: str) -> str | None:
    for part in header.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == attr.lower():
            return value
    return None


def inline_code_problems(html: str) -> list[str]:
    problems = []
    for attrs, body in SCRIPT_RE.findall(html):
        if body.strip():
            problems.append(f"inline <script> body: {body.strip()[:60]!r}")
        if "src" not in attrs.lower():
            problems.append(f"<script{attrs}> without src")
    problems += [f"event handler attribute {m}" for m in HANDLER_ATTR_RE.findall(html)]
    if STYLE_ATTR_RE.search(html):
        problems.append("style= attribute")
    if STYLE_ELEMENT_RE.search(html):
        problems.append("<style> element")
    if JS_URL_RE.search(html):
        problems.append("javascript: URL")
    return problems


@pytest.mark.parametrize(("method", "path", "status"), RESPONSES)
def test_every_response_carries_the_security_headers(client, method, path, status):
    with client.open(path, method=method) as response:
        assert response.status_code == status

    csp = csp_directives(response.headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    # Scripts only from this origin: no inline code, no eval, no wildcards or data: URLs.
    script_src = csp.get("script-src", csp["default-src"])
    assert script_src == ["'self'"]
    for directive in ("style-src", "connect-src", "img-src"):
        values = csp.get(directive, csp["default-src"])
        assert "'unsafe-inline'" not in values and "'unsafe-eval'" not in values
        assert "*" not in values
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]

    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in (
        "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"
    )
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation"):
        assert f"{feature}=()" in permissions
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    # Served over plain HTTP: no HSTS (it would pin browsers to a scheme we do not serve).
    assert "Strict-Transport-Security" not in response.headers


def test_pages_are_not_stored_in_shared_caches(client):
    assert "no-store" in client.get("/login").headers["Cache-Control"]


@pytest.mark.parametrize("path", ["/", "/healthz", "/static/css/app.css", "/no-such-page"])
def test_hsts_is_sent_when_served_over_https(https_app, path):
    with https_app.test_client().get(path, base_url="https://localhost") as response:
        assert response.status_code in (200, 404)
    hsts = response.headers["Strict-Transport-Security"]
    max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
    assert max_age >= 365 * 24 * 3600
    assert response.headers["Content-Security-Policy"]


def test_session_cookie_is_httponly_and_lax_but_not_secure_over_http(client):
    header = set_cookie(client.get("/login"), "tangent_session")
    flags = cookie_flags(header)
    assert "httponly" in flags
    assert cookie_attr(header, "SameSite") == "Lax"
    assert "secure" not in flags


def test_cookies_are_secure_over_https(https_app, csrf_token):
    with https_app.app_context():
        make_user("secure@example.org")
    client = https_app.test_client()
    base = "https://localhost"
    page = client.get("/login", base_url=base)
    session_header = set_cookie(page, "tangent_session")
    assert {"secure", "httponly"} <= cookie_flags(session_header)
    assert cookie_attr(session_header, "SameSite") == "Lax"

    token = csrf_token(client)
    response = client.post(
        "/login", base_url=base, headers={"Referer": f"{base}/login"},
        data={"email": "secure@example.org", "password": DEFAULT_PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 303
    assert {"secure", "httponly"} <= cookie_flags(set_cookie(response, "tangent_session"))
    device = set_cookie(response, "tangent_device")
    assert {"secure", "httponly"} <= cookie_flags(device)
    assert cookie_attr(device, "Path") == "/login"


def test_https_form_posted_from_another_site_is_refused(https_app, csrf_token):
    client = https_app.test_client()
    base = "https://localhost"
    token = csrf_token(client)
    response = client.post(
        "/login", base_url=base, headers={"Referer": "https://evil.example/login"},
        data={"email": "x@example.org", "password": "whatever1", "csrf_token": token},
    )
    assert response.status_code == 400


JINJA_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)


def test_template_files_contain_no_inline_script_handlers_or_styles():
    # Mail is read in mail programs, not under the site's CSP, and many of them keep only
    # inline styles: templates/email/ is exempt.
    files = sorted(path for path in TEMPLATES.rglob("*.html")
                   if path.parent.name != "email")
    assert len(files) >= 5
    problems = {
        str(path.relative_to(TEMPLATES)): found
        for path in files
        # Jinja expressions and tags are code, not markup (``url_for(..., one=1)``).
        if (found := inline_code_problems(JINJA_RE.sub("", path.read_text())))
    }
    assert problems == {}


def test_rendered_pages_contain_no_inline_script_handlers_or_styles(app, client, csrf_token, login):
    with app.app_context():
        make_user("pages@example.org")
    anonymous = ["/", "/login", "/register", "/courses/", "/no-such-page"]
    pages = {path: client.get(path).get_data(as_text=True) for path in anonymous}
    pages["/login (with errors)"] = client.post(
        "/login", data={"email": "nope", "password": "", "csrf_token": csrf_token(client)}
    ).get_data(as_text=True)
    assert login(client, "pages@example.org", DEFAULT_PASSWORD).status_code == 303
    for path in ["/", "/account/", "/courses/"]:
        pages[f"{path} (signed in)"] = client.get(path).get_data(as_text=True)
    problems = {
        path: found for path, html in pages.items() if (found := inline_code_problems(html))
    }
    assert problems == {}


def test_htmx_is_configured_by_meta_tag_without_eval_or_injected_styles(client):
    html = client.get("/").get_data(as_text=True)
    match = re.search(r'<meta name="htmx-config" content="([^"]*)"', html)
    assert match, "no htmx-config meta tag"
    config = json.loads(unescape(match.group(1)))
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["allowScriptTags"] is False
    assert re.search(r'<script src="/static/vendor/htmx-[\d.]+\.min\.js\?v=[0-9a-f]{12}"', html)
