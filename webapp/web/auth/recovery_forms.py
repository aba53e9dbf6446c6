"""Forms of password recovery, email verification and email change."""

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, EqualTo, Length

from webapp.services.accounts import PASSWORD_HINT, PASSWORD_MAX
from webapp.web.forms import strip


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip], validators=[DataRequired(), Length(max=254)],
        description="The address you sign in with. We mail a link to it that works for an hour.")


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=PASSWORD_MAX)],
                             description=PASSWORD_HINT)
    confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")])


class EmailChangeForm(FlaskForm):
    new_email = EmailField(
        "New email address", filters=[strip], validators=[DataRequired(), Length(max=254)],
        description="We mail a link to the new address; the change happens when it is opened.")
    password = PasswordField("Your password",
                             validators=[DataRequired(), Length(max=PASSWORD_MAX)])
