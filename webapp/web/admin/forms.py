from flask_wtf import FlaskForm
from wtforms import DateField, RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from webapp.models.users import ROLES
from webapp.services.accounts import STATUS_REASON_MAX

DURATIONS = [SelectChoice(value, label) for value, label in (
    ("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("custom", "Until a date"),
    ("lifted", "Until an admin lifts it"))]


class RoleForm(FlaskForm):
    role = SelectField("New role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])


class SuspendForm(FlaskForm):
    duration = RadioField("How long", choices=DURATIONS, default="1")
    until = DateField("Date", validators=[Optional()],
                      description="With “Until a date”: the suspension ends at the start "
                                  "of that day, in your time zone.")
    reason = TextAreaField(
        "Reason", validators=[DataRequired(message="Give a reason: the user reads it when "
                                                   "they try to sign in."),
                              Length(max=STATUS_REASON_MAX)],
        description="Shown to the user when they try to sign in.")


class BanForm(FlaskForm):
    reason = TextAreaField(
        "Reason", validators=[DataRequired(message="Give a reason: the user reads it when "
                                                   "they try to sign in."),
                              Length(max=STATUS_REASON_MAX)],
        description="Shown to the user when they try to sign in.")


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token: the button is the confirmation."""
