"""Finding components and unsupported MDX in a lesson's source, line by line.

This is the first step of rendering (``webapp.content.render``): one pass over
the lines outside fenced code finds the components the Markdown parser will
turn into HTML, drops what is not supported and reports it as ``Finding``s.

Components
==========

Each tag stands on a line of its own, outside fenced code blocks (``` or ~~~).
Attribute values are written in double quotes; character references such as
``&amp;`` are decoded, and every value is escaped again in the HTML. Any other
attribute, a value that fails its rule below, or a tag that is not written as
shown (single quotes, ``{…}`` values, split over lines) drops the line and is
reported.

``<Callout kind="tip|note|warning">`` … ``</Callout>``
    A boxed aside around ordinary Markdown. ``kind`` defaults to ``note``; an
    unknown kind is shown as a note (and reported).

``<Details summary="…">`` … ``</Details>``
    A disclosure widget, closed until opened: ``<details><summary>…</summary>``.
    The summary (1 to 200 characters) is plain text; the body is Markdown and may
    contain callouts and other details.

``<Figure src="…" alt="…" caption="…"/>``
    An image with an optional caption. ``src`` is a path on this site
    (``/static/img/x.png``, never ``//host/…``) or an ``https://`` URL; ``alt``
    (the image described in words) is required. The site's
    Content-Security-Policy (``img-src 'self' data:``) blocks remote images in
    the browser, so an ``https://`` source renders but is reported as a warning:
    serve the image from this site. Markdown images with a remote source get
    the same warning.

``<Quiz id="key"/>``
    A link to the course's quiz with that key (``[a-z0-9][a-z0-9-]*``, at most
    80 characters). The link is relative, ``../quizzes/<key>``, so from
    ``/courses/<course>/lessons/<lesson>`` it reaches
    ``/courses/<course>/quizzes/<key>``.

``<Branch topic="…"/>``
    A "Go deeper" suggestion naming a topic (1 to 120 characters).

Containers (Callout, Details) nest, up to six deep, and work inside list items
when indented with the item's text. A closing tag without its opening tag is
dropped; a container left open ends where its parent ends (a closing tag of an
outer container, or the end of the document).

What is not supported
=====================

Everything else that MDX would run is not run, and ``render_lesson`` reports
it line by line (``Finding``) so the editor can fix the source:

- ``import …`` / ``export …`` statements at the start of a line: dropped.
- Other capitalised tags (``<Tabs>``, ``</Tabs>``, ``<Chart data={x}/>``): dropped.
- ``<script>`` … ``</script>`` blocks (any case, over any number of lines): dropped.
- A line that is only a ``{…}`` expression (or ``{/* comment */}``): dropped.
- Raw HTML anywhere else (``<b>``, ``<img onerror=…>``): shown as text, reported
  as "escaped".
- A component indented like a code block (four spaces) is shown as text.
- What the sanitizer removes from the rendered HTML (action "removed").

Fenced code is never touched: tags there are code. Indented code blocks are not
recognised, so put code that contains tags in a fence. ``render_markdown``
(notes) applies the same components but keeps every unsupported line as text,
since no one reads a report for a note.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from html import unescape

CALLOUT_KINDS = ("tip", "note", "warning")
COMPONENTS = ("Callout", "Details", "Figure", "Quiz", "Branch")
QUIZ_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
REMOTE_IMAGE_WARNING = ("remote images are blocked by the site's Content-Security-Policy; "
                        "serve the image from this site")

# Which attributes each component takes; containers wrap Markdown, leaves close themselves.
_CONTAINERS = {"Callout": ("kind",), "Details": ("summary",)}
_LEAVES = {"Figure": ("src", "alt", "caption"), "Quiz": ("id",), "Branch": ("topic",)}
_SUPPORTED = ", ".join(COMPONENTS)


@dataclass(frozen=True)
class Finding:
    """Something in a lesson's source that did not render as written."""

    line: int | None  # 1-based source line; None when not tied to a line
    action: str  # "dropped" | "escaped" | "removed" | "warning"
    reason: str  # a sentence for the editor


# markdown-it's own idea of a line break, so line numbers agree with its token maps.
_NEWLINE = re.compile(r"\r\n?|\n")
# A fence may follow block-quote markers and list markers ("> ```", "- ```", "1. ```").
_FENCE_OPEN = re.compile(r"^(?P<prefix>(?:[ \t]*(?:>|[-+*][ \t]|\d{1,9}[.)][ \t]))*)[ \t]*"
                         r"(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^(?:[ \t]*>)*[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*$")
_QUOTES = re.compile(r"^(?:[ \t]*>)*")
INDENT = re.compile(r"^[ \t]*")
_TAG_START = re.compile(r"^[ \t]*<(?P<close>/?)(?P<name>[A-Z][\w.]*)")
_OPEN_TAG = re.compile(r'^[ \t]*<(?P<name>[A-Z][\w.]*)(?P<attrs>(?:[ \t]+[A-Za-z][\w-]*="[^"]*")*)'
                       r"[ \t]*(?P<slash>/?)>[ \t]*$")
_CLOSE_TAG = re.compile(r"^[ \t]*</(?P<name>[A-Z][\w.]*)[ \t]*>[ \t]*$")
_ATTRIBUTE = re.compile(r'([A-Za-z][\w-]*)="([^"]*)"')
_SCRIPT_OPEN = re.compile(r"^[ \t]*<script(?![\w-])", re.IGNORECASE)
_SCRIPT_CLOSE = re.compile(r"</script[\s/>]", re.IGNORECASE)
_EXPRESSION = re.compile(r"^[ \t]*\{.*\}[ \t]*$")
# Statements, not prose that happens to start with the word ("import the data first").
_IMPORT = re.compile(r"""^import(?:\s*["'{*]|\s+(?:type\s+)?[\w$]+\s*(?:,|from\s*["']))""")
_EXPORT = re.compile(r"^export\s+(?:default\b|const\s|let\s|var\s|async\s|function\b|class\s|[{*])")
_BACKTICKS = re.compile(r"`+")
_RAW_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)(?=[\s/>])([^<>]*)>?")
_RAW_COMMENT = re.compile(r"<!--")
_HANDLER = re.compile(r"\bon[a-z]+\s*=", re.IGNORECASE)
_HTML_TAG_NAMES = """
    a abbr address applet area article aside audio b base basefont bdi bdo big blink blockquote
    body br button canvas caption center cite code col colgroup data datalist dd del details dfn
    dialog div dl dt em embed fieldset figcaption figure font footer form frame frameset h1 h2 h3
    h4 h5 h6 head header hgroup hr html i iframe image img input ins isindex kbd keygen label
    legend li link listing main map mark marquee math menu meta meter nav nobr noembed noframes
    noscript object ol optgroup option output p param picture plaintext pre progress q rp rt
    ruby s samp script search section select slot small source span strike strong style sub
    summary sup svg table tbody td template textarea tfoot th thead time title tr track tt u ul
    var video wbr xmp
"""
_HTML_TAGS = frozenset(_HTML_TAG_NAMES.split())
_URL_CHAR = r"[^\x00-\x20\x7f\s\\\"'<>`]"
_SITE_PATH = re.compile(rf"^/(?![/\\]){_URL_CHAR}*$")
_HTTPS_URL = re.compile(rf"^https://[^\x00-\x20\x7f\s\\\"'<>`/?#@]+(?:[/?#]{_URL_CHAR}*)?$",
                        re.IGNORECASE)
_MAX_TAG_LINES = 50  # how far a tag split over lines is followed before giving up
# markdown-it stops parsing below 20 levels of nesting (lists and quotes count too).
MAX_COMPONENT_DEPTH = 6
_MAX_STACK = 64  # dropped openers are remembered (to drop their closers) up to this depth


@dataclass
class Component:
    """A component line, found before parsing and looked up by the block rule by line."""

    name: str
    role: str  # "open" | "close" | "leaf"
    attrs: dict[str, str] = field(default_factory=dict)
    end: int | None = None  # "open": line index where it ends; None = the parent's end
    own_closer: bool = False  # "open": the line at ``end`` is its closing tag


@dataclass
class _Open:
    name: str
    line: int
    component: Component | None  # None: the opening tag was dropped


@dataclass(frozen=True)
class _Fence:
    """An open fenced code block: what closes it, and what ends it without closing it."""

    char: str
    length: int
    quotes: int  # ">" markers before it: a line with fewer ends it (the quote ended)
    indent: int  # its column when opened in a list item: a less indented line ends it

    def closed_by(self, line: str) -> bool:
        closing = _FENCE_CLOSE.match(line)
        return bool(closing) and closing["fence"][0] == self.char \
            and len(closing["fence"]) >= self.length

    def ended_by(self, line: str) -> bool:
        if self.quotes and _QUOTES.match(line).group(0).count(">") < self.quotes:
            return True
        return bool(self.indent and line.strip()
                    and len(INDENT.match(line).group(0).expandtabs(4)) < self.indent)


@dataclass
class Prepared:
    """The source ready for the parser (dropped lines blank), its components by line
    index, and what was dropped or reported."""

    text: str
    components: dict[int, Component]
    findings: list[Finding]


class _Scanner:
    """One pass over the source lines, outside fences: components, drops and findings."""

    def __init__(self, source: str, *, drop: bool) -> None:
        self.lines = _NEWLINE.split(source)
        self.drop_lines = drop
        self.components: dict[int, Component] = {}
        self.findings: list[Finding] = []
        self.dropped: set[int] = set()
        self.stack: list[_Open] = []

    def report(self, index: int, action: str, reason: str) -> None:
        self.findings.append(Finding(index + 1, action, reason))

    def drop(self, first: int, last: int, reason: str) -> int:
        span = f" (lines {first + 1} to {last + 1})" if last > first else ""
        self.report(first, "dropped", reason + span)
        self.dropped.update(range(first, last + 1))
        return last + 1

    def run(self) -> Prepared:
        lines, n, i = self.lines, len(self.lines), 0
        fence: _Fence | None = None
        while i < n:
            line = lines[i]
            if fence is not None:
                if fence.closed_by(line):
                    fence = None
                    i += 1
                    continue
                if not fence.ended_by(line):
                    i += 1
                    continue
                fence = None
            opened = _FENCE_OPEN.match(line)
            if opened and not (opened["fence"][0] == "`" and "`" in opened["info"]):
                prefix = opened["prefix"]
                in_list = prefix.replace(">", "").strip() != ""
                column = len(line[:opened.start("fence")].expandtabs(4)) if in_list else 0
                fence = _Fence(opened["fence"][0], len(opened["fence"]), prefix.count(">"),
                               column)
                i += 1
                continue
            i = self.classify(i, line)
        for entry in self.stack:
            if entry.component is not None:
                self.report(entry.line, "warning", f"<{entry.name}> is never closed; it ends at "
                            f"the end of the document (add </{entry.name}>)")
        out = ["" if self.drop_lines and k in self.dropped else text
               for k, text in enumerate(lines)]
        return Prepared("\n".join(out), self.components, self.findings)

    def classify(self, i: int, line: str) -> int:
        """Handle the line at ``i`` (outside a fence); returns the next line to look at."""
        first = line.lstrip(" \t")[:1]
        if first == "<":
            if _SCRIPT_OPEN.match(line):
                return self.script(i)
            tag = _TAG_START.match(line)
            if tag:
                return self.component(i, line, tag["name"], bool(tag["close"]))
        elif first == "{" and _EXPRESSION.match(line):
            return self.drop(i, i, "expressions are not evaluated")
        elif line.startswith(("import", "export")) and (_IMPORT.match(line)
                                                         or _EXPORT.match(line)):
            return self.drop(i, self.statement_end(i), "import/export statements are not "
                             "supported")
        if "<" in line:
            self.raw_html(i, line)
        return i + 1

    def script(self, i: int) -> int:
        for last in range(i, len(self.lines)):
            if _SCRIPT_CLOSE.search(self.lines[last]):
                return self.drop(i, last, "<script> blocks are not run")
        return self.drop(i, len(self.lines) - 1, "<script> blocks are not run; this one has no "
                         "</script>, so the rest of the document was dropped with it")

    def statement_end(self, i: int) -> int:
        """Last line of an import/export whose braces span lines (stops at a blank line)."""
        depth, last = 0, i
        for last in range(i, min(len(self.lines), i + _MAX_TAG_LINES)):
            text = self.lines[last]
            if last > i and not text.strip():
                return last - 1
            depth += text.count("{") - text.count("}")
            if depth <= 0:
                return last
        return last

    def tag_end(self, i: int) -> int:
        """Last line of a tag that may be split over lines (up to its ``>``)."""
        last = i
        for last in range(i, min(len(self.lines), i + _MAX_TAG_LINES)):
            text = self.lines[last]
            if last > i and not text.strip():
                return last - 1
            if ">" in text:
                return last
        return last

    def component(self, i: int, line: str, name: str, closing: bool) -> int:
        if name not in _CONTAINERS and name not in _LEAVES:
            return self.drop(i, self.tag_end(i), f"unknown component <{name}>; supported: "
                             f"{_SUPPORTED}")
        if closing:
            if not _CLOSE_TAG.match(line):
                return self.drop(i, self.tag_end(i), f"malformed closing tag: write </{name}> "
                                 "alone on its line")
            if name in _LEAVES:
                return self.drop(i, i, f"</{name}> is not needed: <{name} … /> closes itself")
            return self.close(i, name)
        tag = _OPEN_TAG.match(line)
        if tag is None:
            if name in _CONTAINERS and len(self.stack) < _MAX_STACK:
                self.stack.append(_Open(name, i, None))  # its closing tag goes with it
            return self.drop(i, self.tag_end(i), f"malformed <{name}> tag: write it on one "
                             'line, with every attribute value in double quotes (name="…")')
        attrs, problem = self.attributes(name, tag["attrs"], bool(tag["slash"]), i)
        if name in _CONTAINERS:
            if not problem and sum(e.component is not None for e in self.stack) \
                    >= MAX_COMPONENT_DEPTH:
                problem = (f"components nest at most {MAX_COMPONENT_DEPTH} deep; this "
                           f"<{name}> is one too many")
            component = None if problem else Component(name, "open", attrs)
            if component is not None or len(self.stack) < _MAX_STACK:
                self.stack.append(_Open(name, i, component))
            if problem:
                return self.drop(i, i, problem)
            self.components[i] = component
            return i + 1
        if problem:
            return self.drop(i, i, problem)
        self.components[i] = Component(name, "leaf", attrs)
        return i + 1

    def close(self, i: int, name: str) -> int:
        at = next((k for k in range(len(self.stack) - 1, -1, -1)
                   if self.stack[k].name == name), None)
        if at is None:
            return self.drop(i, i, f"</{name}> has no <{name}> above it")
        for inner in self.stack[at + 1:]:
            if inner.component is not None:
                inner.component.end = i
                self.report(inner.line, "warning", f"<{inner.name}> is not closed; it ends at "
                            f"</{name}> on line {i + 1} (add </{inner.name}> before it)")
        entry = self.stack[at]
        del self.stack[at:]
        if entry.component is None:
            return self.drop(i, i, f"</{name}> belongs to the <{name}> dropped on line "
                             f"{entry.line + 1}")
        entry.component.end, entry.component.own_closer = i, True
        self.components[i] = Component(name, "close")
        return i + 1

    def attributes(self, name: str, text: str, self_closing: bool,
                   i: int) -> tuple[dict[str, str], str | None]:
        """Parsed, checked attributes and the reason to drop the tag (None if it is fine)."""
        attrs: dict[str, str] = {}
        for key, value in _ATTRIBUTE.findall(text):
            if key in attrs:
                return attrs, f"attribute {key} is given twice on <{name}>"
            attrs[key] = unescape(value)
        allowed = _CONTAINERS.get(name) or _LEAVES[name]
        unknown = [key for key in attrs if key not in allowed]
        if unknown:
            return attrs, (f"unknown attribute {', '.join(unknown)} on <{name}>; allowed: "
                           f"{', '.join(allowed)}")
        if name in _CONTAINERS and self_closing:
            return attrs, f"<{name}/> wraps nothing: write <{name} …>, the text, then </{name}>"
        if name in _LEAVES and not self_closing:
            return attrs, f"<{name}> closes itself: write <{name} … />"
        checks = {"Callout": self.check_callout, "Details": self.check_details,
                  "Figure": self.check_figure, "Quiz": self.check_quiz,
                  "Branch": self.check_branch}
        return attrs, checks[name](attrs, i)

    def check_callout(self, attrs: dict[str, str], i: int) -> str | None:
        kind = attrs.get("kind", "note")
        if kind not in CALLOUT_KINDS:
            self.report(i, "warning", f'unknown callout kind "{kind}" is shown as a note; '
                        f"kinds: {', '.join(CALLOUT_KINDS)}")
            kind = "note"
        attrs["kind"] = kind
        return None

    def check_details(self, attrs: dict[str, str], _i: int) -> str | None:
        return _trimmed_text(attrs, "summary", 200,
                             '<Details> needs a summary="…" of 1 to 200 characters')

    def check_figure(self, attrs: dict[str, str], i: int) -> str | None:
        src, alt = attrs.get("src", ""), attrs.get("alt", "").strip()
        caption = attrs.get("caption", "").strip()
        remote = bool(_HTTPS_URL.match(src))
        if len(src) > 2000 or not (remote or _SITE_PATH.match(src)):
            return ("<Figure> src must be a path on this site (/…, not //…) or an https:// "
                    "URL, without spaces or quotes")
        if not 1 <= len(alt) <= 500:
            return '<Figure> needs alt="…" text (up to 500 characters) describing the image'
        if len(caption) > 500:
            return "<Figure> caption is longer than 500 characters"
        if remote:
            self.report(i, "warning", REMOTE_IMAGE_WARNING)
        attrs["alt"], attrs["caption"] = alt, caption
        return None

    def check_quiz(self, attrs: dict[str, str], _i: int) -> str | None:
        if not QUIZ_KEY_RE.match(attrs.get("id", "")):
            return ('<Quiz> needs id="key": lower-case letters, digits and hyphens, starting '
                    "with a letter or digit, at most 80 characters")
        return None

    def check_branch(self, attrs: dict[str, str], _i: int) -> str | None:
        return _trimmed_text(attrs, "topic", 120, '<Branch> needs topic="…" of 1 to 120 characters')

    def raw_html(self, i: int, line: str) -> None:
        text = _without_code_spans(line)
        for match in _RAW_TAG.finditer(text):
            slash, name, rest = match.groups()
            handler = _HANDLER.search(rest)
            if name in _CONTAINERS or name in _LEAVES:
                self.report(i, "escaped", f"<{slash}{name}> is a component only at the start of "
                            "its own line; here it is shown as text")
                return
            if handler:
                shown = f"<{name.lower()} {handler.group(0).rstrip(' =').lower()}=…>"
            elif name.lower() in _HTML_TAGS or "-" in name:
                shown = f"<{slash}{name.lower()}>"
            else:
                continue  # List<T>, Vec<u8>: not HTML
            self.report(i, "escaped", f"raw HTML is shown as text, not run: {shown}")
            return
        if _RAW_COMMENT.search(text):
            self.report(i, "escaped", "raw HTML is shown as text, not run: <!-- … -->")


def _trimmed_text(attrs: dict[str, str], name: str, longest: int, problem: str) -> str | None:
    """Trim a required text attribute in place; ``problem`` when it is empty or too long."""
    value = attrs.get(name, "").strip()
    if not 1 <= len(value) <= longest:
        return problem
    attrs[name] = value
    return None


def _without_code_spans(line: str) -> str:
    """The line without its `code spans` (a run of backticks closes at the next equal run)."""
    if "`" not in line:
        return line
    runs = [(m.start(), m.end()) for m in _BACKTICKS.finditer(line)]
    by_length: dict[int, list[int]] = {}
    for k, (start, end) in enumerate(runs):
        by_length.setdefault(end - start, []).append(k)
    kept, position, k = [], 0, 0
    while k < len(runs):
        start, end = runs[k]
        same = by_length[end - start]
        at = bisect_right(same, k)
        if at == len(same):
            k += 1
            continue
        closing = same[at]
        kept.append(line[position:start])
        position, k = runs[closing][1], closing + 1
    kept.append(line[position:])
    return "".join(kept)


def scan_source(source: str, *, drop: bool = True) -> Prepared:
    """Find components and unsupported MDX, line by line, outside fenced code.

    With ``drop`` the unsupported lines become blank lines (so line numbers stay
    those of the source); without it they stay, to be shown as text.
    """
    return _Scanner(source, drop=drop).run()
