"""Catalog and home page: search, filters, keyset pagination, badges, empty states."""

from __future__ import annotations

import re

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_user
from webapp.extensions import db
from webapp.services import progress

TITLE_RE = re.compile(r'class="course-card-title">\s*<a href="/courses/([^"]+)">')
MORE_RE = re.compile(r'<a href="(/courses/\?after=[^"]+)"')


def slugs(html: str) -> list[str]:
    return TITLE_RE.findall(html)


def test_empty_catalog_shows_the_empty_state(client):
    page = client.get("/courses/").get_data(as_text=True)
    assert "No courses yet" in page
    assert 'id="catalog-search"' in page


def test_catalog_lists_published_courses_newest_first(app, client):
    with app.app_context():
        make_course("Older")
        make_course("Draft only", publish=False)
        make_course("Newer")
    response = client.get("/courses/")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert slugs(response.get_data(as_text=True)) == ["newer", "older"]


def test_search_as_a_full_page_and_as_a_partial(app, client, htmx_client):
    with app.app_context():
        make_course("Python basics", summary="Variables and loops.")
        make_course("Cooking", summary="Knife skills and python-free recipes.")
        make_course("Gardening", summary="Soil.")
    page = client.get("/courses/?q=PYTHON").get_data(as_text=True)
    assert "<html" in page and 'id="catalog-search"' in page
    assert sorted(slugs(page)) == ["cooking", "python-basics"]

    response = htmx_client.get("/courses/?q=soil")
    fragment = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert fragment.lstrip().startswith('<div id="catalog-results"')
    assert "<html" not in fragment and 'id="catalog-search"' not in fragment
    assert slugs(fragment) == ["gardening"]


def test_search_treats_like_wildcards_as_text(app, client):
    with app.app_context():
        make_course("100% practical")
        make_course("Other")
    assert slugs(client.get("/courses/?q=%25").get_data(as_text=True)) == ["100-practical"]


def test_filter_by_tag_and_level(app, client):
    with app.app_context():
        make_course("Intro to SQL", tags=("Databases",))
        make_course("Advanced SQL", tags=("Databases",), level="advanced")
        make_course("Advanced Rust", tags=("Rust",), level="advanced")
    page = client.get("/courses/").get_data(as_text=True)
    assert '<option value="databases">Databases</option>' in page
    assert sorted(slugs(client.get("/courses/?tag=databases").get_data(as_text=True))) == [
        "advanced-sql", "intro-to-sql"]
    assert sorted(slugs(client.get("/courses/?level=advanced").get_data(as_text=True))) == [
        "advanced-rust", "advanced-sql"]
    assert slugs(client.get("/courses/?tag=databases&level=advanced")
                 .get_data(as_text=True)) == ["advanced-sql"]


def test_no_results_state(app, client, htmx_client):
    with app.app_context():
        make_course("Python basics")
    page = client.get("/courses/?q=haskell").get_data(as_text=True)
    assert "No courses match" in page and "No courses yet" not in page
    fragment = htmx_client.get("/courses/?q=haskell").get_data(as_text=True)
    assert "No courses match" in fragment


def test_invalid_level_and_cursor_are_bad_requests(app, client, htmx_client):
    with app.app_context():
        make_course("Python basics")
    assert client.get("/courses/?level=expert").status_code == 400
    response = client.get("/courses/?after=not-a-cursor!")
    assert response.status_code == 400
    assert "page link is not valid" in response.get_data(as_text=True)
    assert htmx_client.get("/courses/?after=%%%").status_code == 400


def test_keyset_pagination_continues_without_gaps_or_repeats(app, client, htmx_client):
    with app.app_context():
        expected = [make_course(f"Course {n:02d}", modules=1, lessons=1, sections=1).slug
                    for n in range(30)]
    expected.reverse()  # newest first
    seen = []
    html = client.get("/courses/").get_data(as_text=True)
    seen += slugs(html)
    assert len(seen) == 12
    more = MORE_RE.search(html)
    assert more and "More courses" in html
    # The next pages, as htmx appends them (a fragment per page) and as plain pages.
    fragment = htmx_client.get(more.group(1).replace("&amp;", "&"))
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="catalog-page-')
    assert "<html" not in body
    seen += slugs(body)
    more = MORE_RE.search(body)
    assert more
    page3 = client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "<html" in page3
    seen += slugs(page3)
    assert MORE_RE.search(page3) is None
    assert "Back to the first page" in page3
    assert seen == expected


def test_pagination_keeps_the_filters(app, client):
    with app.app_context():
        for n in range(14):
            make_course(f"Rust {n:02d}", tags=("Rust",), modules=1, lessons=1, sections=1)
        make_course("Go basics", tags=("Go",), modules=1, lessons=1, sections=1)
    html = client.get("/courses/?tag=rust").get_data(as_text=True)
    more = MORE_RE.search(html).group(1).replace("&amp;", "&")
    assert "tag=rust" in more
    rest = slugs(client.get(more).get_data(as_text=True))
    assert len(rest) == 2 and all(s.startswith("rust-") for s in rest)


def test_enrolled_and_progress_badges(app, client, login):
    with app.app_context():
        user = make_user("ada@example.org")
        taken = make_course("Taken", modules=1, lessons=1, sections=4)
        make_course("Not taken")
        enroll(user, taken)
        progress.complete_section(user, taken.modules[0].lessons[0].sections[0].id)
        db.session.commit()
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    page = client.get("/courses/").get_data(as_text=True)
    assert page.count("badge-enrolled") == 1
    assert '<progress value="1" max="4"' in page
    assert "25 % done" in page


def test_home_page_shows_the_newest_courses(app, client):
    with app.app_context():
        for n in range(8):
            make_course(f"Course {n}", modules=1, lessons=1, sections=1)
    page = client.get("/").get_data(as_text=True)
    assert "Newest courses" in page and "No courses yet" not in page
    assert len(slugs(page)) == 6
    assert slugs(page)[0] == "course-7"
