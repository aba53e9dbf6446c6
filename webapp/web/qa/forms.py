"""Forms of the questions-and-answers pages. Lengths and text rules are checked by the
service (``webapp.services.community.rules``); the forms carry the fields and CSRF."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, TextAreaField

from webapp.models.community import TITLE_MAX
from webapp.services.community.rules import POST_MAX
from webapp.web.edge import id_arg

BODY_HELP = "Markdown: **bold**, `code`, fenced code blocks, lists, links and tables."


def _lesson_id(value):
    """The lesson select's value: an id, or None for "the whole course"."""
    if value in (None, "", "None"):
        return None
    try:
        return id_arg(str(value))
    except ValueError:
        return -1  # no such lesson: the service refuses it with a message


class AskForm(FlaskForm):
    title = StringField("Title", render_kw={"maxlength": TITLE_MAX, "autocomplete": "off"},
                        description="A question in one line, like “Why does my loop never "
                                    "stop?”")
    body = TextAreaField("Details", render_kw={"rows": 8, "maxlength": POST_MAX},
                         description=BODY_HELP)
    lesson = SelectField("About the lesson", coerce=_lesson_id, validate_choice=False)
    section = HiddenField()


class EditQuestionForm(FlaskForm):
    title = StringField("Title", render_kw={"maxlength": TITLE_MAX})
    body = TextAreaField("Details", render_kw={"rows": 10, "maxlength": POST_MAX},
                         description=BODY_HELP)


class AnswerForm(FlaskForm):
    body = TextAreaField("Your answer", render_kw={"rows": 8, "maxlength": POST_MAX},
                         description=BODY_HELP)
