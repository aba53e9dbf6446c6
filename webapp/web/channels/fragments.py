"""Rendered messages, kept per process: a channel page shows the same 30 messages to every
member, and rendering each one (its time in the reader's zone, its links) was most of the
page's cost.

The cache key holds everything ``channels/_message.html`` shows or decides on: the
message's id, status, text (its sanitized HTML), edit time, reply count and author name;
the reader's time zone, whether they wrote it, may still edit it or may moderate, whether
it waits for a moderator (held); the
channel's address, the thread flag and the page the flag link returns to. A change to any
of these is a new key, so nothing is ever invalidated by hand; old entries fall out of
the bounded LRU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from flask import render_template, request, url_for
from jinja2 import pass_context
from markupsafe import Markup

from webapp.services.community import holds
from webapp.web.times import viewer_time_zone

CAPACITY = 4096
_lock = threading.Lock()
_cache: OrderedDict[tuple, Markup] = OrderedDict()


def clear() -> None:
    with _lock:
        _cache.clear()


def _here() -> str:
    """What the flag link's "Back" remembers (see ``webapp.web.flags.views.flag_url``)."""
    return request.headers.get("HX-Current-URL", "") if request.headers.get("HX-Request") \
        else request.full_path


def message_html(row, *, view, user, edit_cutoff, in_thread: bool, channel_url: str) -> Markup:
    m = row.message
    editable = m.status == "visible" and m.author_id == user.id and m.created_at > edit_cutoff
    # The author's own hidden message that waits for a moderator (a newcomer's link) is
    # shown to them, marked: one indexed read, only for the reader's own hidden messages.
    held = m.status == "hidden" and m.author_id == user.id \
        and bool(holds.waiting("message", [m.id]))
    key = (m.id, m.status, m.body_html, m.edited_at, m.reply_count, m.parent_id,
           row.author_name, viewer_time_zone(), m.author_id == user.id, editable,
           view.can_moderate, view.slug, bool(in_thread), channel_url, _here(), held)
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    # render_template escaped everything that needed it: its output is the HTML to show.
    html = Markup(render_template(  # noqa: S704
        "channels/_message.html", row=row, view=view, user=user, edit_cutoff=edit_cutoff,
        in_thread=in_thread, channel_url=channel_url, held=held))
    with _lock:
        _cache[key] = html
        while len(_cache) > CAPACITY:
            _cache.popitem(last=False)
    return html


@pass_context
def channel_message(context, row, in_thread: bool = False) -> Markup:
    """The Jinja global ``{{ channel_message(row) }}`` (``in_thread=true`` on a thread's
    page): ``message_html`` with the page's ``view``, ``user``, ``edit_cutoff`` and
    ``channel_url``."""
    view = context["view"]
    return message_html(row, view=view, user=context["user"],
                        edit_cutoff=context["edit_cutoff"], in_thread=in_thread,
                        channel_url=context.get("channel_url")
                        or url_for("channels.show", slug=view.slug))
