"""The one sanitizer policy: every piece of user-written HTML passes through ``clean``.

bleach is unmaintained upstream, so it is pinned and used only here. Change the
allowlist only together with ``POLICY_VERSION``: stored HTML records the version
that made it, and ``tangent content rerender`` rebuilds what is older.

``clean`` is the fast path (notes, messages, AI output). ``clean_with_report``
runs the same policy and also says what it removed, for lesson editors; it
learns that by comparing the HTML before and after, so the policy lives only in
the allowlist below.
"""

from __future__ import annotations

import re
from collections import Counter
from html import unescape
from html.parser import HTMLParser

import bleach

POLICY_VERSION = "p3"

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
# Images load without a click: only the web's own schemes (or a relative URL), never data:.
IMAGE_PROTOCOLS = frozenset({"http", "https"})

# Classes the renderer emits: Pygments tokens, callouts, components, heading anchors,
# tables (and their column alignment), footnotes.
_CLASS_RE = re.compile(
    r"^(highlight|callout|callout-(tip|note|warning)|figure|quiz-embed|branch-suggestion|"
    r"heading-anchor|[a-z][a-z0-9]{0,2}|language-[a-z0-9+#-]{1,30}|table-wrap|"
    r"align-(left|center|right)|footnotes|footnotes-sep|footnotes-list|footnote-item|"
    r"footnote-ref|footnote-backref)$"
)
# Heading anchors and footnotes (``fnref1:2`` is the second reference to note 1).
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}(:[0-9]{1,4})?$")
# What browsers (and bleach) ignore inside a URL before its scheme.
_URL_NOISE = re.compile(r"[`\x00-\x20\x7f-\xa0\s]+|[^\x00-\x7f]")
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")


def _image_source_allowed(value: str) -> bool:
    compact = _URL_NOISE.sub("", unescape(value)).lower()
    scheme = _SCHEME.match(compact)
    return scheme is None or scheme.group(1) in IMAGE_PROTOCOLS


def _allow_attribute(tag: str, name: str, value: str) -> bool:
    if name == "class":
        return all(_CLASS_RE.match(part) for part in value.split())
    if name == "id":
        return bool(_ID_RE.match(value))
    if tag == "img" and name == "src":
        return _image_source_allowed(value)
    if name == "tabindex":
        # Only what makes a scrolling code block or table reachable by keyboard.
        return tag in ("pre", "table") and value == "0"
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


def clean_with_report(html: str) -> tuple[str, list[str]]:
    """``clean(html)`` and a description of each thing it removed.

    Descriptions read like ``<iframe> removed`` or
    ``<img src="javascript:alert(1)">: attribute src removed`` (removed elements
    first, then attributes, each in document order). They come from comparing
    the tags, attributes and comments found before and after cleaning, so they
    follow the policy without restating it.
    """
    cleaned = _cleaner.clean(html)
    if cleaned == html:
        return cleaned, []
    return cleaned, _removals(_Inventory(html), _Inventory(cleaned))


class _Inventory(HTMLParser):
    """Multisets of the start tags, (tag, attribute, value) triples and comments in HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.attributes: Counter[tuple[str, str, str]] = Counter()
        self.comments = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            self.attributes[(tag, name, value or "")] += 1

    handle_startendtag = handle_starttag

    def handle_comment(self, data: str) -> None:
        self.comments += 1


def _times(n: int) -> str:
    return f" ({n} times)" if n > 1 else ""


def _shorten(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _removals(before: _Inventory, after: _Inventory) -> list[str]:
    gone_tags = before.tags - after.tags
    found = [f"<{tag}> removed{_times(n)}" for tag, n in gone_tags.items()]
    for (tag, name, value), n in (before.attributes - after.attributes).items():
        if after.tags[tag] == 0 and tag in gone_tags:
            continue  # the whole element went; its attributes went with it
        found.append(f'<{tag} {name}="{_shorten(value)}">: attribute {name} removed{_times(n)}')
    if before.comments > after.comments:
        found.append(f"HTML comment removed{_times(before.comments - after.comments)}")
    return found
