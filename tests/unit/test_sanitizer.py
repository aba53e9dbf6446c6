"""The sanitizer gate: hostile or odd lesson text never renders to markup that runs script.

Every string of the Big List of Naughty Strings and every vector of
``tests/xss_corpus.py`` goes through ``render_sections`` and ``render_markdown``;
the output is parsed and checked for script, event handlers, dangerous URL
schemes, inline styles and active-content tags. The output is also a fixed point
of ``clean`` (re-sanitizing changes nothing), and ordinary content survives.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.xss_corpus import XSS_VECTORS
from webapp.content.render import render_markdown, render_sections
from webapp.content.sanitize import clean

BLNS_PATH = Path(__file__).resolve().parents[3] / "shared/corpora/blns/blns.json"

FORBIDDEN_TAGS = frozenset({
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "svg", "math",
    "style", "form", "base", "meta", "link", "input", "button", "textarea", "select",
    "template", "noscript", "xmp", "video", "audio", "source", "marquee", "body", "html",
})
# Attributes that hold a URL a browser may follow or load.
URL_ATTRIBUTES = frozenset({
    "href", "src", "action", "formaction", "xlink:href", "poster", "background", "data",
    "cite", "longdesc", "lowsrc", "dynsrc", "codebase", "manifest", "ping",
})
FORBIDDEN_ATTRIBUTES = frozenset({"style", "srcdoc", "srcset", "http-equiv"})
# Browsers drop ASCII whitespace and C0 controls inside a scheme; DEL is dropped too.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")
_RAW_TAG = re.compile(r"<\s*/?\s*(script|iframe|object|embed|svg|math|style|form|base|meta)\b",
                      re.IGNORECASE)


def url_scheme_problem(value: str) -> str | None:
    """Why a URL attribute value is dangerous (entity-decoded by the parser), or None."""
    compact = _IGNORED_IN_SCHEME.sub("", value).lower()
    for scheme in ("javascript:", "vbscript:", "data:", "livescript:", "mocha:"):
        if compact.startswith(scheme):
            return f"{scheme} URL"
    return None


@dataclass
class _Findings(HTMLParser):
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}> tag")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler")
            if name in FORBIDDEN_ATTRIBUTES:
                self.problems.append(f"<{tag} {name}=…> attribute")
            if name in URL_ATTRIBUTES and value is not None:
                why = url_scheme_problem(value)
                if why:
                    self.problems.append(f"<{tag} {name}={value!r}>: {why}")

    handle_startendtag = handle_starttag


def problems_in(html: str) -> list[str]:
    """Everything unsafe in ``html``: parsed tags and attributes, plus a raw-text check."""
    parser = _Findings()
    parser.feed(html)
    parser.close()
    found = list(parser.problems)
    found += [f"raw {m.group(0)!r}" for m in _RAW_TAG.finditer(html)]
    return found


def rendered_outputs(source: str) -> list[str]:
    """Every HTML fragment lesson rendering and note rendering make from ``source``."""
    return [s.html for s in render_sections(source, "Fallback")] + [render_markdown(source)]


def assert_safe(source: str) -> None:
    for html in rendered_outputs(source):
        assert problems_in(html) == [], f"unsafe output for {source!r}:\n{html}"
        assert clean(html) == html, f"clean() is not idempotent for {source!r}:\n{html}"


# --- the checker itself catches what it should ---------------------------------------------


@pytest.mark.parametrize("html", [
    "<script>alert(1)</script>",
    "<p><ScRiPt>alert(1)</script></p>",
    '<img src="x" onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '<a href="jav&#x09;ascript:alert(1)">x</a>',
    '<a href=" \x01JaVaScRiPt:alert(1)">x</a>',
    '<a href="vbscript:x">x</a>',
    '<a href="data:text/html,x">x</a>',
    '<img src="data:image/png;base64,AAAA">',
    '<p style="color:red">x</p>',
    "<svg/onload=alert(1)>",
    '<iframe srcdoc="x"></iframe>',
    "<object></object>", "<embed>", "<math></math>", "<style></style>", "<form></form>",
    '<base href="/">', '<meta charset="utf-8">',
], ids=lambda html: html[:40])
def test_the_checker_flags_unsafe_html(html: str) -> None:
    assert problems_in(html) != []


@pytest.mark.parametrize("html", [
    '<p><a href="https://example.org/?q=javascript:1" rel="nofollow noopener ugc">x</a></p>',
    "<p>&lt;script&gt;alert(1)&lt;/script&gt; and onclick=alert(1) as text</p>",
    '<a href="#fn1">1</a>',
    '<a href="/courses/javascript-basics">x</a>',
], ids=["https-link", "escaped-text", "fragment", "relative"])
def test_the_checker_accepts_safe_html(html: str) -> None:
    assert problems_in(html) == []


# --- the corpora ----------------------------------------------------------------------------


@pytest.mark.parametrize("source", [v for _, v in XSS_VECTORS], ids=[k for k, _ in XSS_VECTORS])
def test_xss_vector_renders_safely(source: str) -> None:
    assert_safe(source)


def test_all_xss_vectors_in_one_lesson_render_safely() -> None:
    """Vectors interact (reference definitions, open blocks): all of them in one lesson."""
    source = "\n\n".join(f"## Vector {name}\n\n{body}" for name, body in XSS_VECTORS)
    sections = render_sections(source, "All vectors")
    assert len(sections) >= len(XSS_VECTORS) // 2
    assert_safe(source)


def _blns() -> list[str]:
    if not BLNS_PATH.is_file():
        return []
    strings = json.loads(BLNS_PATH.read_text(encoding="utf-8"))
    assert isinstance(strings, list) and all(isinstance(s, str) for s in strings)
    return strings


BLNS = _blns()
BLNS_BATCH = 50
BLNS_BATCHES = [BLNS[i:i + BLNS_BATCH] for i in range(0, len(BLNS), BLNS_BATCH)]
_NO_BLNS = pytest.mark.skip(reason=f"Big List of Naughty Strings not found at {BLNS_PATH}")


@pytest.mark.parametrize(
    "batch",
    [pytest.param(b, id=f"blns-{i * BLNS_BATCH:03d}-{i * BLNS_BATCH + len(b) - 1:03d}")
     for i, b in enumerate(BLNS_BATCHES)]
    or [pytest.param([], id="blns-missing", marks=_NO_BLNS)],
)
def test_naughty_strings_render_safely(batch: list[str]) -> None:
    """Each string alone, as a heading, inside a link and inside a callout."""
    failures = []
    for text in batch:
        one_line = text.replace("\n", " ")
        for source in (text, f"## {one_line}\n\n{text}", f"[{one_line}]({one_line})",
                       f'<Callout kind="tip">\n{text}\n</Callout>'):
            try:
                assert_safe(source)
            except AssertionError as exc:
                failures.append(str(exc))
    assert failures == []


@pytest.mark.skipif(not BLNS, reason=f"Big List of Naughty Strings not found at {BLNS_PATH}")
def test_all_naughty_strings_in_one_lesson_render_safely() -> None:
    assert len(BLNS) > 400
    assert_safe("\n\n".join(BLNS))


# --- ordinary content survives --------------------------------------------------------------


def test_code_block_stays_highlighted() -> None:
    html = render_markdown("```python\nprint('hello')\n```")
    assert '<div class="highlight">' in html
    assert '<span class="nb">print</span>' in html
    assert "style=" not in html


def test_external_link_keeps_rel_and_href() -> None:
    html = render_markdown("[docs](https://example.org/guide?a=1&b=2)")
    assert ('<a href="https://example.org/guide?a=1&amp;b=2" rel="nofollow noopener ugc">'
            "docs</a>") in html


def test_markdown_structure_survives() -> None:
    source = ("# Title\n\n## Step one\n\nSome *em* and **strong** and `code`.\n\n"
              "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
              '<Callout kind="warning">\nCareful.\n</Callout>\n\n'
              "![alt](https://example.org/a.png)\n\n[rel](/courses/x)\n\nNote[^1]\n\n[^1]: yes")
    html = render_markdown(source)
    for fragment in ('<h2 id="step-one">', "<em>em</em>", "<strong>strong</strong>",
                     "<code>code</code>", "<table tabindex=\"0\">", "<td>1</td>",
                     '<aside class="callout callout-warning" role="note" aria-label="Warning">',
                     '<img src="https://example.org/a.png" alt="alt">',
                     '<a href="/courses/x">rel</a>', '<a href="#fn1" id="fnref1">'):
        assert fragment in html
    assert problems_in(html) == []


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown("<b onclick=alert(1)>bold</b>")
    assert html == "<p>&lt;b onclick=alert(1)&gt;bold&lt;/b&gt;</p>\n"


@pytest.mark.parametrize("info", [
    'tip"><a href="https://evil.example/login" id="config">Sign in again</a><b x="',
    'x" onclick="alert(1)',
    '"><img src=x onerror=alert(1)>',
    "tip extra",
])
def test_callout_info_string_cannot_inject_markup(info: str) -> None:
    """``::: callout <info>`` is typed by authors: only a known kind reaches the HTML."""
    html = render_markdown(f"::: callout {info}\nbody\n:::")
    assert html == ('<aside class="callout callout-note" role="note" aria-label="Note">\n'
                    "<p>body</p>\n</aside>\n")


def test_sanitizer_strips_what_the_renderer_never_makes() -> None:
    """``clean`` is the gate for other callers too (notes, messages, AI output)."""
    dirty = ('<p onclick="alert(1)" style="color:red">x<script>alert(1)</script>'
             '<a href="javascript:alert(1)">a</a><img src="data:image/png;base64,AA">'
             '<iframe src="https://example.org"></iframe><svg onload="alert(1)"></svg></p>')
    html = clean(dirty)
    assert problems_in(html) == []
    assert clean(html) == html
