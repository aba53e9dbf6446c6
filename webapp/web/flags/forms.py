"""The flag form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from webapp.services.community.flags import NOTE_MAX, REASON_LABELS


class FlagForm(FlaskForm):
    reason = RadioField(
        "Why should the moderators look at this?",
        choices=[SelectChoice(key, label) for key, label in REASON_LABELS.items()],
        validators=[InputRequired(message="Choose a reason.")])
    note = TextAreaField(
        "Note for the moderators (optional)", validators=[Length(max=NOTE_MAX)],
        description=f"At most {NOTE_MAX} characters. Only moderators read it.")
