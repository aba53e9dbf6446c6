"""Security headers, the Content-Security-Policy and permission decorators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import Flask, abort
from flask_login import current_user

from webapp.extensions import login_manager
from webapp.models.users import EDITOR_ROLES
from webapp.services.exceptions import PermissionDenied

# The one CSP. No inline script or style anywhere: htmx is configured by a meta
# tag with indicator styles and eval turned off.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "media-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=63072000; includeSubDomains"


def install_security_headers(app: Flask, *, https: bool) -> None:
    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if response.mimetype == "text/html":
            # Pages can show private data: never store them in shared caches.
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def require_role(role: str, message: str | None = None):
    """Check the signed-in user for ``role`` ("editor": editors, moderators and admins;
    "moderator": moderators and admins; "admin").

    Returns None when allowed and the sign-in redirect for anonymous users; a
    signed-in user without the role gets a 403 (with ``message`` when given).
    """
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    allowed = (current_user.is_admin if role == "admin"
               else current_user.is_moderator if role == "moderator"
               else current_user.is_editor)
    if not allowed:
        if message:
            raise PermissionDenied(message)
        abort(403)
    return None


def role_required(role: str, message: str | None = None) -> Callable:
    """Allow a view only to signed-in users with ``role`` (see ``require_role``)."""
    if role not in EDITOR_ROLES:
        raise ValueError(f"role_required: {role!r} is not a role above learner")

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            refused = require_role(role, message)
            return refused if refused is not None else view(*args, **kwargs)

        return wrapped

    return decorator
