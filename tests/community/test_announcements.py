"""Announcements: staff post, edit and delete (softly); enrolled learners read them on the
course page, the dashboard and a paginated list, and hear of each one (a notification and,
by default, an email through a real SMTP server); nobody else reads or writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.unit.test_sanitizer import problems_in
from tests.xss_corpus import worst_vectors
from webapp.extensions import db
from webapp.models import Announcement, Notification
from webapp.services.community import announcements

BLNS_PATH = Path(__file__).resolve().parents[3] / "shared/corpora/blns/blns.json"


@pytest.fixture
def site(app, make_user, make_course, make_learner):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Python", owner=owner)
        other = make_course("Other", owner=owner)
        make_learner("ann@example.org", enrolled_in=[course])
        make_learner("bob@example.org", enrolled_in=[course])
        make_learner("eve@example.org", enrolled_in=[other])
        make_user("ed@example.org", role="editor")
        make_user("admin@example.org", role="admin")
        ids = {"course": course.id, "slug": course.slug, "other": other.id}
        db.session.remove()
    return ids


@pytest.fixture
def as_user(app, login, csrf_token):
    def sign_in(email: str):
        client = app.test_client()
        login(client, email)
        return client, csrf_token(client, "/events/calendar")
    return sign_in


def post(client, token, course_id, title="Week 2 starts", body="Read **chapter 2**."):
    return client.post(f"/announcements/course/{course_id}/new",
                       data={"csrf_token": token, "title": title, "body": body})


def test_staff_post_and_learners_hear_and_see_it(app, site, as_user, smtp_server):
    owner, token = as_user("owner@example.org")
    response = post(owner, token, site["course"])
    assert response.status_code == 303
    path = response.headers["Location"]
    with app.app_context():
        notes = db.session.scalars(select(Notification).order_by(Notification.user_id)).all()
        assert [(n.kind, n.title, n.url) for n in notes] == [
            ("announcement", "Python: Week 2 starts", path)] * 2
        db.session.remove()
    assert sorted(m["To"] for m in smtp_server.messages) == ["ann@example.org",
                                                             "bob@example.org"]
    ann, _ = as_user("ann@example.org")
    page = ann.get(path).get_data(as_text=True)
    assert "<strong>chapter 2</strong>" in page and "Week 2 starts" in page
    assert "Week 2 starts" in ann.get(f"/courses/{site['slug']}").get_data(as_text=True)
    dashboard = ann.get("/dashboard").get_data(as_text=True)
    assert 'id="announcements-heading"' in dashboard and "Week 2 starts" in dashboard
    listing = ann.get(f"/announcements/course/{site['course']}").get_data(as_text=True)
    assert "Week 2 starts" in listing and "Post an announcement" not in listing


def test_who_may_read_and_write(app, site, as_user):
    owner, token = as_user("owner@example.org")
    path = post(owner, token, site["course"]).headers["Location"]
    announcement_id = int(path.rsplit("/", 1)[1])
    eve, eve_token = as_user("eve@example.org")
    ann, ann_token = as_user("ann@example.org")
    ed, ed_token = as_user("ed@example.org")
    admin, admin_token = as_user("admin@example.org")
    # Learners of another course and editors of none read nothing and write nothing.
    for client, tok in ((eve, eve_token), (ed, ed_token)):
        assert client.get(path).status_code == 403
        assert client.get(f"/announcements/course/{site['course']}").status_code == 403
        assert post(client, tok, site["course"]).status_code == 403
        assert "Week 2" not in client.get("/dashboard").get_data(as_text=True)
    assert "Latest announcements" not in eve.get(f"/courses/{site['slug']}").get_data(
        as_text=True)
    # An enrolled learner reads but does not write, edit or delete.
    assert ann.get(path).status_code == 200
    assert post(ann, ann_token, site["course"]).status_code == 403
    assert ann.get(f"{path}/edit").status_code == 403
    assert ann.post(f"{path}/delete", data={"csrf_token": ann_token}).status_code == 403
    # Admins are staff everywhere.
    assert post(admin, admin_token, site["course"], title="From the admin").status_code == 303
    edited = owner.post(f"{path}/edit", data={"csrf_token": token, "title": "Week 2 moved",
                                              "body": "To *Tuesday*."})
    assert edited.status_code == 303
    page = ann.get(path).get_data(as_text=True)
    assert "Week 2 moved" in page and "<em>Tuesday</em>" in page and "edited" in page
    assert owner.post(f"{path}/delete", data={"csrf_token": token}).status_code == 303
    assert ann.get(path).status_code == 404
    assert owner.get(f"{path}/edit").status_code == 404
    with app.app_context():
        row = db.session.get(Announcement, announcement_id)
        assert row.status == "deleted" and row.deleted_at is not None
        db.session.remove()


@pytest.mark.parametrize(("title", "body", "message"), [
    ("", "Text", "at least 3"),
    ("ab", "Text", "at least 3"),
    ("x" * 201, "Text", "the most is 200"),
    ("Week 3", "", "Write the announcement"),
    ("Week 3", "\x01\x02 ", "Write the announcement"),
    ("Week 3", "y" * 20_001, "the most is 20,000"),
])
def test_bad_input_is_a_400_with_the_reason(app, site, as_user, title, body, message):
    owner, token = as_user("owner@example.org")
    response = post(owner, token, site["course"], title=title, body=body)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert post(owner, token, site["course"], title="a\x00b").status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Announcement)) == 0


def test_list_is_keyset_paginated_and_its_queries_do_not_grow(app, site, as_user,
                                                              query_counter):
    with app.app_context():
        from webapp.models import Course, User

        owner = db.session.scalar(select(User).where(User.email == "owner@example.org"))
        course = db.session.get(Course, site["course"])
        for n in range(45):
            announcements.post_announcement(owner, course, title=f"Note {n:02d}",
                                            body="Body", mail_context=None)
        db.session.commit()
        db.session.remove()
    ann, _ = as_user("ann@example.org")
    url = f"/announcements/course/{site['course']}"
    seen, next_url = [], url
    while next_url:
        page = ann.get(next_url).get_data(as_text=True)
        seen += [int(n) for n in __import__("re").findall(r">Note (\d\d)</a></h2>", page)]
        found = __import__("re").search(r'href="([^"]*before=\d+)"', page)
        next_url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == list(range(44, -1, -1))
    partial = ann.get(f"{url}?before=10", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<div id="announcement-list">') and "<html" not in partial
    assert ann.get(f"{url}?before=abc").status_code == 200
    ann.get(url)
    with query_counter() as counted:
        ann.get(url)
    assert counted.n <= 6


def test_hostile_text_comes_back_escaped(app, site, as_user):
    owner, token = as_user("owner@example.org")
    vectors = [v for _, v in worst_vectors(30)]
    if BLNS_PATH.exists():
        vectors += json.loads(BLNS_PATH.read_text())[::10]
    for text in vectors:
        title = (" ".join(text.split()) or "blank")[:150] + " an"
        response = post(owner, token, site["course"], title=title, body=text)
        if response.status_code == 400:
            continue
        assert response.status_code == 303, text
        page = owner.get(response.headers["Location"]).get_data(as_text=True)
        start = page.index('<article class="announcement"')
        assert problems_in(page[start:page.index('<div class="action-row">', start)]) == [], text
