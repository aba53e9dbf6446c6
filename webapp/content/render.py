"""Markdown → sanitized HTML, split into sections at level-2 headings.

Lesson text is CommonMark (markdown-it-py) with tables, strikethrough,
footnotes and callouts written as ``<Callout kind="tip|note|warning">`` …
``</Callout>`` on their own lines. Raw HTML is not interpreted: it shows as
text. Code blocks are highlighted on the server by Pygments with CSS classes
(no inline styles, so the CSP stays strict). Every fragment goes through the
one sanitizer before it is stored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.footnote import footnote_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from webapp.content.sanitize import POLICY_VERSION, clean

RENDERER_VERSION = f"r2-{POLICY_VERSION}"
CALLOUT_KINDS = ("tip", "note", "warning")
_CALLOUT_OPEN = re.compile(r'^\s*<Callout(?:\s+kind="(?P<kind>[a-z]+)")?\s*>\s*$')
_CALLOUT_CLOSE = re.compile(r"^\s*</Callout>\s*$")
_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


def slugify(text: str, max_length: int = 80) -> str:
    """ASCII slug: lower-case words joined by hyphens."""
    normalized = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", normalized.lower()).strip("-")
    return slug[:max_length].strip("-")


def _render_fence(self, tokens, idx, _options, _env) -> str:
    token = tokens[idx]
    lang = token.info.strip().split(" ", 1)[0] if token.info else ""
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return f"<pre><code>{escape(token.content)}</code></pre>\n"
    return highlight(token.content, lexer, _FORMATTER)


def _callout_render(self, tokens, idx, _options, _env):
    token = tokens[idx]
    if token.nesting == 1:
        # The info string is author text (``::: callout …`` can be typed directly):
        # only a known kind reaches the markup, never the text itself.
        words = token.info.split()
        kind = words[1] if len(words) == 2 and words[1] in CALLOUT_KINDS else "note"
        label = kind.capitalize()
        return f'<aside class="callout callout-{kind}" role="note" aria-label="{label}">\n'
    return "</aside>\n"


def _build_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True})
    md.add_render_rule("fence", _render_fence)
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.use(footnote_plugin)
    md.use(container_plugin, name="callout", render=_callout_render,
           validate=lambda params, *a: params.strip().split(" ", 1)[0] == "callout")
    return md


_MD = _build_parser()


def _preprocess(source: str) -> str:
    """Turn component lines into markdown-it containers; everything else stays text."""
    lines = []
    for line in source.replace("\r\n", "\n").split("\n"):
        opened = _CALLOUT_OPEN.match(line)
        if opened:
            kind = opened.group("kind") if opened.group("kind") in CALLOUT_KINDS else "note"
            lines.append(f"::: callout {kind}")
        elif _CALLOUT_CLOSE.match(line):
            lines.append(":::")
        else:
            lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class RenderedSection:
    key: str
    title: str
    html: str


def _external(href: str) -> bool:
    parts = urlsplit(href)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _decorate(tokens: list[Token], used_ids: set[str]) -> None:
    """Heading anchors and rel on external links."""
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h2", "h3", "h4"):
            text = tokens[i + 1].content if i + 1 < len(tokens) else ""
            base = slugify(text) or "section"
            anchor, n = base, 2
            while anchor in used_ids:
                anchor, n = f"{base}-{n}", n + 1
            used_ids.add(anchor)
            token.attrSet("id", anchor)
        if token.children:
            for child in token.children:
                if child.type == "link_open" and _external(str(child.attrGet("href") or "")):
                    child.attrSet("rel", "nofollow noopener ugc")


def render_markdown(source: str) -> str:
    """Render and sanitize a whole document (notes, small texts)."""
    tokens = _MD.parse(_preprocess(source))
    _decorate(tokens, set())
    return clean(_MD.renderer.render(tokens, _MD.options, {}))


def render_sections(source: str, fallback_title: str) -> list[RenderedSection]:
    """Render a lesson into its steps, one per level-2 heading.

    Text before the first ``##`` heading is the introduction. Keys come from
    heading text (deduplicated), so unchanged headings keep their keys.
    """
    env: dict = {}
    tokens = _MD.parse(_preprocess(source), env)
    _decorate(tokens, set())
    chunks: list[tuple[str, list[Token]]] = [(fallback_title, [])]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open" and token.tag == "h2" and token.level == 0:
            title = tokens[i + 1].content
            chunks.append((title, []))
        chunks[-1][1].append(token)
        i += 1
    if not chunks[0][1]:
        chunks.pop(0)
    sections = []
    used: set[str] = set()
    for title, chunk in chunks or [(fallback_title, [])]:
        base = slugify(title) or "section"
        key, n = base, 2
        while key in used:
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        html = _MD.renderer.render(chunk, _MD.options, env)
        sections.append(RenderedSection(key=key, title=title.strip() or fallback_title,
                                        html=clean(html)))
    return sections


def pygments_css() -> str:
    """Stylesheet for highlighted code, light and dark (written to static/css)."""
    light = HtmlFormatter(style="default").get_style_defs(".highlight")
    dark = HtmlFormatter(style="monokai").get_style_defs(".highlight")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
