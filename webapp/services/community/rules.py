"""The rules every posting form follows: text cleaned at the edge, lengths checked, links
held back for newcomers, posting rates. The numbers are site settings (``RULES``), which an
admin changes on /admin/settings; the defaults suit a school.

A *newcomer* is an account younger than ``newcomer_days`` or with fewer than
``newcomer_posts`` posts: no links, and a lower posting rate.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ChannelMessage, QaAnswer, QaQuestion, SiteSetting, User
from webapp.models.base import utcnow
from webapp.services.audit import record_audit
from webapp.services.exceptions import ValidationFailed


@dataclass(frozen=True)
class Rule:
    key: str
    label: str
    help: str
    default: int
    low: int
    high: int


RULES = (
    Rule("flag_hide_threshold", "Hide after this many flags",
         "An item flagged by this many people is hidden until a moderator looks at it.",
         3, 1, 100),
    Rule("newcomer_days", "Newcomer period (days)",
         "Accounts younger than this may not post links and post more slowly.", 3, 0, 365),
    Rule("newcomer_posts", "Posts before links are allowed",
         "Accounts with fewer posts than this count as newcomers too.", 3, 0, 1000),
    Rule("newcomer_posts_per_hour", "Posts per hour for newcomers",
         "Questions, answers and messages together.", 10, 1, 10_000),
    Rule("member_posts_per_hour", "Posts per hour for everyone else",
         "Questions, answers and messages together.", 120, 1, 10_000),
    Rule("message_max_length", "Longest channel message (characters)",
         "A longer message is refused with a clear error.", 2000, 100, 20_000),
    Rule("edit_window_minutes", "Minutes a message stays editable",
         "After this, a channel message can no longer be edited (questions and answers "
         "always can).", 15, 0, 10_080),
    Rule("notification_retention_days", "Keep notifications for (days)",
         "Older notifications are removed every night.", 90, 7, 3650),
    Rule("security_event_retention_days", "Keep security events for (days)",
         "Older sign-in and account security events are removed every night.",
         365, 30, 3650),
    Rule("hold_links_from_newcomers", "Hold links from newcomers for review (1 yes, 0 no)",
         "1: a post with a link by a newcomer is kept hidden in the moderation queue until a "
         "moderator approves it. 0: it is refused with a message.", 1, 0, 1),
    Rule("hold_branch_requests", "Hold “Go deeper” requests from newcomers (1 yes, 0 no)",
         "1: a request for a branch lesson by a newcomer waits in the moderation queue; "
         "nothing is generated (or paid for) until a moderator approves it.", 0, 0, 1),
    Rule("claim_minutes", "Minutes a claim on a queue item lasts",
         "A moderator who opens a queue item handles it alone for this long; then "
         "another moderator may take it.", 15, 1, 1440),
)
BY_KEY = {rule.key: rule for rule in RULES}
# Questions, answers, announcements and event descriptions.
POST_MAX = 20_000
TITLE_MIN = 8
# Anything that makes a link: a scheme, a "www." name, an autolink, a Markdown link.
_LINK = re.compile(r"(?i)\b(?:https?|ftp|mailto):|\bwww\.|<[a-z][a-z0-9+.-]*:|\]\(")


def current() -> dict[str, int]:
    """Every rule's value (one query): the setting when an admin set it, else the default."""
    stored = dict(db.session.execute(select(SiteSetting.key, SiteSetting.value).where(
        SiteSetting.key.in_(BY_KEY))).all())
    values = {}
    for rule in RULES:
        try:
            value = int(stored.get(rule.key, ""))
        except ValueError:
            value = rule.default
        values[rule.key] = min(max(value, rule.low), rule.high)
    return values


def value(key: str) -> int:
    return current()[key]


def clean_text(raw: str | None, *, field: str, label: str, max_length: int,
               min_length: int = 1, single_line: bool = False) -> str:
    """``raw`` without NUL and control characters (tabs and newlines kept in bodies), with
    Windows line ends made plain and outer blank space trimmed; refused when empty or
    longer than ``max_length`` characters, with a message that says so."""
    text = (raw or "").replace("\r\n", "\n").replace("\r", "\n")
    keep = "" if single_line else "\n\t"
    text = "".join(ch for ch in text
                   if ch in keep or unicodedata.category(ch) not in ("Cc", "Cs"))
    if single_line:
        text = " ".join(text.split())
    text = text.strip()
    if len(text) < min_length:
        raise ValidationFailed(
            f"Write the {label.lower()}." if min_length <= 1 else
            f"The {label.lower()} needs at least {min_length} characters.", field=field)
    if len(text) > max_length:
        raise ValidationFailed(
            f"The {label.lower()} is {len(text):,} characters long; the most is "
            f"{max_length:,}.", field=field)
    return text


def post_count(user: User, *, visible_only: bool = True) -> int:
    """Questions, answers and messages ``user`` wrote (three indexed counts). By default
    only those others can read: a post held for review, hidden or deleted by a moderator
    does not count towards leaving the newcomer rules. Moderators read every post
    (``visible_only=False``)."""
    def count(model) -> int:
        stmt = select(func.count()).select_from(model).where(model.author_id == user.id)
        if visible_only:
            stmt = stmt.where(model.status == "visible")
        return db.session.scalar(stmt) or 0
    return sum(count(model) for model in (QaQuestion, QaAnswer, ChannelMessage))


def is_newcomer(user: User, rules: dict[str, int] | None = None) -> bool:
    rules = rules or current()
    if user.is_editor or user.is_admin:
        return False
    if utcnow() - user.created_at < timedelta(days=rules["newcomer_days"]):
        return True
    return rules["newcomer_posts"] > 0 and post_count(user) < rules["newcomer_posts"]


def has_link(*texts: str | None) -> bool:
    return any(_LINK.search(text or "") for text in texts)


def _refuse_link(rules: dict[str, int], field: str) -> ValidationFailed:
    return ValidationFailed(
        "New members cannot post links yet: take part for a few days (or "
        f"{rules['newcomer_posts']} posts) first, or write the address without "
        "“https://”.", field=field)


def check_links(user: User, *texts: str, field: str = "body") -> None:
    """Refuse links from newcomers, saying when they may post them."""
    if not has_link(*texts):
        return
    rules = current()
    if is_newcomer(user, rules):
        raise _refuse_link(rules, field)


# What the author of a held post reads.
HELD_MESSAGE = "Your post waits for a moderator because it contains a link."


def hold_links(user: User, *texts: str, field: str = "body") -> bool:
    """For a new question, answer or channel message: True when it must wait for a
    moderator (a newcomer's link under the rule "hold_links_from_newcomers" = 1: it is
    saved hidden and queued, ``webapp.services.community.holds``); refused as
    ``check_links`` does when the rule is 0; False for everyone else."""
    if not has_link(*texts):
        return False
    rules = current()
    if not is_newcomer(user, rules):
        return False
    if not rules["hold_links_from_newcomers"]:
        raise _refuse_link(rules, field)
    return True


def posts_per_hour(user: User) -> int:
    """How many posts an hour ``user`` may write (for the per-user rate limit)."""
    rules = current()
    key = "newcomer_posts_per_hour" if is_newcomer(user, rules) else "member_posts_per_hour"
    return rules[key]


def save_rules(actor: User, values: dict[str, int | str | None]) -> dict[str, list[int]]:
    """Store the rules in ``values`` (others unchanged), each a whole number within its
    range; refused, field by field, before anything is written. Audited with what changed
    (``{key: [before, after]}``, empty when nothing did). Flushes."""
    checked: dict[str, int] = {}
    for key, raw in values.items():
        rule = BY_KEY.get(key)
        if rule is None:
            raise ValidationFailed(f"There is no rule called “{str(key)[:40]}”.", field=key)
        try:
            number = int(str(raw).strip())
        except ValueError:
            raise ValidationFailed(f"{rule.label}: write a whole number.", field=key) from None
        if not rule.low <= number <= rule.high:
            raise ValidationFailed(
                f"{rule.label}: choose a number from {rule.low:,} to {rule.high:,}.",
                field=key)
        checked[key] = number
    before = current()
    delta = {key: [before[key], number] for key, number in checked.items()
             if before[key] != number}
    if not delta:
        return {}
    rows = {row.key: row for row in db.session.scalars(
        select(SiteSetting).where(SiteSetting.key.in_(delta)))}
    for key, (_old, number) in delta.items():
        row = rows.get(key)
        if row is None:
            db.session.add(SiteSetting(key=key, value=str(number)))
        else:
            row.value = str(number)
    record_audit(actor, "site.rules", "site_setting", None, delta)
    db.session.flush()
    return delta
