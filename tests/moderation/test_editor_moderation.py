"""A course's editors moderate their course's content from its editor pages; not other
courses', and not people."""

from __future__ import annotations

from sqlalchemy import select

from tests.moderation import test_queue
from tests.moderation.test_queue import text, token
from webapp.extensions import db
from webapp.models import ChannelMessage, ModerationAction, ModerationItem

# The queue tests' fixtures.
world = test_queue.world
signed_in = test_queue.signed_in


def test_the_editor_sees_their_course_items_and_acts(app, world, signed_in):
    owner = signed_in("owner@example.org")
    course = world["course"]
    course_page = text(owner.get(f"/edit/courses/{course}"))
    assert f"/edit/courses/{course}/moderation" in course_page
    page = text(owner.get(f"/edit/courses/{course}/moderation"))
    assert "Buy pills now" in page and "Bread spam" not in page
    item_id = world["items"]["message0"]
    detail = owner.get(f"/edit/courses/{course}/moderation/{item_id}")
    assert detail.status_code == 200 and "Message number 0" in text(detail)
    assert "/moderation/people" not in text(detail)
    path = f"/edit/courses/{course}/moderation/{item_id}/delete"
    csrf = token(owner, path)
    response = owner.post(path, data={"reason": "spam", "note": "", "csrf_token": csrf})
    assert response.status_code == 303, text(response)
    with app.app_context():
        assert db.session.get(ChannelMessage, world["messages"][0]).status == "deleted"
        assert db.session.get(ModerationItem, item_id).status == "closed"
        assert db.session.scalar(select(ModerationAction.action).where(
            ModerationAction.moderator_id.is_not(None))) == "delete"


def test_an_editor_of_another_course_is_refused(app, world, signed_in):
    other = signed_in("other-ed@example.org")
    course = world["course"]
    assert other.get(f"/edit/courses/{course}/moderation").status_code in (403, 404)
    item_id = world["items"]["message0"]
    assert other.get(f"/edit/courses/{course}/moderation/{item_id}").status_code in (403, 404)
    # Their own course's page does not reach another course's item either.
    own = world["other_course"]
    assert other.get(f"/edit/courses/{own}/moderation/{item_id}").status_code == 404
    assert other.get(f"/edit/courses/{own}/moderation/{item_id}/hide").status_code == 404
    csrf = token(other, f"/edit/courses/{own}/moderation")
    response = other.post(f"/edit/courses/{own}/moderation/{item_id}/hide",
                          data={"reason": "spam", "csrf_token": csrf})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(ChannelMessage, world["messages"][0]).status == "visible"


def test_learners_cannot_reach_the_editor_page(app, world, signed_in):
    learner = signed_in("r0@example.org")
    assert learner.get(f"/edit/courses/{world['course']}/moderation").status_code == 403
