"""Questions and answers over HTTP: asking (from a lesson's section), answering, votes
(htmx and plain forms), accepting, staff marks, lists (sorts, search, keyset pages),
similar questions, edits with revisions, soft delete and restore, who may do what, and
what the edge refuses."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from tests.factories import make_course, make_learner, make_user
from webapp.extensions import db
from webapp.models import Notification, PostRevision, QaAnswer, QaQuestion, QaVote, SiteSetting
from webapp.services.community import qa


@dataclass
class World:
    course_id: int
    slug: str
    lesson_id: int
    lesson_slug: str
    section_key: str
    section_title: str


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        owner = make_user("owner@example.org", role="editor", display_name="Olga Owner")
        course = make_course("Loops", owner=owner, modules=1, lessons=2, sections=3)
        make_learner("ann@example.org", enrolled_in=[course], display_name="Ann Asker")
        make_learner("bob@example.org", enrolled_in=[course], display_name="Bob Helper")
        make_learner("cat@example.org", enrolled_in=[course], display_name="Cat Voter")
        make_user("out@example.org", display_name="Otto Outsider")
        other_owner = make_user("other@example.org", role="editor")
        make_course("Other", owner=other_owner)
        make_user("admin@example.org", role="admin", display_name="Ada Admin")
        # Old enough accounts: links are allowed (the newcomer rules have their own tests).
        db.session.add(SiteSetting(key="newcomer_days", value="0"))
        db.session.add(SiteSetting(key="newcomer_posts", value="0"))
        db.session.commit()
        lesson = course.modules[0].lessons[0]
        section = lesson.sections[1]
        return World(course.id, course.slug, lesson.id, lesson.slug, section.key,
                     section.title)


@pytest.fixture
def as_user(app, login):
    """``as_user(email, htmx=False)``: a signed-in test client."""

    def sign_in(email: str, htmx: bool = False):
        client = app.test_client()
        login(client, email)
        if htmx:
            client.environ_base["HTTP_HX_REQUEST"] = "true"
        return client

    return sign_in


def token(client, path: str = "/dashboard") -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                      client.get(path).get_data(as_text=True))
    assert match
    return match.group(1)


def post(client, path: str, **data):
    data.setdefault("csrf_token", token(client))
    return client.post(path, data=data)


def ask(client, world: World, title="How do loops end?", body="My `while` never stops.",
        **extra):
    response = post(client, f"/courses/{world.slug}/questions/ask", title=title, body=body,
                    **extra)
    return response


def question_id_of(app, title: str) -> int:
    with app.app_context():
        return db.session.scalar(select(QaQuestion.id).where(QaQuestion.title == title))


def text(response) -> str:
    return response.get_data(as_text=True)


# --- asking from the lesson page ---------------------------------------------------------


def test_lesson_page_offers_asking_about_each_section_and_lists_its_questions(app, world,
                                                                              as_user):
    ann = as_user("ann@example.org")
    lesson_url = f"/courses/{world.slug}/lessons/{world.lesson_slug}"
    page = text(ann.get(lesson_url))
    assert "No questions about this lesson yet." in page
    ask_link = (f"/courses/{world.slug}/questions/ask?lesson={world.lesson_id}"
                f"&amp;section={world.section_key}")
    assert ask_link in page
    form = text(ann.get(ask_link.replace("&amp;", "&")))
    assert f"About the section <strong>“{world.section_title}”</strong>" in form
    assert f'value="{world.section_key}"' in form
    response = ask(ann, world, lesson=str(world.lesson_id), section=world.section_key)
    assert response.status_code == 303
    question_url = response.headers["Location"]
    shown = text(ann.get(question_url))
    assert "How do loops end?" in shown and "<code>while</code>" in shown
    assert f"#{world.section_key}\">“Lesson 1.1”, section “{world.section_title}”" in shown
    page = text(ann.get(lesson_url))
    assert "How do loops end?" in page
    assert f"/courses/{world.slug}/questions?lesson={world.lesson_id}" in page
    # The course page links to its questions.
    assert f"/courses/{world.slug}/questions" in text(ann.get(f"/courses/{world.slug}"))


def test_a_section_of_another_lesson_is_dropped_and_a_foreign_lesson_refused(app, world,
                                                                            as_user):
    ann = as_user("ann@example.org")
    assert ask(ann, world, lesson=str(world.lesson_id), section="no-such-key").status_code \
        == 303
    with app.app_context():
        question = db.session.scalar(select(QaQuestion))
        assert question.lesson_id == world.lesson_id and question.section_key is None
        foreign = db.session.scalar(select(QaQuestion.id).where(QaQuestion.id < 0))
        assert foreign is None
        from webapp.models import Lesson
        other_lesson = db.session.scalar(select(Lesson.id).where(
            Lesson.course_id != world.course_id))
    response = ask(ann, world, title="Another question here", lesson=str(other_lesson))
    assert response.status_code == 400
    assert "Choose a lesson of this course." in text(response)


def test_asking_checks_title_and_body_with_clear_errors(world, as_user):
    ann = as_user("ann@example.org")
    response = ask(ann, world, title="short")
    assert response.status_code == 400 and "at least 8 characters" in text(response)
    response = ask(ann, world, body="x" * 20_001)
    assert response.status_code == 400 and "the most is 20,000" in text(response)
    response = ask(ann, world, body="\x07\x01 ")
    assert response.status_code == 400 and "Write the body." in text(response)
    response = ask(ann, world, lesson="99999999999")
    assert response.status_code == 400


# --- answers, notifications, accepting, staff -------------------------------------------


def test_answer_notifies_asker_and_accepting_notifies_answerer(app, world, as_user):
    ann, bob = as_user("ann@example.org"), as_user("bob@example.org")
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    response = post(bob, f"/questions/{qid}/answers",
                    body="Change the condition:\n\n```python\nwhile i < 3:\n    i += 1\n```")
    assert response.status_code == 303
    with app.app_context():
        answer = db.session.scalar(select(QaAnswer))
        answer_id = answer.id
        [note] = db.session.scalars(select(Notification)).all()
        assert note.kind == "question_answered" and "Bob Helper answered" in note.title
        assert note.url == f"/questions/{qid}#answer-{answer_id}"
        assert db.session.get(QaQuestion, qid).answer_count == 1
    page = text(ann.get(f"/questions/{qid}"))
    assert '<span class="nb">while</span>' in page or "while" in page
    assert "1 answer<" in page
    # Bob cannot accept; Ann can.
    assert post(bob, f"/answers/{answer_id}/accept").status_code == 403
    assert post(ann, f"/answers/{answer_id}/accept").status_code == 303
    page = text(ann.get(f"/questions/{qid}"))
    assert "Accepted answer" in page and "Unaccept" in page
    with app.app_context():
        kinds = [n.kind for n in db.session.scalars(
            select(Notification).where(Notification.kind == "answer_accepted"))]
        assert kinds == ["answer_accepted"]
    # Switch to another answer: one accepted at a time; then un-accept.
    cat = as_user("cat@example.org")
    post(cat, f"/questions/{qid}/answers", body="Or use `break`.")
    with app.app_context():
        second = db.session.scalar(select(QaAnswer.id).where(QaAnswer.id != answer_id))
    assert post(ann, f"/answers/{second}/accept").status_code == 303
    with app.app_context():
        accepted = db.session.scalars(select(QaAnswer.id).where(QaAnswer.accepted)).all()
        assert accepted == [second]
        assert db.session.get(QaQuestion, qid).accepted_answer_id == second
    assert post(ann, f"/questions/{qid}/unaccept").status_code == 303
    with app.app_context():
        assert db.session.scalars(select(QaAnswer.id).where(QaAnswer.accepted)).all() == []
    # Accepted answers sort first.
    post(ann, f"/answers/{second}/accept")
    page = text(ann.get(f"/questions/{qid}"))
    assert page.index(f'id="answer-{second}"') < page.index(f'id="answer-{answer_id}"')


def test_editors_answers_are_marked_staff_and_editors_accept(app, world, as_user):
    ann, owner = as_user("ann@example.org"), as_user("owner@example.org")
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    post(owner, f"/questions/{qid}/answers", body="A teacher's answer.")
    post(as_user("bob@example.org"), f"/questions/{qid}/answers", body="A learner's answer.")
    page = text(ann.get(f"/questions/{qid}"))
    assert page.count('class="badge qa-staff"') == 1
    staff_at = page.index('class="badge qa-staff"')
    assert page.rindex("Olga Owner", 0, staff_at) > page.rfind("A learner", 0, staff_at)
    with app.app_context():
        learner_answer = db.session.scalar(select(QaAnswer.id).where(
            QaAnswer.body == "A learner's answer."))
    assert post(owner, f"/answers/{learner_answer}/accept").status_code == 303


# --- votes ------------------------------------------------------------------------------


def test_votes_change_and_come_back_with_htmx_and_without(app, world, as_user):
    ann = as_user("ann@example.org")
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    bob = as_user("bob@example.org", htmx=True)
    csrf = token(bob, f"/questions/{qid}")
    response = bob.post(f"/questions/{qid}/vote", data={"value": "1", "csrf_token": csrf})
    assert response.status_code == 200
    fragment = text(response)
    assert fragment.startswith(f'<form id="vote-question-{qid}"')
    assert "Score: </span>1<" in fragment and 'aria-pressed="true"' in fragment
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]
    # Down replaces up; the same button again takes it back.
    assert "Score: </span>-1<" in text(bob.post(f"/questions/{qid}/vote",
                                               data={"value": "-1", "csrf_token": csrf}))
    assert "Score: </span>0<" in text(bob.post(f"/questions/{qid}/vote",
                                              data={"value": "0", "csrf_token": csrf}))
    # Without JavaScript: a form post and a redirect back to the question.
    cat = as_user("cat@example.org")
    response = post(cat, f"/questions/{qid}/vote", value="1")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/questions/{qid}#question")
    with app.app_context():
        assert db.session.get(QaQuestion, qid).score == 1
        assert db.session.scalar(select(QaVote.value)) == 1
    # One's own question: no buttons, and a post is refused.
    assert 'class="qa-vote-up' not in text(ann.get(f"/questions/{qid}"))
    assert post(ann, f"/questions/{qid}/vote", value="1").status_code == 403
    for bad in ("2", "", "up", "1.0"):
        assert post(cat, f"/questions/{qid}/vote", value=bad).status_code == 400


def test_answer_votes(app, world, as_user):
    ann, bob, cat = (as_user(f"{n}@example.org") for n in ("ann", "bob", "cat"))
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    post(bob, f"/questions/{qid}/answers", body="Use break.")
    with app.app_context():
        aid = db.session.scalar(select(QaAnswer.id))
    post(ann, f"/answers/{aid}/vote", value="1")
    post(cat, f"/answers/{aid}/vote", value="-1")
    post(cat, f"/answers/{aid}/vote", value="1")
    with app.app_context():
        assert db.session.get(QaAnswer, aid).score == 2
    page = text(ann.get(f"/questions/{qid}"))
    assert f'id="vote-answer-{aid}"' in page


# --- lists --------------------------------------------------------------------------------


def _seed(app, world, count: int, *, answered_every: int = 0):
    """``count`` questions by Ann, scores 0..count-1 given directly (votes are tested
    elsewhere); every ``answered_every``-th one answered by Bob."""
    with app.app_context():
        from webapp.models import User
        ann = db.session.scalar(select(User).where(User.email == "ann@example.org"))
        bob = db.session.scalar(select(User).where(User.email == "bob@example.org"))
        course = qa.access.get_course(world.course_id)
        ids = []
        for n in range(count):
            question = qa.ask_question(ann, course, title=f"Question number {n:03d} about_x%",
                                       body=f"Body {n}", lesson_id=world.lesson_id)
            question.score = n % 7
            if answered_every and n % answered_every == 0:
                qa.answer_question(bob, question, body="An answer.", mail_context=None)
            ids.append(question.id)
        db.session.commit()
        return ids


def _walk(client, url: str) -> list[str]:
    titles = []
    while url:
        page = text(client.get(url))
        titles += re.findall(r'<a href="/questions/\d+">([^<]+)</a>', page)
        found = re.search(r'href="([^"]+)" rel="next"', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    return titles


def test_every_sort_pages_through_all_questions_once(app, world, as_user):
    ids = _seed(app, world, 45, answered_every=4)
    bob = as_user("bob@example.org")
    base = f"/courses/{world.slug}/questions"
    newest = _walk(bob, f"{base}?sort=newest")
    assert len(newest) == 45 and newest[0].startswith("Question number 044")
    assert newest == sorted(newest, reverse=True)
    by_votes = _walk(bob, f"{base}?sort=votes")
    assert sorted(by_votes) == sorted(newest)
    scores = [int(t[16:19]) % 7 for t in by_votes]
    assert scores == sorted(scores, reverse=True)
    unanswered = _walk(bob, f"{base}?sort=unanswered")
    assert len(unanswered) == len(ids) - len(range(0, 45, 4))
    assert "Question number 000" not in " ".join(unanswered)
    # Unknown sort: the default; a broken cursor: the first page.
    assert bob.get(f"{base}?sort=nonsense").status_code == 200
    assert bob.get(f"{base}?sort=votes&after=zz_1").status_code == 200
    assert bob.get(f"{base}?after=99999999999999999999").status_code == 200


def test_search_matches_every_word_and_escapes_like_wildcards(app, world, as_user):
    _seed(app, world, 3)
    with app.app_context():
        from webapp.models import User
        ann = db.session.scalar(select(User).where(User.email == "ann@example.org"))
        qa.ask_question(ann, qa.access.get_course(world.course_id),
                        title="Plain title with nothing", body="no wildcards")
        db.session.commit()
    bob = as_user("bob@example.org")
    base = f"/courses/{world.slug}/questions"
    assert len(_walk(bob, f"{base}?q=NUMBER+001")) == 1
    assert len(_walk(bob, f"{base}?q=%25")) == 3  # a literal %, not "anything"
    assert len(_walk(bob, f"{base}?q=_x")) == 3
    assert _walk(bob, f"{base}?q=zzz") == []
    assert "No question matches “zzz”" in text(bob.get(f"{base}?q=zzz"))


def test_similar_questions_fragment_and_no_js_fallback(app, world, as_user):
    _seed(app, world, 3)
    bob = as_user("bob@example.org", htmx=True)
    url = f"/courses/{world.slug}/questions/similar"
    fragment = text(bob.get(url, query_string={"title": "which number is it"}))
    assert fragment.startswith('<div id="similar-questions"')
    assert fragment.count("<li>") == 3
    assert "<li>" not in text(bob.get(url, query_string={"title": "the and"}))
    plain = as_user("bob@example.org")
    response = plain.get(url, query_string={"title": "number"})
    assert response.status_code == 303 and "q=number" in response.headers["Location"]
    ask_page = text(plain.get(f"/courses/{world.slug}/questions/ask"))
    assert 'data-hx-trigger="input changed delay:400ms"' in ask_page


# --- edits, revisions, delete, restore --------------------------------------------------------


def test_edit_keeps_a_revision_and_shows_edited(app, world, as_user):
    ann = as_user("ann@example.org")
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    assert "edited" not in text(ann.get(f"/questions/{qid}"))
    response = post(ann, f"/questions/{qid}/edit", title="How do while loops end?",
                    body="Now with **details**.")
    assert response.status_code == 303
    page = text(ann.get(f"/questions/{qid}"))
    assert "How do while loops end?" in page and "<strong>details</strong>" in page
    assert f'href="/questions/{qid}/revisions">edited' in page
    history = text(ann.get(f"/questions/{qid}/revisions"))
    assert "How do loops end?" in history and "<code>while</code>" in history
    with app.app_context():
        assert db.session.scalar(select(PostRevision.title)) == "How do loops end?"
        assert "details" in db.session.get(QaQuestion, qid).search_text
    # Others may not edit; staff may.
    assert as_user("bob@example.org").get(f"/questions/{qid}/edit").status_code == 403
    assert post(as_user("owner@example.org"), f"/questions/{qid}/edit",
                title="How do while loops end?", body="Teacher fixed it.").status_code == 303


def test_deleted_answers_leave_a_placeholder_and_staff_restore(app, world, as_user):
    ann, bob, owner = (as_user(f"{n}@example.org") for n in ("ann", "bob", "owner"))
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    post(bob, f"/questions/{qid}/answers", body="Secret wrong answer.")
    with app.app_context():
        aid = db.session.scalar(select(QaAnswer.id))
    post(ann, f"/answers/{aid}/accept")
    assert post(ann, f"/answers/{aid}/delete").status_code == 403
    assert post(bob, f"/answers/{aid}/delete").status_code == 303
    page = text(ann.get(f"/questions/{qid}"))
    assert "This answer was removed." in page and "Secret wrong answer." not in page
    staff_page = text(owner.get(f"/questions/{qid}"))
    assert "Secret wrong answer." in staff_page and f"/answers/{aid}/restore" in staff_page
    with app.app_context():
        question = db.session.get(QaQuestion, qid)
        assert question.answer_count == 0 and question.accepted_answer_id is None
    assert post(bob, f"/answers/{aid}/restore").status_code == 403
    assert post(owner, f"/answers/{aid}/restore").status_code == 303
    assert "Secret wrong answer." in text(ann.get(f"/questions/{qid}"))
    with app.app_context():
        assert db.session.get(QaQuestion, qid).answer_count == 1


def test_deleted_questions_leave_the_list_and_staff_find_and_restore_them(app, world,
                                                                          as_user):
    ann, bob, owner = (as_user(f"{n}@example.org") for n in ("ann", "bob", "owner"))
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    assert post(ann, f"/questions/{qid}/delete").status_code == 303
    base = f"/courses/{world.slug}/questions"
    assert "How do loops end?" not in text(bob.get(base))
    assert bob.get(f"/questions/{qid}").status_code == 404
    assert ann.get(f"/questions/{qid}").status_code == 404
    assert bob.get(f"{base}?show=removed").status_code == 403
    assert "How do loops end?" in text(owner.get(f"{base}?show=removed"))
    assert post(owner, f"/questions/{qid}/restore").status_code == 303
    assert "How do loops end?" in text(bob.get(base))


def test_hidden_questions_are_seen_by_their_author_and_staff_only(app, world, as_user):
    ann = as_user("ann@example.org")
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    with app.app_context():
        db.session.get(QaQuestion, qid).status = "hidden"
        db.session.commit()
    assert "only you and the course\u2019s teachers" in text(ann.get(f"/questions/{qid}"))
    assert as_user("bob@example.org").get(f"/questions/{qid}").status_code == 404
    assert "Show again" in text(as_user("owner@example.org").get(f"/questions/{qid}"))


# --- who may do what -----------------------------------------------------------------------


@pytest.mark.parametrize(("email", "read", "take_part", "moderate"), [
    ("out@example.org", 200, 403, 403),      # signed in, not enrolled
    ("bob@example.org", 200, 303, 403),      # enrolled learner
    ("other@example.org", 200, 403, 403),    # editor of another course
    ("owner@example.org", 200, 303, 303),    # the course's editor
    ("admin@example.org", 200, 303, 303),    # admin
])
def test_permissions(app, world, as_user, email, read, take_part, moderate):
    ann = as_user("ann@example.org")
    ask(ann, world)
    qid = question_id_of(app, "How do loops end?")
    post(as_user("cat@example.org"), f"/questions/{qid}/answers", body="Cat's answer.")
    with app.app_context():
        aid = db.session.scalar(select(QaAnswer.id))
    client = as_user(email)
    assert client.get(f"/courses/{world.slug}/questions").status_code == read
    assert client.get(f"/questions/{qid}").status_code == read
    assert post(client, f"/questions/{qid}/vote", value="1").status_code == take_part
    assert post(client, f"/questions/{qid}/answers", body="Mine.").status_code == take_part
    assert ask(client, world, title="A question of my own").status_code == take_part
    assert post(client, f"/answers/{aid}/accept").status_code == moderate
    assert post(client, f"/answers/{aid}/delete").status_code == moderate
    assert post(client, f"/questions/{qid}/restore").status_code in (moderate, 303)


def test_signed_out_visitors_are_sent_to_sign_in(app, world, client):
    response = client.get(f"/courses/{world.slug}/questions")
    assert response.status_code in (302, 303) and "/login" in response.headers["Location"]
    page = text(client.get(f"/courses/{world.slug}/lessons/{world.lesson_slug}"))
    assert "to read and ask questions about this lesson" in page


def test_unpublished_courses_questions_are_not_found_for_learners(app, world, as_user):
    with app.app_context():
        draft = make_course("Draft course", publish=False,
                            owner=db.session.scalar(select(qa.User).where(
                                qa.User.email == "owner@example.org")))
        slug = draft.slug
    assert as_user("bob@example.org").get(f"/courses/{slug}/questions").status_code == 404
    assert as_user("owner@example.org").get(f"/courses/{slug}/questions").status_code == 200


def test_unverified_accounts_cannot_post_when_the_site_requires_it(app, world, as_user,
                                                                   settings_override):
    settings_override(email_verification="required")
    ann = as_user("ann@example.org")
    assert ask(ann, world).status_code == 403


# --- the edge -------------------------------------------------------------------------------


def test_the_edge_refuses_bad_ids_and_nul_bytes(app, world, as_user):
    bob = as_user("bob@example.org")
    for path in ("/questions/2147483648", "/questions/abc", "/answers/99999999999/edit",
                 "/questions/0"):
        assert bob.get(path).status_code == 404
    assert post(bob, "/answers/2147483648/vote", value="1").status_code == 404
    assert bob.get(f"/courses/{world.slug}/questions?q=a%00b").status_code == 400
    assert ask(bob, world, title="Nul \x00 in the title").status_code == 400
    assert bob.get(f"/courses/{world.slug}/questions?lesson=99999999999").status_code == 200
    assert bob.get("/courses/no-such-course/questions").status_code == 404
    assert post(bob, f"/courses/{world.slug}/questions/ask", title="Without a token",
                body="x", csrf_token="").status_code == 400


def test_posting_is_rate_limited_with_a_message_that_says_when(app, world, as_user):
    with app.app_context():
        db.session.add(SiteSetting(key="member_posts_per_hour", value="2"))
        db.session.commit()
    ann = as_user("ann@example.org")
    assert ask(ann, world, title="First question here").status_code == 303
    assert ask(ann, world, title="Second question here").status_code == 303
    response = ask(ann, world, title="Third question here")
    assert response.status_code == 429 and "Try again in" in text(response)
    assert "Retry-After" in response.headers


def test_newcomers_cannot_post_links(app, world, as_user):
    # With the hold rule off; on (the default), tests/moderation/test_holds.py.
    with app.app_context():
        db.session.execute(SiteSetting.__table__.delete())
        db.session.add(SiteSetting(key="hold_links_from_newcomers", value="0"))
        db.session.commit()
    response = ask(as_user("ann@example.org"), world, body="See https://spam.example")
    assert response.status_code == 400 and "New members cannot post links" in text(response)
