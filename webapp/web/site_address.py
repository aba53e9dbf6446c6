"""The site's own address, for links that leave it (mail)."""

from __future__ import annotations

from flask import current_app, has_request_context, request

from webapp.settings import get_settings

FALLBACK_BASE_URL = "http://127.0.0.1:5000"


def site_url() -> str:
    """TANGENT_BASE_URL when set; else the address this request came to (or, outside a
    request, http://127.0.0.1:5000). Set it in production: a request's Host header is the
    client's to choose."""
    configured = get_settings(current_app).base_url
    if configured:
        return configured
    if has_request_context():
        return request.host_url.rstrip("/")
    return FALLBACK_BASE_URL
