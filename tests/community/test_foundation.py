"""The community's shared parts: text cleaned at the edge, the post renderers, the newcomer
rules, membership, and ``notify`` routing each recipient by their preference (with a real
SMTP server for the email)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from webapp.content.render import render_message, render_post
from webapp.extensions import db
from webapp.models import Notification, SiteSetting
from webapp.models.base import utcnow
from webapp.services import notification_prefs
from webapp.services.community import access, rules
from webapp.services.community.notifications import (
    MailContext,
    notify,
    read_unsubscribe_token,
    unsubscribe_token,
)
from webapp.services.exceptions import ValidationFailed

CONTEXT = MailContext(site_url="http://tangent.test", secret="s3cret")


def test_clean_text_strips_nul_and_control_characters_and_checks_length():
    assert rules.clean_text(" a\x00b\x07c\r\nd\te ", field="body", label="Body",
                            max_length=20) == "abc\nd\te"
    assert rules.clean_text("  two\n lines ", field="title", label="Title", max_length=20,
                            single_line=True) == "two lines"
    with pytest.raises(ValidationFailed, match="Write the body"):
        rules.clean_text("\x00 \n", field="body", label="Body", max_length=20)
    with pytest.raises(ValidationFailed, match="21 characters long; the most is 20"):
        rules.clean_text("x" * 21, field="body", label="Body", max_length=20)
    with pytest.raises(ValidationFailed, match="at least 8"):
        rules.clean_text("short", field="title", label="Title", max_length=20, min_length=8)


@pytest.mark.parametrize("render", [render_post, render_message])
def test_posts_render_without_raw_html_images_or_script_links(render):
    html = render('<script>alert(1)</script> <img src=x onerror=alert(1)> '
                  '![pixel](https://tracker.example/p.png) [x](javascript:alert(1))\n\n'
                  '# not a heading')
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html and "<h1" not in html
    assert "&lt;script&gt;" in html


def test_messages_have_no_tables_but_answers_do():
    table = "| a | b |\n|---|---|\n| 1 | 2 |"
    assert "<table" in render_post(table)
    assert "<table" not in render_message(table)
    assert '<span class="nb">print</span>' in render_post("```python\nprint(1)\n```")


def test_rules_come_from_site_settings_clamped_to_their_range(app_ctx):
    assert rules.current()["flag_hide_threshold"] == 3
    db.session.add(SiteSetting(key="flag_hide_threshold", value="0"))
    db.session.add(SiteSetting(key="message_max_length", value="not a number"))
    db.session.flush()
    values = rules.current()
    assert values["flag_hide_threshold"] == 1
    assert values["message_max_length"] == rules.BY_KEY["message_max_length"].default


def test_newcomers_may_not_post_links(app_ctx, make_user):
    fresh = make_user("fresh@example.org")
    old = make_user("old@example.org")
    old.created_at = utcnow() - timedelta(days=30)
    db.session.add(SiteSetting(key="newcomer_posts", value="0"))
    db.session.flush()
    rules.check_links(fresh, "no links here, just example.org text")
    for text in ("see https://spam.example", "www.spam.example", "[x](/relative)",
                 "<http://spam.example>"):
        with pytest.raises(ValidationFailed, match="New members cannot post links"):
            rules.check_links(fresh, text)
        rules.check_links(old, text)
    assert rules.posts_per_hour(fresh) < rules.posts_per_hour(old)


def test_members_are_enrolled_learners_editors_and_admins(app_ctx, make_user, make_course,
                                                          make_learner):
    owner = make_user("owner@example.org", role="editor")
    course = make_course(owner=owner)
    learner = make_learner("in@example.org", enrolled_in=[course])
    outsider = make_learner("out@example.org")
    admin = make_user("admin@example.org", role="admin")
    assert access.is_member(learner, course) and access.is_member(owner, course)
    assert access.is_member(admin, course) and not access.is_member(outsider, course)
    assert access.is_staff(owner, course) and not access.is_staff(learner, course)
    assert access.can_read(outsider, course)
    assert set(access.member_ids(course)) == {owner.id, learner.id, admin.id}


def test_notify_follows_each_recipients_preference(app_ctx, make_user, smtp_server):
    actor = make_user("actor@example.org")
    quiet = make_user("quiet@example.org")
    reader = make_user("reader@example.org")
    mailed = make_user("mailed@example.org")
    digest = make_user("digest@example.org")
    notification_prefs.set_preferences(quiet, {"thread_reply": "off"}, actor=quiet)
    notification_prefs.set_preferences(mailed, {"thread_reply": "email"}, actor=mailed)
    notification_prefs.set_preferences(digest, {"thread_reply": "digest"}, actor=digest)
    rows = notify([actor.id, quiet.id, reader.id, mailed.id, digest.id], "thread_reply",
                  "Ann replied in “Loops”", "/channels/general#m1", mail_context=CONTEXT,
                  actor=actor)
    db.session.commit()
    by_user = {row.user_id: row.delivery for row in rows}
    assert by_user == {reader.id: "in_app", mailed.id: "email", digest.id: "digest"}
    assert db.session.scalar(select(Notification).where(
        Notification.user_id == quiet.id)) is None
    assert [m["To"] for m in smtp_server.messages] == ["mailed@example.org"]
    message = smtp_server.messages[0]
    assert message["Subject"] == "Ann replied in “Loops”"
    links = smtp_server.sink.links()
    assert "http://tangent.test/channels/general#m1" in links
    [unsubscribe] = [link for link in links if "/notifications/unsubscribe/" in link]
    token = unsubscribe.rsplit("/", 1)[1]
    assert read_unsubscribe_token(CONTEXT.secret, token) == (mailed.id, "thread_reply")
    assert read_unsubscribe_token("other secret", token) is None
    assert read_unsubscribe_token(CONTEXT.secret, unsubscribe_token(
        CONTEXT.secret, mailed.id, "not_a_kind")) is None
