"""Times in the viewer's time zone: chosen in account settings (an IANA name, or the site's
TANGENT_TIME_ZONE), refused with a clear reason when it is not one, and used by every page
that shows a time; anonymous viewers get the site's zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from tests.factories import make_course, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Certificate, User, UserSession

# 16:30 UTC on a winter day: 17:30 in Paris, 01:30 the next day in Tokyo.
WINTER = datetime(2026, 12, 4, 16, 30, tzinfo=UTC)


@pytest.fixture
def ada(app, client, login):
    with app.app_context():
        make_user("ada@example.org", display_name="Ada")
    assert login(client, "ada@example.org").status_code == 303
    with app.app_context():
        db.session.execute(update(UserSession).values(created_at=WINTER))
        db.session.commit()
    return client


def _zone_of(app, email: str = "ada@example.org") -> str | None:
    with app.app_context():
        return db.session.scalar(select(User.time_zone).where(User.email == email))


def _pages(client) -> str:
    """The account page (the time zone setting) and the sessions page (times)."""
    return "".join(client.get(path).get_data(as_text=True)
                   for path in ("/account/", "/account/sessions"))


def _save(client, csrf_token, zone: str):
    return client.post("/account/time-zone", data={
        "time_zone": zone, "csrf_token": csrf_token(client, "/account/")})


def test_times_follow_the_site_zone_until_the_user_picks_one(app, ada, csrf_token):
    page = _pages(ada)
    # The sessions page: when this browser signed in, in UTC (the site's zone in tests).
    assert '<time datetime="2026-12-04T16:30:00Z">4 Dec 2026, 16:30 UTC</time>' in page
    assert '<option selected value="">The site&#39;s time zone (UTC)</option>' in page
    assert '<option value="Europe/Paris">Paris (' in page

    response = _save(ada, csrf_token, "Europe/Paris")
    assert response.status_code == 303
    assert _zone_of(app) == "Europe/Paris"
    page = _pages(ada)
    assert "Times are now shown in Europe/Paris." in page
    assert '<time datetime="2026-12-04T16:30:00Z">4 Dec 2026, 17:30 CET</time>' in page
    assert '<option selected value="Europe/Paris">' in page

    _save(ada, csrf_token, "Asia/Tokyo")
    page = _pages(ada)
    assert '<time datetime="2026-12-04T16:30:00Z">5 Dec 2026, 01:30 UTC+9</time>' in page

    # Back to the site's zone (stored as "none chosen", so it follows a change of the site's).
    assert _save(ada, csrf_token, "").status_code == 303
    assert _zone_of(app) is None
    with app.app_context():
        changes = db.session.scalars(select(AuditEvent.delta).where(
            AuditEvent.action == "user.update")).all()
    assert {"time_zone": ["Asia/Tokyo", None]} in changes


def test_the_site_zone_is_the_default_for_users_who_chose_none(app, ada, settings_override):
    settings_override(time_zone="America/New_York")
    page = _pages(ada)
    assert "4 Dec 2026, 11:30 EST" in page
    assert "The site&#39;s time zone (America/New_York)" in page


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "europe/paris", "Europe/Paris; DROP",
                                  "<script>alert(1)</script>", "US/" + "x" * 5000])
def test_a_zone_that_is_not_an_iana_name_is_refused_with_the_reason(app, ada, csrf_token,
                                                                     zone):
    response = _save(ada, csrf_token, zone)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "is not a time zone name. Choose one from the list" in page
    assert 'aria-invalid="true"' in page and "<script>alert" not in page
    assert len(page) < 200_000  # an overlong value is not echoed back whole
    assert _zone_of(app) is None


def test_nul_bytes_are_a_bad_request(app, ada, csrf_token):
    response = _save(ada, csrf_token, "Europe/Paris\x00")
    assert response.status_code == 400
    assert _zone_of(app) is None


def test_saving_needs_a_signed_in_user_and_a_csrf_token(app, client, ada):
    assert ada.post("/account/time-zone", data={"time_zone": "Europe/Paris"}).status_code == 400
    assert app.test_client().post("/account/time-zone",
                                  data={"time_zone": "Europe/Paris"}).status_code in (302, 400)
    assert _zone_of(app) is None


def test_a_page_shows_its_times_in_the_users_zone(app, login):
    """The authoring list of an editor in Paris: the course's last change, in Paris time."""
    with app.app_context():
        editor = make_user("grace@example.org", role="editor")
        course = make_course("Zoned", owner=editor, modules=1, lessons=1)
        course.updated_at = WINTER
        editor.time_zone = "Europe/Paris"
        db.session.commit()
    grace = app.test_client()
    assert login(grace, "grace@example.org").status_code == 303
    page = grace.get("/edit/").get_data(as_text=True)
    assert '<time datetime="2026-12-04T16:30:00Z">4 Dec 2026, 17:30 CET</time>' in page
    assert " UTC</td>" not in page


def test_anonymous_viewers_get_the_site_zone(app, client, settings_override):
    """A public certificate issued late on 31 March UTC was issued on 1 April in Tokyo."""
    with app.app_context():
        user = make_user("ada@example.org", display_name="Ada")
        course = make_course("Zoned", modules=1, lessons=1)
        db.session.add(Certificate(user_id=user.id, course_id=course.id, code="a" * 32,
                                   learner_name="Ada", course_title="Zoned",
                                   issued_at=datetime(2026, 3, 31, 20, 0, tzinfo=UTC)))
        db.session.commit()
    page = client.get("/certificates/" + "a" * 32).get_data(as_text=True)
    assert '<time datetime="2026-03-31T20:00:00Z">31 March 2026</time>' in page
    settings_override(time_zone="Asia/Tokyo")
    page = client.get("/certificates/" + "a" * 32).get_data(as_text=True)
    assert '<time datetime="2026-03-31T20:00:00Z">1 April 2026</time>' in page
    assert "issued by Tangent on 1 April 2026." in page


def test_no_template_formats_a_time_itself():
    """Every time a page shows goes through the local_time filter (webapp/web/times.py);
    strftime stays only for machine values (a month as a form value or URL argument)."""
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    found = {}
    for path in templates.rglob("*.html"):
        for line in path.read_text().splitlines():
            for call in re.findall(r"strftime\('([^']*)'\)|isoformat\(\)", line):
                if call != "%Y-%m":
                    found.setdefault(path.name, []).append(line.strip())
    assert found == {}
