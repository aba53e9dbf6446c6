"""The Q&A list and the question page cost a fixed number of statements: the same with
3 questions (and answers, and votes) as with 30."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_course, make_learner, make_user
from webapp.extensions import db
from webapp.models import QaQuestion, User
from webapp.services.community import qa

# BEGIN, the session's user, the course, the page's reads (list: one query; question:
# question + answers + votes + staff ids + membership).
LIST_BUDGET = 6
QUESTION_BUDGET = 10


def _grow(app, course_id: int, count: int) -> int:
    """``count`` more questions, each with ``count`` answers (half by the course's editor)
    and votes on both; returns the first question's id."""
    with app.app_context():
        course = qa.access.get_course(course_id)
        people = db.session.scalars(select(User).order_by(User.id)).all()
        owner = next(u for u in people if u.email == "owner@example.org")
        learners = [u for u in people if u.email.startswith("learner")]
        for n in range(count):
            asker = learners[n % len(learners)]
            question = qa.ask_question(asker, course, title=f"Question {n} about loops",
                                       body=f"Body {n} with `code`.")
            for m in range(count):
                author = owner if m % 2 else learners[(n + m + 1) % len(learners)]
                if author.id == asker.id:
                    author = owner
                answer = qa.answer_question(author, question, body=f"Answer {m}",
                                            mail_context=None)
                voter = next(u for u in learners if u.id not in (author.id,))
                qa.vote(voter, answer, 1)
            qa.vote(next(u for u in learners if u.id != asker.id), question, 1)
        db.session.commit()
        return db.session.scalar(select(QaQuestion.id).order_by(QaQuestion.id))


def _count(query_counter, client, url: str) -> int:
    client.get(url)
    with query_counter() as counted:
        response = client.get(url)
    assert response.status_code == 200, url
    return counted.n


def test_list_and_question_page_queries_do_not_grow(app, client, login, query_counter):
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Loops", owner=owner, modules=1, lessons=1)
        course_id, slug = course.id, course.slug
        for n in range(4):
            make_learner(f"learner{n}@example.org", enrolled_in=[course])
    first = _grow(app, course_id, 3)
    login(client, "learner3@example.org")
    urls = [f"/courses/{slug}/questions", f"/courses/{slug}/questions?sort=newest",
            f"/courses/{slug}/questions?sort=unanswered&q=loops",
            f"/questions/{first}"]
    before = {url: _count(query_counter, client, url) for url in urls}
    assert max(before[url] for url in urls[:3]) <= LIST_BUDGET, before
    assert before[urls[3]] <= QUESTION_BUDGET, before
    _grow(app, course_id, 30)
    after = {url: _count(query_counter, client, url) for url in urls}
    assert after == before
    # The last question has 30 answers: one page of them, the same count.
    with app.app_context():
        last = db.session.scalar(select(QaQuestion.id).order_by(QaQuestion.id.desc()))
    assert _count(query_counter, client, f"/questions/{last}") == before[urls[3]]
