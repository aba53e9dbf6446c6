from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from webapp.services.accounts import NAME_MAX, PASSWORD_MAX


class ProfileForm(FlaskForm):
    display_name = StringField("Display name", validators=[DataRequired(), Length(max=NAME_MAX)])


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=PASSWORD_MAX)]
    )
    new_password = PasswordField(
        "New password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        description="At least 10 characters, not easy to guess. Changing it signs you out "
                    "everywhere else.",
    )


class TimeZoneForm(FlaskForm):
    # Choices are set by the view (webapp.web.times.time_zone_choices); the value is
    # checked by accounts.set_time_zone, which says what is wrong with it.
    time_zone = SelectField("Time zone", validate_choice=False)
