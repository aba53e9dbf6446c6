"""Forms of the authoring pages. Limits mirror the services' (which enforce them again)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Length, Optional
from wtforms.widgets import HiddenInput

from webapp.services.authoring import MAX_SUMMARY, MAX_TITLE
from webapp.web.forms import LEVEL_CHOICES, IdField, version_field


class VersionedActionForm(FlaskForm):
    """A button that acts on the version the page showed (restore)."""

    version = version_field()


class CourseForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=MAX_TITLE)])
    summary = TextAreaField(
        "Summary", validators=[Optional(), Length(max=MAX_SUMMARY)],
        description=f"One or two sentences for the catalog (at most {MAX_SUMMARY} characters).",
    )
    level = SelectField("Level", choices=LEVEL_CHOICES, default="beginner")
    tags = StringField("Tags", validators=[Optional(), Length(max=400)],
                       description="Separated by commas, at most 8.")
    version = version_field(required=False)
    save = SubmitField("Save course details")


class TitleForm(FlaskForm):
    title = StringField("Title", validators=[DataRequired(), Length(max=MAX_TITLE)])


class MoveForm(FlaskForm):
    direction = StringField(validators=[Optional(), AnyOf(["up", "down"])])
    module_id = IdField(validators=[Optional()])


class LessonForm(FlaskForm):
    title = StringField("Lesson title", validators=[DataRequired(), Length(max=MAX_TITLE)])
    # The size limit is checked by the service in UTF-8 bytes, with a precise message.
    source = TextAreaField(
        "Lesson text (Markdown)",
        description="Markdown with the components Callout, Details, Figure, Quiz and Branch. "
        "Each “## heading” starts a new step. The preview shows exactly what learners see.",
    )
    version = version_field()
    # Set when the text started as an AI rewrite: saving it publishes that proposal.
    proposal = IdField(widget=HiddenInput(), validators=[Optional()])
    save = SubmitField("Save lesson")
    preview = SubmitField("Preview without saving")


class InviteForm(FlaskForm):
    email = EmailField("Email address of an editor", validators=[DataRequired(), Length(max=254)])
    invite = SubmitField("Invite as co-editor")
