"""Bad input at the edge never gets a 500: ids beyond any column's range, NUL bytes,
in every route of the URL map, every query parameter the pages read and every field
of every form the pages show.

The fuzzer signs in as an admin (who can reach every page), builds a world with one
of everything, and then:

- substitutes 2^31, 2^63, 10^30 and negative numbers for each ``<int:…>`` path
  argument of every rule, for every method the rule takes;
- sends those numbers as each query parameter that a view reads (recorded as it runs),
  and a NUL byte once per route;
- crawls the pages of the world, collects every POST form, and submits it once per
  field with that field replaced by each bad number (and a NUL byte once per form).

It runs on SQLite and, in CI, on PostgreSQL, where ``integer`` columns end at 2^31.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import pytest
from sqlalchemy import select
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.routing import IntegerConverter

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import (
    Announcement,
    Channel,
    ChannelMessage,
    Course,
    Event,
    Lesson,
    LessonProposal,
    ModerationItem,
    QaAnswer,
    QaQuestion,
    Question,
    Quiz,
    Section,
)
from webapp.models.base import utcnow
from webapp.services import quizzes

BAD_NUMBERS = ["2147483648", "9223372036854775808", "1" + "0" * 30, "-9223372036854775809"]
NUL_TEXT = "a\x00b"
BAD_VALUES = [*BAD_NUMBERS, NUL_TEXT]
QUERY_PARAMETERS = ["q", "tag", "level", "after", "before", "status", "kind", "wait",
                    "focus", "next", "month", "course", "page", "cursor", "since"]
AI_QUOTA_PATHS = ("/branches", "/edit/drafts/new", "/narrate", "/regenerate")
# Forms whose success would end the fuzzing session or the world it works on.
SKIP_ACTIONS = ("/logout",)


class _Forms(HTMLParser):
    """Every ``<form method=post>`` of a page: its action and (name, value) fields."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._current: list[tuple[str, str]] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self._current = []
            self.forms.append((attributes.get("action") or "", self._current))
        elif self._current is not None and tag in ("input", "textarea", "select", "button"):
            name = attributes.get("name")
            if name and name != "csrf_token":
                self._current.append((name, attributes.get("value") or "1"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _ids(app, make_user, make_course, enroll) -> dict[str, str]:
    """Real values for every path argument, so each bad value is tried in context."""
    with app.app_context():
        editor = make_user(role="editor")
        course = make_course(owner=editor, quiz=True)
        draft = make_course(owner=editor, publish=False)
        enroll(make_user(), course)
        lesson = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)).first()
        section = db.session.scalars(select(Section).where(Section.lesson_id == lesson.id)).first()
        quiz = db.session.scalars(select(Quiz).where(Quiz.module_id == lesson.module_id)).first()
        question = db.session.scalars(select(Question).where(Question.quiz_id == quiz.id)).first()
        # An AI rewrite waiting for review, so its review page and forms are crawled too.
        proposal = LessonProposal(lesson_id=lesson.id, base_version=lesson.version,
                                  title=lesson.title, source=lesson.source + "\nMore.\n",
                                  provider="openai", model="m", requested_by_id=editor.id)
        db.session.add(proposal)
        start = utcnow() + timedelta(days=3)
        event = Event(course_id=course.id, author_id=editor.id, title="Office hours",
                      body="Come along.", starts_at=start, ends_at=start + timedelta(hours=1),
                      capacity=5)
        announcement = Announcement(course_id=course.id, author_id=editor.id,
                                    title="Welcome", body="Hello.")
        asked = QaQuestion(course_id=course.id, lesson_id=lesson.id, author_id=editor.id,
                           title="How do loops end?", body="Asking.", answer_count=1)
        db.session.add_all([event, announcement, asked])
        db.session.flush()
        answer = QaAnswer(question_id=asked.id, author_id=editor.id, body="Like this.")
        general = db.session.scalar(select(Channel).where(Channel.slug == "general")) \
            or Channel(slug="general")
        db.session.add_all([answer, general])
        db.session.flush()
        message = ChannelMessage(channel_id=general.id, author_id=editor.id, body="Hello.")
        db.session.add(message)
        db.session.flush()
        item = ModerationItem(target_kind="message", target_id=message.id,
                              author_id=editor.id, flag_count=1, reasons=",spam,")
        db.session.add(item)
        db.session.commit()
        return {
            "course_id": str(draft.id), "module_id": str(lesson.module_id),
            "lesson_id": str(lesson.id), "section_id": str(section.id), "quiz_id": str(quiz.id),
            "question_id": str(question.id), "attempt_id": "1", "job_id": "1",
            "proposal_id": str(proposal.id),
            "branch_id": "1", "asset_id": "1", "user_id": str(editor.id), "version": "1",
            "slug": course.slug, "course_slug": course.slug, "lesson_slug": lesson.slug,
            "key": quiz.key, "code": "nosuchcode", "_published_course_id": str(course.id),
            # Mailed links (reset, verify, email change): a token that is no token.
            "token": "nosuchtoken",
            "name": "privacy",
            # Notifications and flags (issue 13).
            "notification_id": "1", "kind": "lesson", "target_id": str(lesson.id),
            "event_id": str(event.id), "announcement_id": str(announcement.id),
            "answer_id": str(answer.id), "message_id": str(message.id),
            # The Q&A's ``question_id`` (the quiz editor's is ``question_id`` above).
            "_qa_question_id": str(asked.id),
            # Moderation of people and appeals (issue 14): no appeal or action exists.
            "appeal_id": "1", "action_id": "1", "action": "suspend",
            # A queue item (the message, flagged).
            "item_id": str(item.id),
        }


@pytest.fixture
def fuzz(app, client, login, csrf_token, make_user, make_course, enroll):
    """An admin's client and the ids of a world with one of everything.

    The site-wide rate limit is off meanwhile: a fuzzer that only sees 429s finds nothing.
    """
    ids = _ids(app, make_user, make_course, enroll)
    with app.app_context():
        admin = make_user("fuzz-admin@example.org", role="admin")
        # An attempt in progress, so the crawl finds the quiz form with its answer fields.
        quiz = db.session.get(Quiz, int(ids["quiz_id"]))
        enroll(admin, db.session.get(Course, int(ids["_published_course_id"])))
        ids["attempt_id"] = str(quizzes.start_attempt(admin, quiz).id)
        db.session.commit()
    response = login(client, "fuzz-admin@example.org", DEFAULT_PASSWORD)
    assert response.status_code in (302, 303)
    site_limiter = app.extensions["tangent.limiter"]
    site_limiter.enabled = False
    client.csrf = lambda: csrf_token(client, "/account/")
    yield client, ids
    site_limiter.enabled = True


def _request(client, method: str, url: str, data=None):
    if method == "GET":
        return client.get(url)
    form = MultiDict(data or [])
    form["csrf_token"] = client.csrf()
    return client.open(url, method=method, data=form)


def _check(failures: list[str], client, method: str, url: str, data=None) -> None:
    try:
        status = _request(client, method, url, data).status_code
        if status == 429:
            # An endpoint's own budget (polling cards, password checks) ran out: start
            # it afresh so this request reaches the view after all.
            client.application.extensions["tangent.limiter"].reset()
            status = _request(client, method, url, data).status_code
    except Exception as exc:  # noqa: BLE001 - a propagated exception is the 500 we look for
        failures.append(f"{method} {url!r} {data!r}: {exc.__class__.__name__}: {exc}")
        return
    if status >= 500:
        failures.append(f"{method} {url!r} {data!r}: {status}")
    # Requests that never reached a view would make a silent pass. Only the AI
    # generation quotas (per user, kept in the database) may still say 429 here.
    if (status == 429 and not url.endswith(AI_QUOTA_PATHS)) or not _signed_in(client):
        failures.append(f"{method} {url!r} {data!r}: {status}, and the fuzzer is locked out")


def _signed_in(client) -> bool:
    with client.session_transaction() as session:
        return "_user_id" in session


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        yield rule, sorted(rule.methods - {"HEAD", "OPTIONS"})


# The longest fuzzers are split in parts (each takes every PARTS-th route or form), so that
# the suite's workers share them instead of one worker running each for a minute.
PARTS = 4


def _build(rule, values: dict[str, str]) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", values[name], path)
    return path


@pytest.mark.parametrize("part", range(PARTS))
def test_ids_beyond_the_column_range_are_not_found_never_a_500(app, fuzz, part):
    client, ids = fuzz
    failures: list[str] = []
    for index, (rule, methods) in enumerate(_rules(app)):
        if index % PARTS != part:
            continue
        int_args = [name for name, converter in rule._converters.items()
                    if isinstance(converter, IntegerConverter)]
        for name in int_args:
            for bad in BAD_NUMBERS:
                url = _build(rule, {**ids, name: bad})
                for method in methods:
                    _check(failures, client, method, url)
    assert failures == [], "\n".join(failures)


class _ReadArgs(ImmutableMultiDict):
    """``request.args`` that notes which names a view asked for, so each parameter a page
    really reads gets the bad values (not a guessed list of names)."""

    read: set[str] = set()
    whole = False  # the view looked at every parameter (iterated, copied)

    def get(self, key, default=None, type=None):
        _ReadArgs.read.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        _ReadArgs.read.add(key)
        return super().getlist(key, type)

    def __getitem__(self, key):
        _ReadArgs.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        _ReadArgs.read.add(key)
        return super().__contains__(key)

    def to_dict(self, flat=True):
        _ReadArgs.whole = True
        return super().to_dict(flat)

    def __iter__(self):
        _ReadArgs.whole = True
        return super().__iter__()


def _parameters_read(app, client, url: str) -> set[str]:
    """The query parameters the view behind ``url`` reads: asked once bare and once with
    every usual name set (a view may read some names only when others are present)."""
    original = app.request_class

    class Recording(original):
        parameter_storage_class = _ReadArgs

    app.request_class = Recording
    _ReadArgs.read, _ReadArgs.whole = set(), False
    try:
        _request(client, "GET", url)
        _request(client, "GET", f"{url}?{urlencode(dict.fromkeys(QUERY_PARAMETERS, '1'))}")
    finally:
        app.request_class = original
    read = {name for name in _ReadArgs.read if isinstance(name, str)}
    return read | set(QUERY_PARAMETERS) if _ReadArgs.whole else read


@pytest.mark.parametrize("part", range(PARTS))
def test_bad_numbers_and_nul_bytes_in_query_parameters_are_never_a_500(app, fuzz, part):
    """Each parameter a view reads gets every bad number; a NUL byte (refused before any
    view, for every parameter alike) is sent once per route."""
    client, ids = fuzz
    failures: list[str] = []
    parameters_seen: set[str] = set()
    for index, (rule, methods) in enumerate(_rules(app)):
        if "GET" not in methods or rule.endpoint == "auth.logout" or index % PARTS != part:
            continue
        base = _build(rule, ids)
        read = _parameters_read(app, client, base)
        parameters_seen |= read
        for parameter in sorted(read):
            for bad in BAD_NUMBERS:
                _check(failures, client, "GET", f"{base}?{urlencode({parameter: bad})}")
        _check(failures, client, "GET", f"{base}?{urlencode({'q': NUL_TEXT})}")
    for index, (rule, _methods) in enumerate(_rules(app)):
        if index % PARTS != part:
            continue
        text_args = [name for name in rule.arguments
                     if name in ("slug", "course_slug", "lesson_slug", "key", "code", "token",
                                 "name")]
        for name in text_args:
            _check(failures, client, "GET", _build(rule, {**ids, name: "a%00b"}))
    assert failures == [], "\n".join(failures)
    # The recording works: every part of the map has views that read cursors or filters.
    assert parameters_seen & {"after", "before", "q", "status"}, parameters_seen


@pytest.mark.parametrize("part", range(PARTS))
def test_every_form_field_survives_bad_numbers_and_nul_bytes(app, fuzz, part):
    client, ids = fuzz
    pages = set()
    for rule, methods in _rules(app):
        if "GET" in methods and rule.endpoint not in ("main.healthz", "jobs.admin_costs_csv",
                                                      "editor.export_course", "audio.asset",
                                                      "admin.audit_csv", "site.logo"):
            pages.add(_build(rule, ids))
    pages.add(_build(app.url_map._rules_by_endpoint["editor.course"][0],
                     {**ids, "course_id": ids["_published_course_id"]}))
    for rule, methods in _rules(app):
        if rule.endpoint.startswith("qa.") and "GET" in methods:
            pages.add(_build(rule, {**ids, "question_id": ids["_qa_question_id"]}))
        if rule.endpoint.startswith("channels.") and "GET" in methods:
            pages.add(_build(rule, {**ids, "slug": "general"}))
    forms: dict[tuple[str, tuple[str, ...]], list[tuple[str, str]]] = {}
    for page in sorted(pages):
        response = client.get(page)
        if response.status_code != 200 or "html" not in (response.content_type or ""):
            continue
        parser = _Forms()
        parser.feed(response.get_data(as_text=True))
        for action, fields in parser.forms:
            action = urlsplit(action).path or page
            if action.startswith(SKIP_ACTIONS) or not fields:
                continue
            forms.setdefault((action, tuple(name for name, _ in fields)), fields)
    assert len(forms) >= 20, f"the crawl found only {len(forms)} forms: {sorted(forms)}"
    failures: list[str] = []
    for number, ((action, _names), fields) in enumerate(sorted(forms.items())):
        if number % PARTS != part:
            continue
        for index, (name, _value) in enumerate(fields):
            # A NUL byte is refused before any view whatever the field: once per form.
            for bad in BAD_VALUES if index == 0 else BAD_NUMBERS:
                data = list(fields)
                data[index] = (name, bad)
                _check(failures, client, "POST", action, data)
    assert failures == [], "\n".join(failures)


def test_signed_out_forms_survive_bad_numbers_and_nul_bytes(app, csrf_token):
    failures: list[str] = []
    forms = {"/login": ["email", "password", "next"],
             "/register": ["email", "password", "display_name"]}
    for action, names in forms.items():
        for name in names:
            for bad in BAD_VALUES:
                client = app.test_client()  # a registration signs its client in
                data = {other: "learner@example.org" if other == "email" else "long enough pw 1"
                        for other in names}
                data[name] = bad
                data["csrf_token"] = csrf_token(client, action)
                try:
                    status = client.post(action, data=data).status_code
                except Exception as exc:  # noqa: BLE001 - the 500 we look for
                    failures.append(f"{action} {name}={bad!r}: {exc!r}")
                    continue
                if status >= 500:
                    failures.append(f"{action} {name}={bad!r}: {status}")
    assert failures == [], "\n".join(failures)


def test_out_of_range_ids_are_404_and_nul_bytes_are_400_with_a_reason(app, client, csrf_token):
    assert client.get("/quizzes/2147483648").status_code == 404
    assert client.get("/quizzes/2147483647").status_code == 404
    assert client.get("/jobs/99999999999999999999999/card").status_code == 404
    response = client.get("/courses/?q=a%00b")
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"email": "a\x00@example.org", "password": "x",
                                           "csrf_token": token})
    assert response.status_code == 400
