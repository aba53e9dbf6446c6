"""Forms of the learner pages. Every POST carries the CSRF token (fields or htmx header)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import AnyOf, Length, Optional

from webapp.services.progress import NOTE_MAX
from webapp.web.forms import version_field


class NoteForm(FlaskForm):
    source = TextAreaField(
        "Your private note", validators=[Length(max=NOTE_MAX)],
        description="Markdown. Only you can see it. Saved as you type (with JavaScript) "
        "or when you press Save.",
    )
    # 0: there was no note yet.
    version = version_field(minimum=0, required=False)
    overwrite = SubmitField("Keep my text")
    save = SubmitField("Save note")


class FocusForm(FlaskForm):
    focus = HiddenField(validators=[AnyOf(["0", "1"])])
    section = HiddenField(validators=[Optional(), Length(max=120)])
