"""Forms and form helpers that several blueprints share."""

from __future__ import annotations

from flask import abort
from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional
from wtforms.widgets import HiddenInput

from webapp.models.courses import LEVELS
from webapp.web.edge import MAX_ID

LEVEL_CHOICES = [SelectChoice(level, level.capitalize()) for level in LEVELS]
FORM_EXPIRED = "The form expired; reload the page and try again."


class ActionForm(FlaskForm):
    """A button that posts nothing but the CSRF token (enroll, publish, delete, restore …)."""


class IdField(IntegerField):
    """A row id or version: a number the id columns can hold (see ``webapp.web.edge``)."""

    def process_formdata(self, valuelist) -> None:
        super().process_formdata(valuelist)
        # Out of range, the number never becomes the field's data, so it cannot reach a
        # query even where a view reads the field without validating the form.
        if self.data is not None and not 0 <= self.data <= MAX_ID:
            self.data = None
            raise ValueError("No such item.")


def version_field(*, minimum: int = 1, required: bool = True) -> IdField:
    """The hidden version a page was loaded at: a stale one is a conflict, not a lost update."""
    return IdField(widget=HiddenInput(), validators=[
        DataRequired() if required else Optional(), NumberRange(min=minimum)])


def strip(value: str | None) -> str | None:
    """A field filter: surrounding white space is not part of what was meant."""
    return value.strip() if isinstance(value, str) else value


def submitted(form: FlaskForm) -> bool:
    """True when the posted form is valid. Field errors stay on the form; a bad CSRF
    token is a 400 like everywhere else."""
    if form.validate_on_submit():
        return True
    if "csrf_token" in form.errors:
        abort(400, FORM_EXPIRED)
    return False


def valid_or_400(form: FlaskForm) -> FlaskForm:
    """The posted form when it is valid; a 400 otherwise (buttons have nothing to correct)."""
    if not form.validate_on_submit():
        abort(400, FORM_EXPIRED)
    return form
