"""The Big List of Naughty Strings and the project's XSS vectors through the ask and
answer forms: every post is stored (or refused with a message, never a 500) and comes back
escaped or sanitized on the question page."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from sqlalchemy import select

from tests.factories import make_course, make_learner
from tests.xss_corpus import XSS_VECTORS
from webapp.extensions import db, limiter
from webapp.models import QaQuestion, SiteSetting
from webapp.services.community import rules
from webapp.web import posting

BLNS_PATH = Path(__file__).resolve().parents[3] / "shared/corpora/blns/blns.json"
BLNS = json.loads(BLNS_PATH.read_text(encoding="utf-8")) if BLNS_PATH.is_file() else []
BATCH = 100
DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "svg", "math", "style", "img",
                  "base", "meta", "link", "frame", "frameset", "applet", "template"}
_SCHEME = re.compile(r"^\s*(javascript|vbscript|data)\s*:", re.IGNORECASE)


class _Checker(HTMLParser):
    """Collects what must never come out of a user's post."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in DANGEROUS_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.problems.append(f"{tag} {name}=")
            if name in ("href", "src", "action", "xlink:href") and value \
                    and _SCHEME.match(value.replace("\t", "").replace("\n", "")):
                self.problems.append(f"{tag} {name}={value!r}")


def problems_on(page: str) -> list[str]:
    """Problems in the question and its answers (the layout's own scripts are outside)."""
    start = page.index('<article id="question"')
    end = page.index('<section class="qa-answer-form"') \
        if '<section class="qa-answer-form"' in page else page.index("</main>")
    checker = _Checker()
    checker.feed(page[start:end])
    checker.close()
    return checker.problems


@pytest.fixture
def posters(app, login, monkeypatch):
    """Two enrolled learners, signed in, with the posting limits out of the way."""
    monkeypatch.setattr(posting, "IP_POSTS_PER_HOUR", 1_000_000)
    with app.app_context():
        course = make_course("Strings", modules=1, lessons=1)
        for email in ("asker@example.org", "helper@example.org"):
            make_learner(email, enrolled_in=[course])
        for key, value in (("member_posts_per_hour", "10000"), ("newcomer_days", "0"),
                           ("newcomer_posts", "0")):
            db.session.add(SiteSetting(key=key, value=value))
        db.session.commit()
        slug = course.slug
    clients = []
    for email in ("asker@example.org", "helper@example.org"):
        client = app.test_client()
        login(client, email)
        page = client.get(f"/courses/{slug}/questions/ask").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        clients.append((client, token))
    return slug, clients[0], clients[1]


def _run(app, posters, strings: list[str]) -> None:
    slug, (asker, asker_token), (helper, helper_token) = posters
    failures = []
    for n, raw in enumerate(strings):
        if n % 40 == 0:
            # Three requests a string: stay under the per-client budget of the whole site.
            with app.app_context():
                limiter.reset()
        title = f"Naughty: {raw}"
        response = asker.post(f"/courses/{slug}/questions/ask", data={
            "title": title, "body": raw or "(empty)", "csrf_token": asker_token})
        if "\x00" in raw:
            # The edge refuses NUL bytes before any view (webapp.web.edge).
            assert response.status_code == 400, raw
            continue
        if response.status_code == 400:
            # Refused with a message said next to the field (too long, nothing left …).
            assert 'class="field-error"' in response.get_data(as_text=True), raw
            continue
        assert response.status_code == 303, (raw, response.status_code)
        question_url = response.headers["Location"]
        question_id = int(question_url.rsplit("/", 1)[1])
        answer = helper.post(f"{question_url}/answers", data={
            "body": f"Re: {raw}", "csrf_token": helper_token})
        assert answer.status_code in (303, 400), (raw, answer.status_code)
        page = asker.get(question_url).get_data(as_text=True)
        with app.app_context():
            stored = db.session.get(QaQuestion, question_id).title
        expected = rules.clean_text(title, field="title", label="Title", max_length=200,
                                    single_line=True)
        if stored != expected or str(escape(stored)) not in page:
            failures.append((n, raw, "title not shown as typed"))
        found = problems_on(page)
        if found:
            failures.append((n, raw, found))
    assert failures == []


@pytest.mark.parametrize(
    "start", range(0, len(BLNS), BATCH) if BLNS else
    [pytest.param(0, marks=pytest.mark.skip(reason=f"no BLNS at {BLNS_PATH}"))])
def test_naughty_strings_through_the_forms(app, posters, start):
    _run(app, posters, BLNS[start:start + BATCH])


def test_xss_vectors_through_the_forms(app, posters):
    _run(app, posters, [source for _, source in XSS_VECTORS])


def test_all_vectors_in_one_question_and_answer(app, posters):
    slug, (asker, asker_token), (helper, helper_token) = posters
    body = "\n\n".join(source.replace("\x00", "") for _, source in XSS_VECTORS)
    response = asker.post(f"/courses/{slug}/questions/ask", data={
        "title": "Every vector at once", "body": body, "csrf_token": asker_token})
    assert response.status_code == 303
    url = response.headers["Location"]
    assert helper.post(f"{url}/answers", data={"body": body, "csrf_token": helper_token}
                       ).status_code == 303
    page = asker.get(url).get_data(as_text=True)
    assert problems_on(page) == []
    with app.app_context():
        assert db.session.scalar(select(QaQuestion.body)) == body.strip()
