"""The moderation queue (``/moderation``): its three orders as keysets (a deep page is
read like the first), the filters, cursors checked at the edge (a bad one is a 400, never
a 500), who may see it, the claim that keeps a second moderator's hands off an item, and
bulk actions with their confirmation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Channel,
    ChannelMessage,
    Flag,
    ModerationAction,
    ModerationItem,
    QaAnswer,
    QaQuestion,
    User,
)
from webapp.models.base import utcnow
from webapp.services.community import flags
from webapp.services.exceptions import ValidationFailed
from webapp.services.moderation import listing, queue

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def text(response) -> str:
    return response.get_data(as_text=True)


def token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, text(page)
    return CSRF_RE.search(text(page)).group(1)


def user_id(email: str) -> int:
    return db.session.scalar(select(User.id).where(User.email == email))


@pytest.fixture
def world(app, make_user, make_course, make_learner):
    """A course with a question, an answer and five channel messages by one author, each
    message flagged by a learner; a second course; two moderators, an editor of each
    course, learners."""
    with app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Loops", owner=owner)
        other_owner = make_user("other-ed@example.org", role="editor")
        other = make_course("Bread", owner=other_owner)
        make_user("mod@example.org", role="moderator", display_name="Mo Derator")
        make_user("mod2@example.org", role="moderator", display_name="Second Mod")
        author = make_learner("author@example.org", enrolled_in=[course, other],
                              display_name="Arthur Author")
        reporters = [make_learner(f"r{n}@example.org", enrolled_in=[course, other])
                     for n in range(3)]
        question = QaQuestion(course_id=course.id, author_id=author.id,
                              title="Why does my loop never end?", body="It runs forever.")
        db.session.add(question)
        db.session.flush()
        answer = QaAnswer(question_id=question.id, author_id=author.id, body="Buy pills now")
        channel = Channel(slug=f"course-{course.id}", course_id=course.id)
        other_channel = Channel(slug=f"course-{other.id}", course_id=other.id)
        db.session.add_all([answer, channel, other_channel])
        db.session.flush()
        messages = [ChannelMessage(channel_id=channel.id, author_id=author.id,
                                   body=f"Message number {n}",
                                   body_html=f"<p>Message number {n}</p>")
                    for n in range(5)]
        other_message = ChannelMessage(channel_id=other_channel.id, author_id=author.id,
                                       body="Bread spam", body_html="<p>Bread spam</p>")
        db.session.add_all([*messages, other_message])
        db.session.commit()
        for n, message in enumerate(messages):
            flags.flag_item(reporters[0], "message", message.id, "spam" if n % 2 else "abuse")
        flags.flag_item(reporters[1], "message", messages[3].id, "spam")
        flags.flag_item(reporters[2], "message", messages[3].id, "off_topic")
        flags.flag_item(reporters[0], "question", question.id, "wrong")
        flags.flag_item(reporters[0], "answer", answer.id, "spam", "An advert")
        flags.flag_item(reporters[0], "message", other_message.id, "spam")
        db.session.commit()
        items = {f"message{n}": queue.item_for("message", m.id).id
                 for n, m in enumerate(messages)}
        items["question"] = queue.item_for("question", question.id).id
        items["answer"] = queue.item_for("answer", answer.id).id
        items["other"] = queue.item_for("message", other_message.id).id
        # Distinct times, oldest first in the order the items were made.
        base = utcnow() - timedelta(hours=10)
        for n, item_id in enumerate(sorted(items.values())):
            item = db.session.get(ModerationItem, item_id)
            item.waiting_since = base + timedelta(minutes=n)
            item.last_flagged_at = base + timedelta(minutes=n)
        db.session.commit()
        return {"course": course.id, "other_course": other.id, "items": items,
                "messages": [m.id for m in messages], "question": question.id,
                "answer": answer.id, "other_message": other_message.id,
                "author": author.id}


@pytest.fixture
def signed_in(app, login):
    def signed_in_(email: str):
        client = app.test_client()
        login(client, email, DEFAULT_PASSWORD)
        return client

    return signed_in_


def ids_in(body: str) -> list[int]:
    return [int(n) for n in re.findall(r'href="/moderation/items/(\d+)"', body)]


def all_pages(app, filters: listing.Filters, page_size: int) -> list[int]:
    seen, after = [], None
    with app.app_context():
        while True:
            page = listing.list_items(filters, after=after, page_size=page_size)
            seen += [row.item.id for row in page.rows]
            if page.next_cursor is None:
                return seen
            after = page.next_cursor


def test_orders_are_keysets_that_page_through_everything(app, world):
    items = world["items"]
    ordered = sorted(items.values())
    newest = all_pages(app, listing.Filters(order="newest"), 3)
    assert newest == list(reversed(ordered))
    oldest = all_pages(app, listing.Filters(order="oldest"), 2)
    assert oldest == ordered
    most = all_pages(app, listing.Filters(order="most"), 2)
    assert most[0] == items["message3"]  # three flags
    assert sorted(most) == ordered and len(set(most)) == len(most)
    with app.app_context():
        counts = [db.session.get(ModerationItem, i).flag_count for i in most]
    assert counts == sorted(counts, reverse=True)


def test_filters_by_kind_course_reason_and_status(app, world):
    items = world["items"]
    assert all_pages(app, listing.Filters(kind="answer"), 5) == [items["answer"]]
    in_other = all_pages(app, listing.Filters(course_id=world["other_course"]), 5)
    assert in_other == [items["other"]]
    spam = set(all_pages(app, listing.Filters(reason="spam"), 50))
    assert spam == {items["message1"], items["message3"], items["answer"], items["other"]}
    assert all_pages(app, listing.Filters(status="closed"), 5) == []


def test_queue_page_shows_rows_and_filters(app, world, signed_in):
    mod = signed_in("mod@example.org")
    page = mod.get("/moderation")
    body = text(page)
    assert page.status_code == 200
    assert "Buy pills now" in body and "Why does my loop never end?" in body
    assert "Loops" in body and "Bread" in body
    assert "Spam or advertising" in body
    assert sorted(ids_in(body)) == sorted(world["items"].values())
    only = text(mod.get("/moderation", query_string={"kind": "question"}))
    assert ids_in(only) == [world["items"]["question"]]
    closed = mod.get("/moderation?status=closed")
    assert "No closed item matches" in text(closed)


def test_next_page_link_carries_the_cursor_and_filters(app, world, signed_in, monkeypatch):
    monkeypatch.setattr(listing, "PAGE_SIZE", 3)
    mod = signed_in("mod@example.org")
    first = text(mod.get("/moderation?order=oldest"))
    link = re.search(r'href="(/moderation\?[^"]*after=[^"]*)" rel="next"', first)
    assert link, first
    second_url = link.group(1).replace("&amp;", "&")
    assert "order=oldest" in second_url
    second = text(mod.get(second_url))
    assert set(ids_in(first)).isdisjoint(ids_in(second))
    assert ids_in(first) + ids_in(second) == sorted(world["items"].values())[:6]


@pytest.mark.parametrize("query", [
    {"after": "nonsense"}, {"after": "1.2.3"}, {"after": "99999999999999999999.1"},
    {"after": "5.99999999999"}, {"order": "most", "after": "-1.5"},
    {"order": "most", "after": "99999999999.5"}, {"order": "sideways"},
    {"status": "maybe"}, {"kind": "poem"}, {"reason": "boring"},
    {"course": "abc"}, {"course": "99999999999999"}])
def test_bad_query_values_are_400_never_500(app, world, signed_in, query):
    response = signed_in("mod@example.org").get("/moderation", query_string=query)
    assert response.status_code == 400
    assert "<h1>" in text(response)


def test_a_cursor_from_another_order_still_cannot_break_the_page(app, world, signed_in):
    # A time cursor read as a count: a plain 400, a count read as a time: a page.
    mod = signed_in("mod@example.org")
    assert mod.get("/moderation?order=most&after=1700000000000000.3").status_code == 400
    assert mod.get("/moderation?order=newest&after=3.5").status_code == 200


def test_cursor_parsing(app):
    assert listing.parse_cursor(None, "newest") is None
    key, item_id = listing.parse_cursor("0.7", "oldest")
    assert item_id == 7 and key.year == 1970
    assert listing.parse_cursor("4.2", "most") == (4, 2)
    for bad in ("", " 1.1x", "1", ".1", "1.", "a.b", "1.1\x00"):
        if bad:
            with pytest.raises(ValidationFailed):
                listing.parse_cursor(bad, "newest")


def test_learners_and_editors_cannot_open_the_queue(app, world, signed_in, client):
    for email in ("r0@example.org", "owner@example.org"):
        who = signed_in(email)
        assert who.get("/moderation").status_code == 403
        assert who.get(f"/moderation/items/{world['items']['answer']}").status_code == 403
    assert client.get("/moderation").status_code in (302, 303, 401)


def test_huge_and_odd_ids_are_404(app, world, signed_in):
    mod = signed_in("mod@example.org")
    for path in ("/moderation/items/99999999999999999999", "/moderation/items/2147483648",
                 "/moderation/items/2147483647", "/moderation/items/-1",
                 "/moderation/items/2147483647/hide",
                 f"/moderation/items/{world['items']['answer']}/explode"):
        assert mod.get(path).status_code == 404, path
    assert mod.get("/moderation?kind=%00").status_code == 400
    assert mod.get("/moderation/items/1%00").status_code in (400, 404)


def test_opening_an_item_claims_it_and_shows_the_claim(app, world, signed_in):
    item_id = world["items"]["answer"]
    first, second = signed_in("mod@example.org"), signed_in("mod2@example.org")
    mine = text(first.get(f"/moderation/items/{item_id}"))
    assert "You are handling this item" in mine and "Release" in mine
    assert f'/moderation/items/{item_id}/hide' in mine
    theirs = text(second.get(f"/moderation/items/{item_id}"))
    assert "Mo Derator is handling this since" in theirs
    assert f'/moderation/items/{item_id}/hide' not in theirs
    assert "Being handled by Mo Derator" in text(second.get("/moderation"))
    with app.app_context():
        assert db.session.get(ModerationItem, item_id).claimed_by_id == user_id(
            "mod@example.org")


def test_a_second_moderator_gets_a_409_and_nothing_is_written(app, world, signed_in):
    item_id = world["items"]["answer"]
    first, second = signed_in("mod@example.org"), signed_in("mod2@example.org")
    first.get(f"/moderation/items/{item_id}")
    csrf = token(second, "/moderation")
    blocked = second.get(f"/moderation/items/{item_id}/hide")
    assert blocked.status_code == 409 and "Mo Derator is handling this item" in text(blocked)
    response = second.post(f"/moderation/items/{item_id}/hide",
                           data={"reason": "spam", "note": "", "csrf_token": csrf})
    assert response.status_code == 409
    assert "Nothing was changed" in text(response)
    with app.app_context():
        assert db.session.get(QaAnswer, world["answer"]).status == "visible"
        assert db.session.get(ModerationItem, item_id).status == "open"
        assert db.session.scalar(select(func.count()).select_from(ModerationAction).where(
            ModerationAction.moderator_id.is_not(None))) == 0


def test_release_frees_the_item(app, world, signed_in):
    item_id = world["items"]["answer"]
    first, second = signed_in("mod@example.org"), signed_in("mod2@example.org")
    csrf = token(first, f"/moderation/items/{item_id}")
    response = first.post(f"/moderation/items/{item_id}/release", data={"csrf_token": csrf})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(ModerationItem, item_id).claimed_by_id is None
    assert "You are handling this item" in text(second.get(f"/moderation/items/{item_id}"))


def test_a_stale_claim_expires(app, world, signed_in):
    item_id = world["items"]["answer"]
    signed_in("mod@example.org").get(f"/moderation/items/{item_id}")
    with app.app_context():
        item = db.session.get(ModerationItem, item_id)
        item.claimed_at = utcnow() - timedelta(hours=5)
        db.session.commit()
    assert "You are handling this item" in text(
        signed_in("mod2@example.org").get(f"/moderation/items/{item_id}"))


def bulk_post(client, ids, action="hide", reason="spam", note="", confirmed=False):
    csrf = token(client, "/moderation")
    data = {"item": [str(i) for i in ids], "action": action, "reason": reason, "note": note,
            "csrf_token": csrf}
    if confirmed:
        data["confirmed"] = "yes"
    return client.post("/moderation/bulk", data=data)


def test_bulk_confirms_then_acts_and_skips_a_claimed_item(app, world, signed_in):
    items = world["items"]
    mod, other = signed_in("mod@example.org"), signed_in("mod2@example.org")
    other.get(f"/moderation/items/{items['message2']}")  # the other moderator has it
    chosen = [items["message0"], items["message1"], items["message2"]]
    confirm = bulk_post(mod, chosen)
    assert confirm.status_code == 200
    assert "3 items will be hidden" in text(confirm)
    with app.app_context():
        assert [db.session.get(ChannelMessage, m).status
                for m in world["messages"][:3]] == ["visible"] * 3
    done = bulk_post(mod, chosen, confirmed=True)
    assert done.status_code == 303
    page = text(mod.get("/moderation"))
    assert "2 items hidden" in page and f"item {items['message2']}:" in page
    with app.app_context():
        statuses = [db.session.get(ChannelMessage, m).status for m in world["messages"][:3]]
        assert statuses == ["hidden", "hidden", "visible"]
        actions = db.session.scalars(select(ModerationAction).where(
            ModerationAction.moderator_id.is_not(None))).all()
        assert len(actions) == 2 and len({a.batch for a in actions}) == 1
        assert actions[0].batch
        assert db.session.get(ModerationItem, items["message2"]).status == "open"
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "moderation.hide")) == 2
        assert db.session.scalar(select(func.count()).select_from(Flag).where(
            Flag.status == "upheld")) == 2


@pytest.mark.parametrize("change", [
    {"action": "explode"}, {"reason": "because"}, {"ids": ["x"]}, {"ids": []},
    {"ids": ["99999999999"]}, {"reason": "other", "note": ""}])
def test_bulk_refuses_bad_input(app, world, signed_in, change):
    mod = signed_in("mod@example.org")
    ids = change.pop("ids", [world["items"]["message0"]])
    response = bulk_post(mod, ids, **change)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.get(ChannelMessage, world["messages"][0]).status == "visible"


def test_bulk_of_unknown_items_is_404(app, world, signed_in):
    assert bulk_post(signed_in("mod@example.org"), [2147483000]).status_code == 404


def test_empty_queue(app, signed_in, make_user):
    with app.app_context():
        make_user("lonely-mod@example.org", role="moderator")
    body = text(signed_in("lonely-mod@example.org").get("/moderation"))
    assert "Nothing is waiting" in body
