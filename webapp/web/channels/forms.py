"""Forms of the channels area. Length and links are checked by the service (the limit is a
site setting), so a message field only needs to be present."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField


class MessageForm(FlaskForm):
    body = TextAreaField("Message")
