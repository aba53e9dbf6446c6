from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from webapp.models.users import ROLES
from webapp.services.accounts import STATUS_REASON_MAX
from webapp.services.community.rules import RULES
from webapp.services.site import INSTITUTION_MAX, LOGO_MAX_BYTES, NAME_MAX, PAGE_MAX

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


class SiteSettingsForm(FlaskForm):
    site_name = StringField("Site name", validators=[Length(max=NAME_MAX)],
                            description="In the header, the browser tab and mail. "
                                        "Empty: “Tangent”.")
    institution_name = StringField(
        "Institution on certificates", validators=[Length(max=INSTITUTION_MAX)],
        description="Who issues certificates (“Issued by …”). Empty: the site name.")
    support_email = StringField("Support address", validators=[Length(max=254)],
                                description="Shown in the footer for people who need help.")
    privacy = TextAreaField("Privacy", validators=[Length(max=PAGE_MAX)],
                            description="Markdown. Empty: no privacy page.")
    terms = TextAreaField("Terms of use", validators=[Length(max=PAGE_MAX)],
                          description="Markdown. Empty: no terms page.")
    accessibility = TextAreaField("Accessibility statement",
                                  validators=[Length(max=PAGE_MAX)],
                                  description="Markdown. Empty: no accessibility page.")


# The community rules, one number field each (``rule_<key>``), in the "Community rules"
# fieldset of the same form: saved with the other settings.
RULE_PREFIX = "rule_"
for _rule in RULES:
    setattr(SiteSettingsForm, RULE_PREFIX + _rule.key, IntegerField(
        _rule.label, description=f"{_rule.help} From {_rule.low:,} to {_rule.high:,}; "
                                 f"the default is {_rule.default:,}.",
        # Left out of a post: unchanged.
        validators=[Optional(),
                    NumberRange(min=_rule.low, max=_rule.high,
                                message=f"Choose a number from {_rule.low:,} to "
                                        f"{_rule.high:,}.")]))


class LogoForm(FlaskForm):
    logo = FileField("Logo image", description="PNG, JPEG or WebP, at most "
                                               f"{LOGO_MAX_BYTES // 1024} KB. "
                                               "Shown beside the site name, about 28 px high.")
