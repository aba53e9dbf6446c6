"""Forms of the learner pages. Every POST carries the CSRF token (fields or htmx header)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, Length, NumberRange, Optional
from wtforms.widgets import HiddenInput

from webapp.services.progress import NOTE_MAX


class ActionForm(FlaskForm):
    """A button that posts nothing but the CSRF token (enroll, bookmark, mark as done …)."""


class NoteForm(FlaskForm):
    source = TextAreaField(
        "Your private note", validators=[Length(max=NOTE_MAX)],
        description="Markdown. Only you can see it. Saved as you type (with JavaScript) "
        "or when you press Save.",
    )
    # The version the text was loaded at (0: no note yet); a stale one is a conflict.
    version = IntegerField(widget=HiddenInput(), validators=[Optional(), NumberRange(min=0)])
    overwrite = SubmitField("Keep my text")
    save = SubmitField("Save note")


class FocusForm(FlaskForm):
    focus = HiddenField(validators=[AnyOf(["0", "1"])])
    section = HiddenField(validators=[Optional(), Length(max=120)])
