"""Forms and form helpers that several blueprints share."""

from __future__ import annotations

from flask import abort
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from webapp.models.courses import LEVELS
from webapp.models.moderation import ACTION_REASONS
from webapp.services.moderation import content, notices
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


class ModerationActionForm(FlaskForm):
    """A content action on a moderation item (the moderators' item pages and the course
    editors' moderation tab): a reason from the list, a note for the author, and the new
    text of an edit."""

    reason = SelectField(
        "Reason", choices=[SelectChoice("", "Choose a reason…"),
                           *(SelectChoice(key, notices.REASON_LABELS[key])
                             for key in ACTION_REASONS)],
        validators=[InputRequired(message="Choose a reason.")],
        description="The author reads this reason.")
    note = TextAreaField(
        "Note for the author", validators=[Length(max=content.NOTE_MAX)],
        description=f"In your own words, at most {content.NOTE_MAX} characters. Needed "
                    "with “Another reason” and for an edit.")
    body = TextAreaField("New text", description="Markdown, as the author wrote it.")
