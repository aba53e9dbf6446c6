"""Channels over HTTP: the general and course channels, who may read and post, the message
rules (length, links, rate, verified address), mentions and thread replies with their
notifications (and a real SMTP server for the email), editing, deleting, paging, the poll
and its query budget."""

from __future__ import annotations

import html as html_lib
import re
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import (
    Channel,
    ChannelMessage,
    Course,
    Notification,
    PostRevision,
    SiteSetting,
    User,
)
from webapp.models.base import utcnow
from webapp.services import accounts
from webapp.services.community import channels

MESSAGE_ID = re.compile(r'id="message-(\d+)"')
POLL_URL = re.compile(r'data-hx-get="(/channels/[^"]+/poll\?[^"]+)"')
OLDER_URL = re.compile(r'href="(/channels/[^"]+\?before=\d+)"')


FULL_PAGE = {"HTTP_HX_REQUEST": "false"}


def _token(client, path):
    page = client.get(path, environ_overrides=FULL_PAGE).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _post(client, slug, body, **kwargs):
    return client.post(f"/channels/{slug}/messages",
                       data={"body": body,
                             "csrf_token": _token(client, f"/channels/{slug}")}, **kwargs)


def _ids(html: str) -> list[int]:
    return [int(i) for i in MESSAGE_ID.findall(html)]


class People:
    """The test's people (ids by role) and the course channel's slug. ``user(key)`` loads one
    in the current app context."""

    def __init__(self, ids: dict[str, int], course_id: int) -> None:
        self.ids = ids
        self.course_id = course_id
        self.slug = f"course-{course_id}"
        self.emails = {key: f"{EMAILS[key]}" for key in ids}

    def user(self, key: str) -> User:
        return db.session.get(User, self.ids[key])


EMAILS = {"owner": "owner@example.org", "other_editor": "other@example.org",
          "learner": "ann@example.org", "bob": "bob@example.org",
          "outsider": "out@example.org", "admin": "admin@example.org"}


@pytest.fixture
def ctx(app):
    """``with ctx(): …``: an app context for direct database work. Requests are made outside
    it: a request inside would share its ``g`` (the signed-in user, the CSRF token)."""

    @contextmanager
    def open_context():
        with app.app_context():
            yield
            db.session.remove()

    return open_context


def _old(key: str, people: People) -> None:
    """A long-standing member (links allowed, the higher posting rate)."""
    user = people.user(key)
    user.created_at = utcnow() - timedelta(days=60)
    db.session.commit()


def _setting(key: str, value: str) -> None:
    db.session.add(SiteSetting(key=key, value=value))
    db.session.commit()


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def hx_login(app, login):
    """``hx_login(email)``: a new client signed in as ``email`` that then asks like htmx."""

    def sign_in(email):
        test_client = app.test_client()
        login(test_client, email)
        test_client.environ_base["HTTP_HX_REQUEST"] = "true"
        return test_client

    return sign_in


@pytest.fixture
def people(app, make_user, make_course, make_learner) -> People:
    with app.app_context():
        owner = make_user("owner@example.org", role="editor", display_name="Olive Owner")
        other_editor = make_user("other@example.org", role="editor", display_name="Otto Other")
        course = make_course("Bread Baking", owner=owner)
        make_course("Other Course", owner=other_editor)
        learner = make_learner("ann@example.org", enrolled_in=[course], display_name="Ann Lee")
        bob = make_learner("bob@example.org", enrolled_in=[course], display_name="Bob Stone")
        outsider = make_learner("out@example.org", display_name="Oscar Out")
        admin = make_user("admin@example.org", role="admin", display_name="Ada Admin")
        _setting("newcomer_posts", "0")
        found = People({"owner": owner.id, "other_editor": other_editor.id,
                        "learner": learner.id, "bob": bob.id, "outsider": outsider.id,
                        "admin": admin.id}, course.id)
        db.session.remove()
    return found


# --- who may read and post --------------------------------------------------------------------


def test_general_channel_is_open_to_every_signed_in_user_and_made_on_first_post(
        people, client, login, ctx):
    with ctx():
        # The migration inserts the general channel; tables emptied between tests do not.
        db.session.execute(db.delete(Channel))
        db.session.commit()
    assert client.get("/channels/general").status_code == 302  # signed out: to the login
    login(client, "out@example.org")
    page = client.get("/channels/general")
    assert page.status_code == 200 and "No messages yet" in page.get_data(as_text=True)
    response = _post(client, "general", "Hello **everyone**")
    assert response.status_code == 303
    assert re.search(r"/channels/general#message-\d+$", response.headers["Location"])
    html = client.get("/channels/general").get_data(as_text=True)
    assert "<strong>everyone</strong>" in html and "Oscar Out" in html
    with ctx():
        assert db.session.scalar(select(Channel.slug)) == "general"


def test_readers_who_looked_before_the_first_post_share_one_channel_row(people, ctx):
    with ctx():
        ann, bob = people.user("learner"), people.user("bob")
        seen_by_ann = channels.get_access(ann, people.slug)
        seen_by_bob = channels.get_access(bob, people.slug)
        assert seen_by_ann.channel is None and seen_by_bob.channel is None
        channels.post_message(ann, seen_by_ann, "one")
        db.session.commit()
        # Bob's view still says "no row": his first post meets the unique slug and uses
        # Ann's row.
        channels.post_message(bob, seen_by_bob, "two")
        db.session.commit()
        # (The migration's general channel may be there too, in a worker's first test.)
        assert db.session.scalar(select(func.count()).select_from(Channel).where(
            Channel.slug == people.slug)) == 1
        assert _count(ChannelMessage) == 2


@pytest.mark.parametrize("who, read, write", [
    ("outsider", 403, 403),      # signed in, not enrolled
    ("other_editor", 403, 403),  # an editor of another course
    ("learner", 200, 303),       # enrolled
    ("owner", 200, 303),         # the course's editor
    ("admin", 200, 303),
])
def test_course_channel_is_for_its_members(people, client, login, ctx, who, read, write):
    login(client, EMAILS[who])
    slug = people.slug
    assert client.get(f"/channels/{slug}").status_code == read
    token = _token(client, "/channels/general")
    response = client.post(f"/channels/{slug}/messages",
                           data={"body": "hi", "csrf_token": token})
    assert response.status_code == write
    if read == 403:
        assert "Enroll in this course" in client.get(f"/channels/{slug}").get_data(as_text=True)
        assert client.get(f"/channels/{slug}/messages/1").status_code == 403
        assert client.get(f"/channels/{slug}/poll?since=0").status_code == 403
        assert client.get(f"/channels/{slug}/mentions?body=%40a").status_code == 403
        with ctx():
            assert _count(ChannelMessage) == 0


def test_unpublished_course_channel_is_not_found_for_learners(app, people, client, login, ctx,
                                                              make_course):
    with ctx():
        hidden = make_course("Draft", owner=people.user("owner"), publish=False).id
    login(client, "ann@example.org")
    assert client.get(f"/channels/course-{hidden}").status_code == 404
    client = app.test_client()
    login(client, "owner@example.org")
    assert client.get(f"/channels/course-{hidden}").status_code == 200


@pytest.mark.parametrize("path", ["/channels/nope", "/channels/course-0", "/channels/course-x",
                                  "/channels/course-99999", "/channels/general/messages/99",
                                  "/channels/general/messages/99999999999",
                                  "/channels/course-99999999999", "/channels/" + "x" * 41,
                                  "/channels/general/messages/-1"])
def test_unknown_channels_and_ids_are_404(people, client, login, path):
    login(client, "ann@example.org")
    assert client.get(path).status_code == 404


def test_channel_list_shows_general_and_my_courses(app, people, client, login):
    login(client, "ann@example.org")
    html = client.get("/channels").get_data(as_text=True)
    assert "General" in html and "Bread Baking" in html and "Other Course" not in html
    client = app.test_client()
    login(client, "out@example.org")
    html = client.get("/channels").get_data(as_text=True)
    assert "General" in html and "Bread Baking" not in html
    assert client.get("/channels?after=x").status_code == 200


# --- the message rules ------------------------------------------------------------------------


def test_too_long_a_message_is_refused_with_the_limit_and_kept_in_the_form(
        people, client, login, hx_login, ctx):
    with ctx():
        _setting("message_max_length", "100")
    login(client, "ann@example.org")
    response = _post(client, "general", "x" * 101)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "The message is 101 characters long; the most is 100." in html
    assert "x" * 101 in html  # what was typed is not lost
    hx = hx_login("ann@example.org")
    response = _post(hx, "general", "y" * 150)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="channel-composer"')
    assert "the most is 100" in html and "<html" not in html
    with ctx():
        assert _count(ChannelMessage) == 0


def test_empty_and_control_characters(people, client, login, ctx):
    login(client, "ann@example.org")
    assert "Write the message" in _post(client, "general", " \n\t ").get_data(as_text=True)
    assert _post(client, "general", "a\x07b\x1bc").status_code == 303
    with ctx():
        assert db.session.scalar(select(ChannelMessage.body)) == "abc"
    # A NUL never reaches the database: the edge refuses the request.
    assert _post(client, "general", "a\x00b").status_code == 400


def test_newcomers_cannot_post_links(people, client, login, ctx):
    # With the hold rule off; on (the default), tests/moderation/test_holds.py.
    with ctx():
        db.session.execute(db.delete(SiteSetting))
        db.session.add(SiteSetting(key="hold_links_from_newcomers", value="0"))
        db.session.commit()
    login(client, "ann@example.org")
    response = _post(client, "general", "see https://spam.example")
    assert response.status_code == 400
    assert "New members cannot post links" in response.get_data(as_text=True)


def test_posting_rate_limit_says_when_to_try_again(people, client, login, ctx):
    with ctx():
        _old("learner", people)
        _setting("member_posts_per_hour", "2")
    login(client, "ann@example.org")
    assert _post(client, "general", "one").status_code == 303
    assert _post(client, "general", "two").status_code == 303
    response = _post(client, "general", "three")
    assert response.status_code == 429
    assert re.search(r"Try again in \d+ minutes", response.get_data(as_text=True))
    assert int(response.headers["Retry-After"]) > 0


def test_unverified_address_cannot_post_when_verification_is_required(
        people, client, login, settings_override):
    settings_override(email_verification="required")
    login(client, "ann@example.org")
    response = _post(client, "general", "hello")
    assert response.status_code == 403
    assert "Confirm your email address" in response.get_data(as_text=True)


# --- posting with htmx, polling -------------------------------------------------------------


def test_htmx_post_returns_an_empty_composer_and_asks_the_poll_to_fetch(people, hx_login):
    hx = hx_login("ann@example.org")
    response = _post(hx, "general", "From htmx")
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "channel-posted"
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="channel-composer"') and "From htmx" not in html


def _poll_url(client, slug="general") -> str:
    page = client.get(f"/channels/{slug}", environ_overrides=FULL_PAGE).get_data(as_text=True)
    return html_lib.unescape(POLL_URL.search(page).group(1))


def test_poll_answers_204_with_nothing_new_and_the_new_messages_otherwise(
        people, client, hx_login, login):
    hx = hx_login("ann@example.org")
    _post(hx, "general", "first")
    url = _poll_url(hx)
    assert hx.get(url).status_code == 204
    login(client, "bob@example.org")
    _post(client, "general", "second from **Bob**")
    response = hx.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<ol data-hx-swap-oob="beforeend:#channel-messages">' in html
    assert "<strong>Bob</strong>" in html and "first" not in html
    assert hx.get(html_lib.unescape(POLL_URL.search(html).group(1))).status_code == 204
    # Without htmx the poll's address leads to the channel page.
    assert client.get(url).status_code == 303


def test_poll_proof_is_bound_to_the_session_that_was_allowed(people, client, login, hx_login):
    hx = hx_login("ann@example.org")
    url = _poll_url(hx, people.slug)
    outsider = hx_login("out@example.org")
    # Another session with Ann's proof takes the full path, where the outsider is refused.
    assert outsider.get(url).status_code == 403
    signed_out = client
    signed_out.environ_base["HTTP_HX_REQUEST"] = "true"
    response = signed_out.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert hx.get(url.replace("since=", "since=x")).status_code == 400
    # A proof for one channel does not open another.
    assert outsider.get(url.replace(people.slug, "general")).status_code == 200


def test_poll_with_nothing_new_costs_one_query_whatever_the_data(people, hx_login, ctx,
                                                                 query_counter):
    hx = hx_login("ann@example.org")
    counts = []
    for n in (1, 40):
        with ctx():
            view = channels.get_access(people.user("learner"), "general")
            for i in range(n):
                channels.post_message(people.user("bob"), view, f"m{i}")
            db.session.commit()
        url = _poll_url(hx)
        with query_counter() as counted:
            assert hx.get(url).status_code == 204
        counts.append(counted.n)
    # One query in all: the signed proof stands in for loading the user. (On SQLite the app
    # sends BEGIN itself, webapp/database.py, and the counter sees it as a statement.)
    with ctx():
        begin = 1 if db.engine.dialect.name == "sqlite" else 0
    assert counts == [1 + begin, 1 + begin]


def test_channel_page_queries_do_not_grow_with_messages(people, client, login, ctx,
                                                        query_counter):
    login(client, "ann@example.org")
    counts = []
    for n in (2, 60):
        with ctx():
            view = channels.get_access(people.user("learner"), people.slug)
            for i in range(n):
                author = people.user("bob" if i % 2 else "owner")
                message = channels.post_message(author, view, f"m{i} @Ann Lee")
                if i % 3 == 0:
                    channels.post_message(author, view, "a reply", parent_id=message.id)
            db.session.commit()
        path = f"/channels/{people.slug}"
        client.get(path)
        with query_counter() as counted:
            assert client.get(path).status_code == 200
        counts.append(counted.n)
    assert counts[0] == counts[1]
    # The user, the channel, the course, membership (enrollment), the messages with their
    # authors, the posting rules, the header's unread count.
    assert counts[0] <= 8


# --- paging --------------------------------------------------------------------------------


def test_load_older_pages_through_every_message_once(people, client, hx_login, login, ctx):
    with ctx():
        view = channels.get_access(people.user("learner"), "general")
        made = [channels.post_message(people.user("bob"), view, f"message {i}").id
                for i in range(channels.PAGE_SIZE * 2 + 5)]
        db.session.commit()
    login(client, "ann@example.org")
    html = client.get("/channels/general").get_data(as_text=True)
    seen = _ids(html)
    assert seen == made[-channels.PAGE_SIZE:]
    while (older := OLDER_URL.search(html)):
        html = client.get(html_lib.unescape(older.group(1))).get_data(as_text=True)
        assert "Back to the newest messages" in html
        seen = _ids(html) + seen
    assert seen == made
    # htmx: the older messages go to the top of the list, with the next link.
    hx = hx_login("ann@example.org")
    first = hx.get("/channels/general").get_data(as_text=True)
    part = hx.get(html_lib.unescape(OLDER_URL.search(first).group(1))).get_data(as_text=True)
    assert "<html" not in part and 'data-hx-swap-oob="afterbegin:#channel-messages"' in part
    assert _ids(part) == made[5:5 + channels.PAGE_SIZE]
    assert 'id="channel-older"' in part  # five more before those


# --- mentions, threads, notifications -----------------------------------------------------------


def test_mentions_notify_members_by_name_or_email_local_part(people, client, login, ctx,
                                                             smtp_server):
    login(client, "ann@example.org")
    body = ("Thanks @Bob Stone, and @owner! Also @Oscar Out (not in the course), "
            "and mail bob@example.org is no mention.")
    assert _post(client, people.slug, body).status_code == 303
    with ctx():
        rows = db.session.execute(select(Notification.user_id, Notification.kind,
                                         Notification.url)).all()
    assert {(uid, kind) for uid, kind, _ in rows} == {
        (people.ids["bob"], "mention"), (people.ids["owner"], "mention")}
    assert all(url.startswith(f"/channels/{people.slug}/messages/") for *_, url in rows)
    # Mentions are emailed at once by default.
    assert sorted(m["To"] for m in smtp_server.messages) == ["bob@example.org",
                                                            "owner@example.org"]
    assert smtp_server.messages[0]["Subject"] == "Ann Lee mentioned you in Bread Baking"
    assert any(f"/channels/{people.slug}/messages/" in link
               for link in smtp_server.sink.links())


def test_mention_rule_prefers_the_longest_name_and_skips_ambiguous_local_parts(
        people, ctx, make_user):
    with ctx():
        make_user("bob@other.example", display_name="Bobby")
        bobby = db.session.scalar(select(User.id).where(User.display_name == "Bobby"))
        view = channels.get_access(people.user("learner"), "general")
        bob = people.ids["bob"]
        assert channels.mentioned_ids(view, "hi @bob stone.") == [bob]
        assert channels.mentioned_ids(view, "hi @Bobby, you") == [bobby]
        # Two members have the local part "bob": neither is guessed.
        assert channels.mentioned_ids(view, "@bob.") == []
        assert channels.mentioned_ids(view, "x@Bobby y") == []  # part of a word
        assert channels.mentioned_ids(view, "@Bobby @bobby @BOB STONE") == [bobby, bob]
        # In a course channel only its members count.
        course_view = channels.get_access(people.user("learner"), people.slug)
        assert channels.mentioned_ids(course_view, "@Bobby @Oscar Out @Ada Admin") == [
            people.ids["admin"]]


def test_mention_autocomplete_lists_matching_members(people, hx_login):
    hx = hx_login("ann@example.org")
    slug = people.slug
    html = hx.get(f"/channels/{slug}/mentions?body=Hi+%40bo").get_data(as_text=True)
    assert 'data-mention="Bob Stone"' in html and "Oscar" not in html
    # Olive, the owner: not Oscar (outsider) or Otto (another course's editor).
    html = hx.get(f"/channels/{slug}/mentions?body=Hi+%40o").get_data(as_text=True)
    assert html.count("data-mention=") == 1 and "Olive Owner" in html
    assert hx.get(f"/channels/{slug}/mentions?body=no+at").get_data(as_text=True).strip() == ""
    html = hx.get("/channels/general/mentions?body=%40%25").get_data(as_text=True)
    assert "data-mention" not in html  # "%" is a character, not a wildcard
    html = hx.get("/channels/general/mentions?body=%40o").get_data(as_text=True)
    assert "Oscar Out" in html and "Otto Other" in html


def test_thread_replies_count_and_notify_the_author_and_earlier_repliers(
        app, people, client, login, ctx):
    login(client, "ann@example.org")
    _post(client, people.slug, "How long should dough rise?")
    with ctx():
        top = db.session.scalar(select(ChannelMessage.id))
    thread_path = f"/channels/{people.slug}/messages/{top}"
    for who in ("bob@example.org", "owner@example.org"):
        client = app.test_client()
        login(client, who)
        response = client.post(f"{thread_path}/replies",
                               data={"body": f"answer from {who}",
                                     "csrf_token": _token(client, thread_path)})
        assert response.status_code == 303
    with ctx():
        kinds = db.session.execute(select(Notification.user_id, Notification.kind)
                                   .order_by(Notification.id)).all()
    ann, bob = people.ids["learner"], people.ids["bob"]
    assert kinds == [(ann, "thread_reply"), (ann, "thread_reply"), (bob, "thread_reply")]
    html = client.get(f"/channels/{people.slug}").get_data(as_text=True)
    assert "2 replies" in html
    thread = client.get(thread_path).get_data(as_text=True)
    assert "answer from bob@example.org" in thread and "2 replies" in thread
    # A reply has no thread of its own; an empty reply is refused on the thread page.
    reply_id = max(_ids(thread))
    assert client.get(f"/channels/{people.slug}/messages/{reply_id}").status_code == 404
    response = client.post(f"{thread_path}/replies",
                           data={"body": "", "csrf_token": _token(client, thread_path)})
    assert response.status_code == 400 and "Write the message" in response.get_data(as_text=True)


# --- edit and delete -----------------------------------------------------------------------


def test_author_edits_within_the_window_keeping_a_revision(app, people, client, login, ctx):
    login(client, "ann@example.org")
    _post(client, "general", "frist")
    with ctx():
        mid = db.session.scalar(select(ChannelMessage.id))
    edit_path = f"/channels/general/messages/{mid}/edit"
    assert "frist" in client.get(edit_path).get_data(as_text=True)
    response = client.post(edit_path, data={"body": "first",
                                            "csrf_token": _token(client, "/channels/general")})
    assert response.status_code == 303
    html = client.get("/channels/general").get_data(as_text=True)
    assert "(edited)" in html and "first" in html and "frist" not in html
    with ctx():
        assert db.session.scalar(select(PostRevision.body)) == "frist"
    # Someone else may not edit it.
    client = app.test_client()
    login(client, "bob@example.org")
    response = client.post(edit_path, data={"body": "hacked",
                                            "csrf_token": _token(client, "/channels/general")})
    assert response.status_code == 403


def test_edit_window_closes(people, client, login, ctx):
    login(client, "ann@example.org")
    _post(client, "general", "old words")
    with ctx():
        message = db.session.scalar(select(ChannelMessage))
        message.created_at = utcnow() - timedelta(minutes=16)
        mid = message.id
        db.session.commit()
    assert "Edit<" not in client.get("/channels/general").get_data(as_text=True)
    response = client.post(f"/channels/general/messages/{mid}/edit",
                           data={"body": "new words",
                                 "csrf_token": _token(client, "/channels/general")})
    assert response.status_code == 400
    assert "can be edited for 15 minutes" in response.get_data(as_text=True)
    assert client.get(f"/channels/general/messages/{mid}/edit").status_code == 400


@pytest.mark.parametrize("where, deleter, allowed", [
    ("general", "learner", True),    # the author
    ("general", "bob", False),       # another member
    ("general", "owner", False),     # an editor has no say in the general channel
    ("general", "admin", True),
    ("course", "owner", True),       # the course's staff
    ("course", "bob", False),
])
def test_soft_delete_by_author_staff_or_admin(people, client, login, ctx, where, deleter,
                                              allowed):
    slug = "general" if where == "general" else people.slug
    with ctx():
        view = channels.get_access(people.user("learner"), slug)
        mid = channels.post_message(people.user("learner"), view, "to be deleted?").id
        db.session.commit()
    login(client, EMAILS[deleter])
    path = f"/channels/{slug}/messages/{mid}/delete"
    assert client.get(path).status_code == (200 if allowed else 403)
    response = client.post(path, data={"csrf_token": _token(client, f"/channels/{slug}")})
    assert response.status_code == (303 if allowed else 403)
    with ctx():
        assert (db.session.get(ChannelMessage, mid).status == "deleted") is allowed
    html = client.get(f"/channels/{slug}").get_data(as_text=True)
    assert ("This message was deleted." in html) is allowed
    assert ("to be deleted?" in html) is not allowed


def test_deleted_reply_leaves_the_reply_count(people, ctx):
    with ctx():
        view = channels.get_access(people.user("learner"), "general")
        top = channels.post_message(people.user("learner"), view, "top").id
        reply = channels.post_message(people.user("bob"), view, "reply", parent_id=top).id
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(ChannelMessage, top).reply_count == 1
        channels.delete_message(people.user("bob"), view, reply)
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(ChannelMessage, top).reply_count == 0


def test_each_message_has_a_flag_link(people, client, login, ctx):
    login(client, "ann@example.org")
    _post(client, "general", "flag me")
    with ctx():
        mid = db.session.scalar(select(ChannelMessage.id))
    page = client.get("/channels/general").get_data(as_text=True)
    assert f'href="/flag/message/{mid}?next=/channels/general"' in page


def test_course_page_links_its_channel_for_enrolled_learners(people, client, login):
    login(client, "ann@example.org")
    with client.application.app_context():
        slug = db.session.get(Course, people.course_id).slug
    html = client.get(f"/courses/{slug}").get_data(as_text=True)
    assert f'href="/channels/{people.slug}"' in html


# --- the per-process cache of rendered messages -------------------------------------------------


def test_kept_messages_change_with_every_change_to_what_they_show(app, people, client, login,
                                                                   ctx):
    """webapp/web/channels/fragments.py keys each rendered message on what it shows: an edit,
    a reply, a deletion, a new display name, the reader's time zone and their rights all
    show at once, with nothing invalidated by hand."""
    with ctx():
        ann, bob = people.user("learner"), people.user("bob")
        view = channels.get_access(ann, people.slug)
        message = channels.post_message(ann, view, "First *draft*")
        db.session.commit()
        mid = message.id
    login(client, "bob@example.org")
    path = f"/channels/{people.slug}"

    def shown() -> str:
        page = client.get(path).get_data(as_text=True)
        return page[page.index(f'id="message-{mid}"'):].split("</li>", 1)[0]

    first = shown()
    assert "<em>draft</em>" in first and "Ann Lee" in first and "Reply in thread" in first
    assert "Delete" not in first and shown() == first  # the second read comes from the cache
    with ctx():
        ann, bob = people.user("learner"), people.user("bob")
        view = channels.get_access(ann, people.slug)
        channels.edit_message(ann, view, mid, "Final text")
        db.session.commit()
    assert "Final text" in shown() and "(edited)" in shown()
    with ctx():
        bob = people.user("bob")
        channels.post_message(bob, channels.get_access(bob, people.slug), "A reply",
                              parent_id=mid)
        db.session.commit()
    assert "1 reply" in shown()
    with ctx():
        accounts.update_profile(people.user("learner"), display_name="Ann Renamed")
        db.session.commit()
    assert "Ann Renamed" in shown()
    before = re.search(r"<time[^>]*>([^<]+)</time>", shown()).group(1)
    with ctx():
        accounts.set_time_zone(people.user("bob"), "Asia/Tokyo")
        db.session.commit()
    after = re.search(r"<time[^>]*>([^<]+)</time>", shown()).group(1)
    assert before != after and "UTC+9" in after
    with ctx():
        ann = people.user("learner")
        channels.delete_message(ann, channels.get_access(ann, people.slug), mid)
        db.session.commit()
    assert "This message was deleted." in shown() and "Final text" not in shown()
    staff = app.test_client()
    login(staff, "owner@example.org")  # staff: may delete others' messages
    with ctx():
        owner = people.user("owner")
        channels.post_message(people.user("bob"), channels.get_access(owner, people.slug),
                              "Bob's own")
        db.session.commit()
    assert "Delete<span class=\"visually-hidden\"> the message by Bob Stone" in staff.get(
        path).get_data(as_text=True)
