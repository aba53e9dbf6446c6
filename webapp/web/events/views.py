"""Views of the events area: events (lists, page, form, RSVP, .ics, calendar feed) and
course announcements.

Views are thin: they read the form, call a service, commit once, and answer a page, an
htmx partial or a redirect. A refused form comes back with the reason next to its field.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from webapp import htmx
from webapp.extensions import db
from webapp.models import User
from webapp.services import accounts, site
from webapp.services.community import access, announcements, calendar, events
from webapp.services.exceptions import ValidationFailed
from webapp.settings import get_settings
from webapp.web.edge import id_arg
from webapp.web.events import bp
from webapp.web.events.forms import AnnouncementForm, EventForm
from webapp.web.forms import ActionForm, submitted, valid_or_400
from webapp.web.posting import check_posting_rate, mail_context
from webapp.web.site_address import site_url
from webapp.web.times import format_moment, time_zone_choices

ICS = "text/calendar; charset=utf-8"


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _require_verified(user: User) -> None:
    accounts.require_verified(
        user, required=get_settings(current_app).email_verification == "required")


def _refuse(form, exc: ValidationFailed) -> None:
    """Show a service's refusal next to the field it names (else above the form)."""
    field = form._fields.get(exc.field) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


# --- the course page and the dashboard ---------------------------------------------------


@bp.app_template_global("course_news")
def course_news(course_id: int, enrolled: bool):
    """For the course page: its newest announcements and next events, when the viewer is
    a member (enrolled, or staff); else None. One statement for enrolled learners."""
    user = _user()
    if not user.is_authenticated:
        return None
    if not enrolled:
        course = access.get_course(course_id)
        if not access.is_staff(user, course):
            return None
    found, coming = announcements.course_news(course_id)
    return {"announcements": found, "events": coming}


@bp.app_template_global("dashboard_announcements")
def dashboard_announcements():
    """For the dashboard: the newest announcements of the viewer's courses."""
    user = _user()
    return announcements.latest_for_user(user) if user.is_authenticated else []


# --- events: lists ------------------------------------------------------------------------


def _list_page(course=None):
    past = request.args.get("when") == "past"
    rows, cursor = events.list_events(_user(), past=past, course=course,
                                      after=events.Cursor.parse(request.args.get("after")))
    manage = (access.is_staff(_user(), course) if course is not None
              else _user().is_admin)
    return htmx.render("events/index.html", "events/_list.html", rows=rows,
                       next_cursor=cursor.token() if cursor else None, past=past,
                       course=course, can_create=manage)


@bp.get("/events")
@login_required
def index():
    return _list_page()


@bp.get("/events/course/<int:course_id>")
@login_required
def course_events(course_id: int):
    return _list_page(access.get_course(course_id))


# --- events: create, edit, cancel ---------------------------------------------------------


def _zone_choices(form: EventForm) -> None:
    form.time_zone.choices = time_zone_choices(get_settings(current_app).time_zone)


def _draft(form: EventForm) -> events.EventDraft:
    zone = form.time_zone.data or get_settings(current_app).time_zone
    return events.EventDraft(
        title=form.title.data, body=form.body.data, starts_local=form.starts_at.data,
        ends_local=form.ends_at.data, time_zone=zone, place=form.place.data,
        online_url=form.online_url.data, capacity=form.capacity.data)


def _new_event(course):
    user = _user()
    events.require_organiser(user, course)
    form = EventForm(time_zone=user.time_zone or "")
    _zone_choices(form)
    status = 200
    if request.method == "POST":
        if submitted(form):
            _require_verified(user)
            check_posting_rate(user)
            try:
                event = events.create_event(user, course, _draft(form))
            except ValidationFailed as exc:
                _refuse(form, exc)
            else:
                db.session.commit()
                flash("The event is published.", "success")
                return redirect(url_for("events.show", event_id=event.id), 303)
        status = 400
    return render_template("events/form.html", form=form, course=course, event=None), status


@bp.route("/events/new", methods=["GET", "POST"])
@login_required
def new_site_event():
    return _new_event(None)


@bp.route("/events/course/<int:course_id>/new", methods=["GET", "POST"])
@login_required
def new_course_event(course_id: int):
    return _new_event(access.get_course(course_id))


def _local(moment, zone: str):
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@login_required
def edit(event_id: int):
    user = _user()
    event = events.get_managed_event(user, event_id)
    if request.method == "POST":
        form = EventForm()
    else:
        form = EventForm(
            formdata=None, title=event.title, body=event.body, time_zone=event.time_zone,
            starts_at=_local(event.starts_at, event.time_zone),
            ends_at=_local(event.ends_at, event.time_zone), place=event.place,
            online_url=event.online_url, capacity=event.capacity)
    _zone_choices(form)
    status = 200
    if request.method == "POST":
        if submitted(form):
            check_posting_rate(user)
            try:
                events.update_event(user, event.id, _draft(form), mail_context=mail_context())
            except ValidationFailed as exc:
                db.session.rollback()
                _refuse(form, exc)
            else:
                db.session.commit()
                flash("The event is saved. Everyone going or waiting hears of a new time "
                      "or place.", "success")
                return redirect(url_for("events.show", event_id=event_id), 303)
        status = 400
    course = events.course_of(event)
    return render_template("events/form.html", form=form, course=course, event=event), status


@bp.route("/events/<int:event_id>/cancel", methods=["GET", "POST"])
@login_required
def cancel(event_id: int):
    user = _user()
    event = events.get_managed_event(user, event_id)
    form = ActionForm()
    if request.method == "POST":
        valid_or_400(form)
        events.cancel_event(user, event.id, mail_context=mail_context())
        db.session.commit()
        flash("The event is cancelled; everyone going or waiting has been told.", "success")
        return redirect(url_for("events.show", event_id=event_id), 303)
    return render_template("events/cancel.html", event=event, form=form)


# --- events: the page, RSVP, .ics ---------------------------------------------------------


def _page_context(event_id: int) -> dict:
    page = events.event_page(_user(), event_id)
    event = page.event
    return {"info": page, "event": event, "form": ActionForm(),
            # The organiser's own wording of the time, for those in another zone.
            "organiser_time": (format_moment(event.starts_at, event.time_zone),
                               format_moment(event.ends_at, event.time_zone))}


@bp.get("/events/<int:event_id>")
@login_required
def show(event_id: int):
    return render_template("events/show.html", **_page_context(event_id))


RSVP_DONE = {
    "going": "You are going.",
    "waitlisted": "The event is full: you are on the waiting list, and will hear when a "
                  "place opens.",
    "not_going": "You are not going.",
}


@bp.post("/events/<int:event_id>/rsvp")
@login_required
def rsvp(event_id: int):
    valid_or_400(ActionForm())
    answer = request.form.get("going")
    if answer not in ("yes", "no"):
        abort(400, "Answer going (yes) or not going (no).")
    status = events.rsvp(_user(), event_id, answer == "yes", mail_context=mail_context())
    db.session.commit()
    if htmx.is_partial():
        return htmx.render("events/_rsvp.html", **_page_context(event_id),
                           rsvp_message=RSVP_DONE[status])
    flash(RSVP_DONE[status], "success")
    return redirect(url_for("events.show", event_id=event_id), 303)


def _ics(body: bytes, filename: str):
    response = make_response(body)
    response.headers["Content-Type"] = ICS
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/events/<int:event_id>.ics")
@login_required
def download(event_id: int):
    event = events.get_event(_user(), event_id)
    return _ics(calendar.event_ics(event, site_url()), f"event-{event.id}.ics")


# --- calendar feed ------------------------------------------------------------------------


@bp.route("/events/calendar", methods=["GET", "POST"])
@login_required
def feed_settings():
    user = _user()
    form = ActionForm()
    feed_url = None
    if request.method == "POST":
        valid_or_400(form)
        token = calendar.reset_feed(user)
        db.session.commit()
        # Shown this once: only the token's hash is kept.
        feed_url = site_url() + url_for("events.feed", token=token)
    return render_template("events/calendar.html", form=form, feed_url=feed_url,
                           has_feed=feed_url is not None or calendar.has_feed(user))


@bp.get("/events/feed/<token>.ics")
def feed(token: str):
    owner = calendar.feed_owner(token)
    if owner is None:
        abort(404)
    body = calendar.feed_ics(events.feed_events(owner), site_url(),
                             f"{site.current().site_name} events")
    return _ics(body, "events.ics")


# --- announcements ------------------------------------------------------------------------


@bp.get("/announcements/course/<int:course_id>")
@login_required
def announcement_list(course_id: int):
    course = access.get_course(course_id)
    before = request.args.get("before", type=id_arg)
    items, cursor = announcements.list_announcements(_user(), course, before=before)
    return htmx.render("announcements/index.html", "announcements/_list.html", items=items,
                       course=course, next_before=cursor,
                       can_post=access.is_staff(_user(), course))


@bp.route("/announcements/course/<int:course_id>/new", methods=["GET", "POST"])
@login_required
def new_announcement(course_id: int):
    user = _user()
    course = access.get_course(course_id)
    access.require_staff(user, course)
    form = AnnouncementForm()
    status = 200
    if request.method == "POST":
        if submitted(form):
            _require_verified(user)
            check_posting_rate(user)
            try:
                item = announcements.post_announcement(
                    user, course, title=form.title.data, body=form.body.data,
                    mail_context=mail_context())
            except ValidationFailed as exc:
                _refuse(form, exc)
            else:
                db.session.commit()
                flash("The announcement is posted; enrolled learners are notified.",
                      "success")
                return redirect(url_for("events.announcement", announcement_id=item.id), 303)
        status = 400
    return render_template("announcements/form.html", form=form, course=course,
                           item=None), status


@bp.get("/announcements/<int:announcement_id>")
@login_required
def announcement(announcement_id: int):
    item, course = announcements.get_announcement(_user(), announcement_id)
    return render_template("announcements/show.html", item=item, course=course,
                           can_manage=access.is_staff(_user(), course), form=ActionForm())


@bp.route("/announcements/<int:announcement_id>/edit", methods=["GET", "POST"])
@login_required
def edit_announcement(announcement_id: int):
    user = _user()
    item, course = announcements.get_managed_announcement(user, announcement_id)
    form = AnnouncementForm() if request.method == "POST" else AnnouncementForm(
        formdata=None, title=item.title, body=item.body)
    status = 200
    if request.method == "POST":
        if submitted(form):
            check_posting_rate(user)
            try:
                announcements.edit_announcement(user, item.id, title=form.title.data,
                                                body=form.body.data)
            except ValidationFailed as exc:
                db.session.rollback()
                _refuse(form, exc)
            else:
                db.session.commit()
                flash("The announcement is saved.", "success")
                return redirect(url_for("events.announcement",
                                        announcement_id=announcement_id), 303)
        status = 400
    return render_template("announcements/form.html", form=form, course=course,
                           item=item), status


@bp.post("/announcements/<int:announcement_id>/delete")
@login_required
def delete_announcement(announcement_id: int):
    valid_or_400(ActionForm())
    course = announcements.delete_announcement(_user(), announcement_id)
    db.session.commit()
    flash("The announcement is deleted.", "success")
    return redirect(url_for("events.announcement_list", course_id=course.id), 303)
