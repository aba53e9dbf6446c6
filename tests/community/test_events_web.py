"""The events pages over HTTP: the organiser's form (every refusal a 400 with its reason,
never a 500), who sees and does what, RSVP as a page and as an htmx partial, times in the
viewer's zone, the .ics file and the calendar feed, query counts that do not grow, and
hostile text coming back escaped."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest
from sqlalchemy import func, select

from tests.unit.test_sanitizer import problems_in
from tests.web.test_html_valid import vnu  # noqa: F401 - the checker fixture
from tests.xss_corpus import worst_vectors
from webapp.extensions import db
from webapp.models import CalendarFeed, Course, Event, EventRsvp, User
from webapp.models.base import utcnow
from webapp.services import accounts
from webapp.services.community import events

BLNS_PATH = Path(__file__).resolve().parents[3] / "shared/corpora/blns/blns.json"


def day(days: int = 3, hour: int = 18) -> datetime:
    d = (utcnow() + timedelta(days=days)).date()
    return datetime(d.year, d.month, d.day, hour, 0)


def form(token: str, **changes) -> dict:
    start = day()
    values = {"csrf_token": token, "title": "Study evening", "body": "Bring **questions**.",
              "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
              "ends_at": (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
              "time_zone": "Europe/Paris", "place": "Room 4", "online_url": "",
              "capacity": ""}
    values.update(changes)
    return values


@pytest.fixture
def site(app, make_user, make_course, make_learner):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Python", owner=owner)
        other = make_course("Other", owner=owner)
        make_learner("ann@example.org", enrolled_in=[course])
        make_learner("eve@example.org", enrolled_in=[other])
        make_user("admin@example.org", role="admin")
        event = events.create_event(owner, course, events.EventDraft(
            title="Office hour", body="", starts_local=datetime(2090, 7, 1, 18, 0),
            ends_local=datetime(2090, 7, 1, 19, 0), time_zone="Europe/Paris",
            place="Room 1", capacity=None))
        db.session.commit()
        ids = {"course": course.id, "other": other.id, "event": event.id}
        db.session.remove()
    return ids


@pytest.fixture
def as_user(app, login, csrf_token):
    def sign_in(email: str):
        client = app.test_client()
        login(client, email)
        return client, csrf_token(client, "/events/calendar")
    return sign_in


def test_staff_create_an_event_and_viewers_see_it_in_their_zone(app, site, as_user):
    owner, token = as_user("owner@example.org")
    response = owner.post(f"/events/course/{site['course']}/new", data=form(
        token, starts_at="2090-07-02T18:00", ends_at="2090-07-02T20:00"))
    assert response.status_code == 303
    event_id = int(response.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        event = db.session.get(Event, event_id)
        assert event.starts_at == datetime(2090, 7, 2, 16, 0, tzinfo=UTC)
        ann = db.session.scalar(select(User).where(User.email == "ann@example.org"))
        accounts.set_time_zone(ann, "America/New_York")
        db.session.commit()
        db.session.remove()
    learner, _ = as_user("ann@example.org")
    page = learner.get(f"/events/{event_id}").get_data(as_text=True)
    assert '<time datetime="2090-07-02T16:00:00Z">2 Jul 2090, 12:00 EDT</time>' in page
    assert "Organiser's time: 2 Jul 2090, 18:00 CEST" in page
    assert "<strong>questions</strong>" in page
    listing = learner.get("/events").get_data(as_text=True)
    assert "Study evening" in listing and "Office hour" in listing
    course_list = learner.get(f"/events/course/{site['course']}").get_data(as_text=True)
    assert "Study evening" in course_list


@pytest.mark.parametrize(("changes", "message"), [
    ({"ends_at": "2090-07-01T10:00", "starts_at": "2090-07-01T12:00"},
     "The end must be after the start."),
    ({"time_zone": "Mars/Olympus"}, "is not a time zone"),
    ({"time_zone": "x" * 5000}, "is not a time zone"),
    ({"online_url": "javascript:alert(1)"}, "must be a web address"),
    ({"online_url": "data:text/html,hi"}, "must be a web address"),
    ({"capacity": "0"}, "from 1 to 10,000"),
    ({"capacity": "-5"}, "from 1 to 10,000"),
    ({"capacity": "99999999999999999999"}, "from 1 to 10,000"),
    ({"capacity": "many"}, "Not a valid integer"),
    ({"starts_at": "tomorrow"}, "Not a valid datetime"),
    ({"starts_at": "99999-01-01T00:00"}, "Not a valid datetime"),
    ({"starts_at": "0001-01-01T00:00", "ends_at": "0001-01-01T02:00"}, "between 2000 and 2100"),
    ({"title": ""}, "at least 3"),
    ({"place": "", "online_url": ""}, "Give a place"),
])
def test_bad_input_is_a_400_with_the_reason(app, site, as_user, changes, message):
    owner, token = as_user("owner@example.org")
    response = owner.post(f"/events/course/{site['course']}/new", data=form(token, **changes))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 1


def test_nul_bytes_and_ids_out_of_range(site, as_user, client):
    owner, token = as_user("owner@example.org")
    assert owner.post(f"/events/course/{site['course']}/new",
                      data=form(token, title="a\x00b")).status_code == 400
    for path in ("/events/2147483648", "/events/99999999999999999999", "/events/0",
                 "/events/abc", "/events/2147483648.ics", "/events/course/2147483648",
                 "/events/course/999999/new", "/events/2147483647/edit",
                 "/announcements/2147483648", "/announcements/course/2147483648"):
        assert owner.get(path).status_code == 404, path
    assert owner.post("/events/2147483648/rsvp",
                      data={"csrf_token": token, "going": "yes"}).status_code == 404
    assert owner.post(f"/events/{site['event']}/rsvp",
                      data={"csrf_token": token, "going": "maybe"}).status_code == 400
    # Unknown filters and cursors fall back to the first page.
    assert owner.get("/events?when=whenever&after=garbage").status_code == 200
    assert owner.get("/events?when=past&after=1.99999999999").status_code == 200
    # Signed out: the events pages ask to sign in.
    assert client.get(f"/events/{site['event']}").status_code in (302, 303)


def test_who_may_do_what(app, site, as_user):
    event, course = site["event"], site["course"]
    ann, ann_token = as_user("ann@example.org")
    eve, eve_token = as_user("eve@example.org")
    owner, _ = as_user("owner@example.org")
    admin, _ = as_user("admin@example.org")
    # Creating: staff for the course, admins for the site.
    assert ann.get(f"/events/course/{course}/new").status_code == 403
    assert owner.get(f"/events/course/{course}/new").status_code == 200
    assert owner.get("/events/new").status_code == 403
    assert admin.get("/events/new").status_code == 200
    assert ann.get(f"/events/{event}/edit").status_code == 403
    assert ann.post(f"/events/{event}/cancel", data={"csrf_token": ann_token}).status_code == 403
    assert admin.get(f"/events/{event}/edit").status_code == 200
    # A learner of another course sees the event but cannot sign up.
    assert "Only the course's learners" in eve.get(f"/events/{event}").get_data(as_text=True)
    assert eve.post(f"/events/{event}/rsvp",
                    data={"csrf_token": eve_token, "going": "yes"}).status_code == 403
    assert "Office hour" not in eve.get("/events").get_data(as_text=True)
    # The enrolled learner signs up, plain and with htmx.
    assert ann.post(f"/events/{event}/rsvp",
                    data={"csrf_token": ann_token, "going": "yes"}).status_code == 303
    partial = ann.post(f"/events/{event}/rsvp", data={"csrf_token": ann_token, "going": "no"},
                       headers={"HX-Request": "true"})
    body = partial.get_data(as_text=True)
    assert partial.status_code == 200
    assert body.lstrip().startswith(f'<section id="event-{event}-rsvp"')
    assert "You are not going." in body and "<html" not in body
    with app.app_context():
        assert db.session.scalar(select(EventRsvp.status)) == "not_going"


def test_ics_download_and_cancellation(app, site, as_user):
    owner, token = as_user("owner@example.org")
    response = owner.get(f"/events/{site['event']}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    cal = icalendar.Calendar.from_ical(response.data)
    [vevent] = cal.walk("VEVENT")
    assert str(vevent["UID"]) == f"event-{site['event']}@localhost"
    assert vevent.decoded("DTSTART") == datetime(2090, 7, 1, 16, 0, tzinfo=UTC)
    assert vevent.decoded("DTEND") == datetime(2090, 7, 1, 17, 0, tzinfo=UTC)
    assert b"DTSTART:20900701T160000Z" in response.data
    assert vevent.decoded("DTSTAMP").tzinfo is not None
    assert int(vevent["SEQUENCE"]) == 0 and str(vevent["STATUS"]) == "CONFIRMED"
    assert str(vevent["URL"]).endswith(f"/events/{site['event']}")
    assert owner.post(f"/events/{site['event']}/cancel",
                      data={"csrf_token": token}).status_code == 303
    [vevent] = icalendar.Calendar.from_ical(
        owner.get(f"/events/{site['event']}.ics").data).walk("VEVENT")
    assert (str(vevent["STATUS"]), int(vevent["SEQUENCE"])) == ("CANCELLED", 1)
    assert "This event is cancelled" in owner.get(f"/events/{site['event']}").get_data(
        as_text=True)


def test_calendar_feed_with_a_secret_token(app, site, as_user, client):
    ann, token = as_user("ann@example.org")
    assert "Create the link" in ann.get("/events/calendar").get_data(as_text=True)
    page = ann.post("/events/calendar", data={"csrf_token": token}).get_data(as_text=True)
    url = re.search(r'id="feed-url" type="text" readonly value="([^"]+)"', page).group(1)
    path = url.split("localhost", 1)[1]
    feed = client.get(path)  # no sign-in needed
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    titles = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(feed.data).walk("VEVENT")]
    assert titles == ["Office hour"]  # an event of her course
    with app.app_context():
        stored = db.session.scalar(select(CalendarFeed.token_hash))
        assert path.rsplit("/", 1)[1].removesuffix(".ics") not in stored and len(stored) == 64
    again = ann.get("/events/calendar").get_data(as_text=True)
    assert "Reset the link" in again and url not in again
    ann.post("/events/calendar", data={"csrf_token": token})
    assert client.get(path).status_code == 404  # the old link stops working
    for bad in ("/events/feed/wrong.ics", "/events/feed/" + "A" * 43 + ".ics",
                "/events/feed/" + "%00" * 5 + ".ics"):
        assert client.get(bad).status_code in (400, 404)


def _grow(app, course_id: int, n: int) -> None:
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == "owner@example.org"))
        ann = db.session.scalar(select(User).where(User.email == "ann@example.org"))
        course = db.session.get(Course, course_id)
        for i in range(n):
            event = events.create_event(owner, course, events.EventDraft(
                title=f"Extra {i}", body="*x*", starts_local=day(i + 1),
                ends_local=day(i + 1) + timedelta(hours=1), time_zone="UTC",
                place="Hall", capacity=3))
            db.session.flush()
            events.rsvp(ann, event.id, True, mail_context=None)
        db.session.commit()
        db.session.remove()


def test_query_counts_do_not_grow(app, site, as_user, query_counter):
    ann, _ = as_user("ann@example.org")
    pages = ["/events", f"/events/course/{site['course']}", f"/events/{site['event']}"]

    def measure() -> dict[str, int]:
        counts = {}
        for url in pages:
            ann.get(url)
            with query_counter() as counted:
                assert ann.get(url).status_code == 200
            counts[url] = counted.n
        return counts

    _grow(app, site["course"], 2)
    before = measure()
    _grow(app, site["course"], 15)
    assert measure() == before
    # (BEGIN on SQLite,) the session's user, the header's unread count, then one list
    # statement (and the course for
    # a course's list); the page: the event, its course, the viewer's RSVP, the waiting
    # count and the membership check.
    with app.app_context():
        begin = 1 if db.engine.dialect.name == "sqlite" else 0
    assert before == {"/events": 3 + begin, f"/events/course/{site['course']}": 4 + begin,
                      f"/events/{site['event']}": 7 + begin}


def _content(html: str) -> str:
    """The event's own text on its page: heading, facts and description."""
    start = html.index('<article class="event-page"')
    return html[start:html.index('<section id="event-', start)]


def test_hostile_text_comes_back_escaped(app, site, as_user):
    owner, token = as_user("owner@example.org")
    vectors = [v for _, v in worst_vectors(30)]
    if BLNS_PATH.exists():
        vectors += json.loads(BLNS_PATH.read_text())[::10]
    for text in vectors:
        title = (" ".join(text.split()) or "blank")[:150] + " ev"
        response = owner.post(f"/events/course/{site['course']}/new", data=form(
            token, title=title, body=text, place=(" ".join(text.split()) or "x")[:150]))
        if response.status_code == 400:
            continue  # refused with a reason (e.g. nothing left after stripping)
        assert response.status_code == 303, text
        page = owner.get(response.headers["Location"]).get_data(as_text=True)
        assert problems_in(_content(page)) == [], text


def test_pages_are_valid_html(app, site, as_user, vnu, tmp_path):  # noqa: F811
    """The events and announcements pages, full and partial, by the Nu Html Checker."""
    owner, token = as_user("owner@example.org")
    posted = owner.post(f"/announcements/course/{site['course']}/new", data={
        "csrf_token": token, "title": "Week 2", "body": "Read *this*."})
    announcement = posted.headers["Location"]
    ann, ann_token = as_user("ann@example.org")
    ann.post(f"/events/{site['event']}/rsvp", data={"csrf_token": ann_token, "going": "yes"})
    pages = {
        "owner": (owner, ["/events", "/events?when=past", f"/events/course/{site['course']}",
                          f"/events/course/{site['course']}/new", f"/events/{site['event']}",
                          f"/events/{site['event']}/edit", f"/events/{site['event']}/cancel",
                          "/events/calendar", f"/announcements/course/{site['course']}",
                          f"/announcements/course/{site['course']}/new", announcement,
                          f"{announcement}/edit"]),
        "ann": (ann, [f"/events/{site['event']}", "/dashboard", "/courses/python",
                      f"/announcements/course/{site['course']}"]),
    }
    files = {}
    for who, (client, paths) in pages.items():
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (who, path)
            name = f"page{len(files):03d}.html"
            (tmp_path / name).write_bytes(response.data)
            files[name] = f"{who} {path}"
    bad = owner.post(f"/events/course/{site['course']}/new", data=form(token, capacity="0"))
    (tmp_path / "refused.html").write_bytes(bad.data)
    files["refused.html"] = "owner refused form"
    created = owner.post("/events/calendar", data={"csrf_token": token})
    (tmp_path / "feed.html").write_bytes(created.data)
    files["feed.html"] = "owner feed created"
    result = subprocess.run([*vnu, *sorted(str(tmp_path / n) for n in files)],
                            capture_output=True, text=True, timeout=300, check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{files[Path(m['url']).name]}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == []
