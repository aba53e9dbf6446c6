from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from webapp.services.accounts import NAME_MAX, PASSWORD_HINT, PASSWORD_MAX


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    display_name = StringField(
        "Display name", validators=[Optional(), Length(max=NAME_MAX)],
        description="Shown to others. Defaults to the part of your email before the @.",
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
        description=PASSWORD_HINT,
    )


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=PASSWORD_MAX)])
    next = HiddenField()


class LogoutForm(FlaskForm):
    pass
