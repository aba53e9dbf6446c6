"""The per-process cache of what every reader of a lesson sees (``services.reading``).

It must never change a page (cold and warm renders are the same), and every path
that changes what it holds must be seen by the next request: edits through the
services, bulk statements, a write from another connection (another process), a
CLI rerender. Learners' own writes must not drop it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_quiz, make_user
from webapp.cli import cli
from webapp.extensions import db
from webapp.models import AudioAsset, Course, Lesson, Section, User
from webapp.models.content_generation import CONTENT_MODELS, ContentGeneration
from webapp.services import authoring, courses, progress, reading

CSRF = re.compile(r'(name="csrf_token" value="|"X-CSRFToken": ")[^"]+')
URL = "/courses/cached/lessons/lesson-1-2"
COURSE = "/courses/cached"


def normalized(response) -> str:
    assert response.status_code == 200
    return CSRF.sub(r"\1…", response.get_data(as_text=True))


@pytest.fixture
def reader(app, client, login):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Cached", modules=2, lessons=2, sections=3, owner=owner)
        make_quiz(course.modules[0])
        ada = make_user("ada@example.org")
        enroll(ada, course)
        progress.complete_section(ada, course.modules[0].lessons[1].sections[0].id)
        db.session.commit()
    login(client, "ada@example.org", DEFAULT_PASSWORD)
    return client


def tag(app) -> str | None:
    with app.app_context():
        return db.session.scalar(select(ContentGeneration.tag))


def test_a_cached_page_is_the_page_built_fresh(app, reader):
    reader.get(URL)  # records the reading position, which the page then shows
    reading.CACHE.clear()
    cold = normalized(reader.get(URL))
    assert len(reading.CACHE) == 1
    warm = normalized(reader.get(URL))
    assert warm == cold
    focus_cold = normalized(reader.get(URL + "?focus=1"))
    reading.CACHE.clear()
    assert normalized(reader.get(URL + "?focus=1")) == focus_cold


def test_a_cached_course_page_is_the_page_built_fresh(app, reader, client):
    for visitor in (reader, app.test_client()):  # enrolled, and anonymous
        reading.CACHE.clear()
        cold = normalized(visitor.get(COURSE))
        assert normalized(visitor.get(COURSE)) == cold


def test_the_cache_is_used_between_requests(app, reader, query_counter):
    reader.get(URL)
    with query_counter() as cold:
        reading.CACHE.clear()
        reader.get(URL)
    with query_counter() as warm:
        reader.get(URL)
    assert warm.n < cold.n - 4


def _owner_and_lesson():
    owner = db.session.scalar(select(User).where(User.email == "owner@example.org"))
    lesson = db.session.scalar(select(Lesson).where(Lesson.slug == "lesson-1-2"))
    return owner, lesson


def edit_text():
    owner, lesson = _owner_and_lesson()
    authoring.save_lesson(owner, lesson, base_version=lesson.version, title=lesson.title,
                          source=lesson.source.replace("An introduction", "Freshly edited text"))
    return "Freshly edited text"


def rename_module():
    owner, lesson = _owner_and_lesson()
    authoring.rename_module(owner, lesson.module, "A renamed module")
    return "A renamed module"


def rename_course():
    owner, lesson = _owner_and_lesson()
    course = lesson.course
    authoring.update_course(owner, course, base_version=course.version, title="Renamed course",
                            summary=course.summary, level=course.level, tags=[])
    return "Renamed course"


def add_lesson_after():
    owner, lesson = _owner_and_lesson()
    authoring.move_lesson(owner, lesson.module.course.modules[1].lessons[0], "up")
    return "Next lesson: Lesson 2.1"


def add_narration():
    _owner, lesson = _owner_and_lesson()
    db.session.add(AudioAsset(lesson_id=lesson.id, lesson_version=lesson.version, voice="v",
                              provider="espeak", mime_type="audio/mpeg", storage_name="a/b.mp3",
                              sha256="0" * 64, size_bytes=1000, duration_ms=61_000,
                              section_offsets={}, cost=Decimal(0)))
    return 'id="narration-heading"'


def bulk_statement():
    _owner, lesson = _owner_and_lesson()
    db.session.execute(update(Lesson).where(Lesson.id == lesson.id)
                       .values(title="Retitled in bulk"))
    return "Retitled in bulk"


def another_connection():
    # Another process: its own engine and session, no Flask app involved.
    engine = create_engine(db.engine.url)
    with Session(engine) as other:
        section = other.scalar(select(Section).join(Lesson).where(Lesson.slug == "lesson-1-2")
                               .order_by(Section.position))
        section.html = "<p>Written by another process</p>"
        other.commit()
    engine.dispose()
    return "Written by another process"


@pytest.mark.parametrize("change", [edit_text, rename_module, rename_course, add_lesson_after,
                                    add_narration, bulk_statement, another_connection])
def test_every_content_change_is_seen_by_the_next_request(app, reader, change):
    reader.get(URL)
    before = reader.get(URL).get_data(as_text=True)
    with app.app_context():
        expected = change()
        db.session.commit()
    assert expected not in before
    assert expected in reader.get(URL).get_data(as_text=True)


def add_quiz():
    _owner, lesson = _owner_and_lesson()
    make_quiz(lesson.course.modules[1], title="A brand new quiz", commit=False)
    return "A brand new quiz"


@pytest.mark.parametrize("change", [rename_module, rename_course, bulk_statement, add_quiz,
                                    add_lesson_after])
def test_every_content_change_is_seen_on_the_course_page(app, reader, change):
    before = reader.get(COURSE).get_data(as_text=True)
    with app.app_context():
        expected = change().removeprefix("Next lesson: ")
        db.session.commit()
    after = reader.get(COURSE).get_data(as_text=True)
    assert after != before
    assert expected in after


@pytest.mark.parametrize("path", ["/", "/courses/", "/courses/?q=cach", "/courses/?level=beginner"])
def test_cached_catalog_pages_are_the_pages_built_fresh(app, reader, path):
    for visitor in (reader, app.test_client()):
        reading.clear_caches()
        cold = normalized(visitor.get(path))
        assert len(reading.LISTS) >= 1
        assert normalized(visitor.get(path)) == cold


@pytest.mark.parametrize("path", ["/", "/courses/", "/courses/?q=renamed"])
def test_catalog_pages_see_a_renamed_course(app, reader, path):
    before = reader.get(path).get_data(as_text=True)
    with app.app_context():
        expected = rename_course()
        db.session.commit()
    assert expected not in before
    assert expected in reader.get(path).get_data(as_text=True)


def test_the_dashboard_built_fresh_and_from_the_cache_is_the_same(app, reader):
    reader.get(URL)
    reading.clear_caches()
    cold = normalized(reader.get("/dashboard"))
    assert normalized(reader.get("/dashboard")) == cold
    assert "Continue" in cold or "Resume" in cold


def new_lesson_slug():
    _owner, lesson = _owner_and_lesson()
    lesson.slug = "a-new-address"
    return "/lessons/a-new-address"


@pytest.mark.parametrize("change", [rename_course, new_lesson_slug])
def test_the_dashboard_sees_content_changes(app, reader, change):
    reader.get(URL)  # the "Continue" link points at this lesson
    before = reader.get("/dashboard").get_data(as_text=True)
    with app.app_context():
        expected = change()
        db.session.commit()
    assert expected not in before
    assert expected in reader.get("/dashboard").get_data(as_text=True)


def test_catalog_pages_see_a_newly_published_course_and_its_tags(app, reader):
    before = reader.get("/courses/").get_data(as_text=True)
    with app.app_context():
        make_course("Fresh arrival", tags=("brandnew",))
    after = reader.get("/courses/").get_data(as_text=True)
    assert "Fresh arrival" not in before and "Fresh arrival" in after
    assert 'value="brandnew"' in after


def test_catalog_badges_follow_the_learner_not_the_cache(app, reader):
    assert "Enrolled" in reader.get("/courses/").get_data(as_text=True)
    anonymous = app.test_client().get("/courses/").get_data(as_text=True)
    assert "Enrolled" not in anonymous


def test_unpublishing_the_course_is_seen_at_once(app, reader):
    assert reader.get(URL).status_code == 200
    with app.app_context():
        _owner, lesson = _owner_and_lesson()
        db.session.execute(update(Course).where(Course.id == lesson.course_id)
                           .values(status="draft"))
        db.session.commit()
    assert reader.get(URL).status_code == 404


def test_rerendering_from_the_command_line_moves_the_tag(app, reader):
    reader.get(URL)
    with app.app_context():
        db.session.execute(update(Lesson).values(renderer_version="old"))
        db.session.commit()
    before = tag(app)
    result = app.test_cli_runner().invoke(cli, ["content", "rerender"])
    assert result.exit_code == 0, result.output
    assert tag(app) != before


@pytest.mark.parametrize("model", CONTENT_MODELS, ids=lambda m: m.__name__)
def test_a_write_to_any_content_table_moves_the_tag(app, reader, model):
    with app.app_context():
        before = tag(app)
        row = db.session.scalar(select(model).limit(1))
        if row is None:  # not in the fixture's course: touch it through a statement
            key = next(iter(model.__table__.primary_key.columns))
            db.session.execute(update(model).values({key.key: key}))
        else:
            # A column marked modified: the unit of work writes the row.
            column = next(c.key for c in model.__table__.columns if not c.primary_key)
            flag_modified(row, column)
        db.session.commit()
    assert tag(app) != before


def test_learners_writes_leave_the_cache_alone(app, reader):
    reader.get(URL)
    before = tag(app)
    with app.app_context():
        ada = make_user("grace@example.org")
        course = db.session.scalar(select(Course).where(Course.slug == "cached"))
        enroll(ada, course)
        progress.complete_section(ada, course.modules[0].lessons[0].sections[0].id)
        db.session.commit()
    assert tag(app) == before


def test_without_a_tag_row_nothing_is_cached(app, reader):
    reader.get(URL)
    with app.app_context():
        db.session.execute(ContentGeneration.__table__.delete())
        db.session.commit()
    reading.CACHE.clear()
    reader.get(URL)
    assert len(reading.CACHE) == 0
    with app.app_context():  # the next content write makes the row again
        courses.add_module_unchecked(None, db.session.scalar(select(Course)), "More")
        db.session.commit()
    assert tag(app) is not None


# --- rendered course-card heads (webapp/web/course_cards.py) ---------------------------------


@pytest.mark.parametrize("path", ["/", "/courses/"])
def test_kept_card_heads_render_as_fresh_ones(app, reader, path):
    from webapp.web import course_cards

    course_cards._HEADS.clear()
    cold = normalized(reader.get(path))
    assert course_cards._HEADS, "the card heads should be kept"
    assert normalized(reader.get(path)) == cold
    # The learner's own part of a card (the badge) is never kept with the head.
    assert "Enrolled" in cold
    assert "Enrolled" not in app.test_client().get(path).get_data(as_text=True)


def test_card_heads_follow_the_mount_point(app, reader):
    """The links inside a kept head depend on where the site is mounted (SCRIPT_NAME)."""
    reader.get("/courses/")
    mounted = reader.get("/courses/", base_url="http://localhost/school/")
    page = mounted.get_data(as_text=True)
    assert 'href="/school/courses/cached"' in page
    assert 'href="/courses/cached"' not in page


def test_the_card_head_cache_is_bounded(app, reader, monkeypatch):
    from webapp.web import course_cards

    monkeypatch.setattr(course_cards, "HEADS_MAX", 1)
    course_cards._HEADS.clear()
    reader.get("/")
    reader.get("/courses/")  # another heading level: other keys
    assert len(course_cards._HEADS) <= 1
