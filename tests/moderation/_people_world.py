"""Shared data for the people, appeal and transparency tests: a published course with a
question and an answer by the author, channel messages (one a reply), two moderators, an
admin and an onlooker."""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Channel, ChannelMessage, QaAnswer, QaQuestion, User

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def text(response) -> str:
    return response.get_data(as_text=True)


def build(make_user, make_course, make_learner) -> dict:
    owner = make_user("owner@example.org", role="editor")
    course = make_course("Loops", owner=owner)
    make_user("mod@example.org", role="moderator", display_name="Mo Derator")
    make_user("mod2@example.org", role="moderator", display_name="Second Mod")
    make_user("admin@example.org", role="admin")
    author = make_learner("author@example.org", enrolled_in=[course],
                          display_name="Arthur Author")
    reader = make_learner("reader@example.org", enrolled_in=[course])
    question = QaQuestion(course_id=course.id, author_id=reader.id,
                          title="Why does my loop never end?", body="It runs forever.",
                          answer_count=2)
    own_q = QaQuestion(course_id=course.id, author_id=author.id, title="Buy cheap pills",
                       body="spam")
    db.session.add_all([question, own_q])
    db.session.flush()
    answer = QaAnswer(question_id=question.id, author_id=author.id, body="Spam answer",
                      accepted=True)
    other = QaAnswer(question_id=question.id, author_id=reader.id, body="Use break.")
    channel = Channel(slug=f"course-{course.id}", course_id=course.id)
    db.session.add_all([answer, other, channel])
    db.session.flush()
    question.accepted_answer_id = answer.id
    head = ChannelMessage(channel_id=channel.id, author_id=reader.id, body="Hello",
                          reply_count=1)
    db.session.add(head)
    db.session.flush()
    reply = ChannelMessage(channel_id=channel.id, author_id=author.id, body="Spam reply",
                           parent_id=head.id)
    top = ChannelMessage(channel_id=channel.id, author_id=author.id, body="Spam top",
                         status="hidden")
    db.session.add_all([reply, top])
    db.session.commit()
    return {"course": course.id, "slug": course.slug, "question": question.id,
            "own_question": own_q.id, "answer": answer.id, "head": head.id,
            "reply": reply.id, "top": top.id, "author": author.id, "reader": reader.id}


def user_id(email: str) -> int:
    return db.session.scalar(select(User.id).where(User.email == email))


def sign_in(app, login, email: str):
    client = app.test_client()
    response = login(client, email, DEFAULT_PASSWORD)
    assert response.status_code == 303, text(response)
    return client


def csrf(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, text(page)
    return CSRF_RE.search(text(page)).group(1)


def post_form(client, path: str, **data):
    return client.post(path, data={"csrf_token": csrf(client, path), **data})


def act(client, user_id: int, action: str, reason: str = "spam", note: str = "",
        duration: str = "1", item: int | None = None):
    path = f"/moderation/people/{user_id}/{action}" + (f"?item={item}" if item else "")
    return post_form(client, path, reason=reason, note=note, duration=duration)
