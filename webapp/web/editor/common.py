"""What the authoring views share: the acting editor, form errors, action buttons."""

from __future__ import annotations

from flask_login import current_user

from webapp.services.exceptions import DomainError
from webapp.web.forms import ActionForm, valid_or_400


def user():
    """The signed-in editor (a ``User``; the blueprint lets only editors in)."""
    return current_user._get_current_object()


def form_error(form, exc: DomainError, default_field: str) -> None:
    """Show a service's error next to the field it names (``default_field`` otherwise)."""
    name = exc.field if exc.field and exc.field in form else default_field
    form[name].errors = [*form[name].errors, exc.message]


def check_action(form_class=ActionForm):
    """The posted button form (CSRF token, maybe a version); a 400 when it is not valid."""
    return valid_or_400(form_class())
