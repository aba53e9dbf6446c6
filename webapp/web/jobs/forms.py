"""The course-draft request form. Limits mirror the job service's (which checks again)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from webapp.services.jobs import TOPIC_MAX, TOPIC_MIN
from webapp.web.forms import LEVEL_CHOICES, strip


class DraftForm(FlaskForm):
    topic = StringField(
        "Topic", filters=[strip],
        validators=[DataRequired(message="Say what the course should be about."),
                    Length(min=TOPIC_MIN, max=TOPIC_MAX,
                           message=f"Use {TOPIC_MIN} to {TOPIC_MAX} characters.")],
        description="What the course teaches, e.g. “Sourdough bread for beginners”.",
    )
    level = SelectField("Level", choices=LEVEL_CHOICES, default="beginner")
    submit = SubmitField("Draft the course")


class RetryForm(FlaskForm):
    """Nothing but the CSRF token: the button confirms the retry."""
