"""Forms of the events area. Fields check only their shape (a date, a whole number); the
services check the rest (lengths, zones, links, capacity) and say what is wrong."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Optional

from webapp.services.community.announcements import TITLE_MAX as ANNOUNCEMENT_TITLE_MAX
from webapp.services.community.events import MAX_CAPACITY, PLACE_MAX, TITLE_MAX, URL_MAX
from webapp.services.community.rules import POST_MAX
from webapp.web.forms import strip

WHEN = "%Y-%m-%dT%H:%M"


class EventForm(FlaskForm):
    title = StringField("Title", filters=[strip], render_kw={"maxlength": TITLE_MAX})
    body = TextAreaField("Description", render_kw={"rows": 8, "maxlength": POST_MAX},
                         description="Markdown: **bold**, lists, links, code.")
    starts_at = DateTimeLocalField(
        "Starts", format=WHEN,
        validators=[InputRequired(message="Give the start date and time.")])
    ends_at = DateTimeLocalField(
        "Ends", format=WHEN,
        validators=[InputRequired(message="Give the end date and time.")])
    # Choices are set by the view (webapp.web.times.time_zone_choices); the service checks
    # the value and says what is wrong with it.
    time_zone = SelectField("Time zone of these times", validate_choice=False)
    place = StringField("Place", filters=[strip], render_kw={"maxlength": PLACE_MAX},
                        description="A room or an address. Leave it empty for online events.")
    online_url = StringField(
        "Online link", filters=[strip], render_kw={"maxlength": URL_MAX, "inputmode": "url"},
        description="A https:// address of the video call, if any.")
    capacity = IntegerField(
        "Capacity", validators=[Optional()],
        render_kw={"min": 1, "max": MAX_CAPACITY, "inputmode": "numeric"},
        description="The most people going; more join a waiting list. Empty: no limit.")


class AnnouncementForm(FlaskForm):
    title = StringField("Title", filters=[strip],
                        render_kw={"maxlength": ANNOUNCEMENT_TITLE_MAX})
    body = TextAreaField("Announcement", render_kw={"rows": 10, "maxlength": POST_MAX},
                         description="Markdown: **bold**, lists, links, code. Enrolled "
                                     "learners are notified.")
