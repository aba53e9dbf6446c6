from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
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


class DeleteAccountForm(FlaskForm):
    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        description="To be sure it is you: closing the account cannot be undone.",
    )


def notifications_form(current: dict[str, str]) -> FlaskForm:
    """A form with one select per kind of notification, set to ``current``."""
    from webapp.services.notification_prefs import CHANNELS, KINDS

    class NotificationsForm(FlaskForm):
        pass

    for kind in KINDS:
        setattr(NotificationsForm, kind.key, SelectField(
            kind.label, choices=[SelectChoice(value, label) for value, label in CHANNELS.items()],
            description=kind.description,
            default=current[kind.key]))
    return NotificationsForm()
