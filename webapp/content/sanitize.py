"""The one sanitizer policy: every piece of user-written HTML passes through ``clean``.

bleach is unmaintained upstream, so it is pinned and used only here. Change the
allowlist only together with ``POLICY_VERSION``: stored HTML records the version
that made it, and ``tangent content rerender`` rebuilds what is older.
"""

from __future__ import annotations

import re

import bleach

POLICY_VERSION = "p1"

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "aside", "b", "blockquote", "br", "code", "dd", "del", "details", "div",
        "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
        "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s", "section", "small", "span",
        "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
        "ul",
    }
)
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto"})

# Classes the renderer emits: Pygments tokens, callouts, heading anchors, tables.
_CLASS_RE = re.compile(r"^(highlight|callout|callout-(tip|note|warning)|heading-anchor|"
                       r"[a-z][a-z0-9]{0,2}|language-[a-z0-9+#-]{1,30}|table-wrap)$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return all(_CLASS_RE.match(part) for part in value.split())
    if name == "id":
        return bool(_ID_RE.match(value))
    allowed = _TAG_ATTRIBUTES.get(tag, ())
    return name in allowed


_TAG_ATTRIBUTES = {
    "a": ("href", "title", "rel"),
    "abbr": ("title",),
    "img": ("src", "alt", "title", "width", "height", "loading"),
    "ol": ("start",),
    "td": ("colspan", "rowspan"),
    "th": ("colspan", "rowspan", "scope"),
    "details": ("open",),
    "aside": ("role", "aria-label"),
}

_cleaner = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=_allow_attribute,
    protocols=ALLOWED_PROTOCOLS,
    strip=True,
    strip_comments=True,
)


def clean(html: str) -> str:
    """Sanitize HTML made from user input with the one allowlist policy."""
    return _cleaner.clean(html)
