"""Lesson text → sanitized HTML, split into sections at level-2 headings.

Lessons are CommonMark (markdown-it-py) with tables, strikethrough and
footnotes, plus the small set of MDX-style components below. Raw HTML is not
interpreted: it shows as text. Code blocks are highlighted on the server by
Pygments with CSS classes (no inline styles, so the CSP stays strict). Every
fragment goes through the one sanitizer (``webapp.content.sanitize``) before
it is stored. Nothing in a lesson is ever executed.

The components, and what is dropped or reported instead of run, are described
in ``webapp.content.components``, which finds them before Markdown is parsed.
"""

from __future__ import annotations

import colorsys
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.token import Token
from mdit_py_plugins.container import container_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.utils import is_code_block
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from webapp.content.components import (
    CALLOUT_KINDS,
    INDENT,
    REMOTE_IMAGE_WARNING,
    Finding,
    Prepared,
    scan_source,
)
from webapp.content.sanitize import POLICY_VERSION, clean, clean_with_report

RENDERER_VERSION = f"r4-{POLICY_VERSION}"
_FORMATTER = HtmlFormatter(cssclass="highlight", wrapcode=True)


@dataclass(frozen=True)
class RenderedSection:
    """One step of a lesson: sanitized HTML under a stable key."""

    key: str
    title: str
    html: str


@dataclass(frozen=True)
class RenderResult:
    """A rendered lesson and what its editor should know about it."""

    sections: list[RenderedSection]
    findings: list[Finding]
    quiz_keys: tuple[str, ...]  # keys of <Quiz id> in order, deduplicated
    branch_topics: tuple[str, ...]  # topics of <Branch> in order, deduplicated


def slugify(text: str, max_length: int = 80) -> str:
    """ASCII slug: lower-case words joined by hyphens."""
    normalized = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", normalized.lower()).strip("-")
    return slug[:max_length].strip("-")


# --- markdown-it: the component block rule and renderers -------------------------------------

_ENV_COMPONENTS = "tangent_components"
_ENV_RENDERED = "tangent_rendered"
_ENV_STRAY = "tangent_stray_closers"


def _component_block(state: StateBlock, start: int, end_line: int, silent: bool) -> bool:
    """Turn a component line found by ``scan_source`` into tokens (containers nest)."""
    component = state.env.get(_ENV_COMPONENTS, {}).get(start)
    if component is None or is_code_block(state, start):
        return False
    if silent:
        return True  # ends a paragraph, list or quote like any block would
    if component.role == "close":
        # Its container already ended (it was in a list item or quote that closed first).
        state.env.setdefault(_ENV_STRAY, []).append(start)
        state.line = start + 1
        return True
    state.env.setdefault(_ENV_RENDERED, []).append(start)
    kind = component.name.lower()
    if component.role == "leaf":
        token = state.push(f"tangent_{kind}", "", 0)
        token.meta, token.block, token.map = component.attrs, True, [start, start + 1]
        state.line = start + 1
        return True
    end = end_line if component.end is None else min(component.end, end_line)
    own_closer = component.own_closer and end == component.end
    for line in range(start + 1, end):
        # A non-blank line indented less than the current block ends it (a list item, say).
        if state.bMarks[line] + state.tShift[line] < state.eMarks[line] \
                and state.sCount[line] < state.blkIndent:
            end, own_closer = line, False
            break
    old_parent, old_max = state.parentType, state.lineMax
    state.parentType, state.lineMax = "container", end
    token = state.push(f"tangent_{kind}_open", "", 1)
    token.meta, token.block, token.map = component.attrs, True, [start, end]
    state.md.block.tokenize(state, start + 1, end)
    token = state.push(f"tangent_{kind}_close", "", -1)
    token.block = True
    state.parentType, state.lineMax = old_parent, old_max
    state.line = end + 1 if own_closer else end
    return True


def _callout_markup(kind: str) -> str:
    return (f'<aside class="callout callout-{kind}" role="note" '
            f'aria-label="{kind.capitalize()}">\n')


def _render_callout_open(self, tokens, idx, _options, _env) -> str:
    kind = tokens[idx].meta.get("kind")
    return _callout_markup(kind if kind in CALLOUT_KINDS else "note")


def _render_details_open(self, tokens, idx, _options, _env) -> str:
    return f"<details>\n<summary>{escape(tokens[idx].meta['summary'])}</summary>\n"


def _render_figure(self, tokens, idx, _options, _env) -> str:
    meta = tokens[idx].meta
    caption = f"<figcaption>{escape(meta['caption'])}</figcaption>" if meta["caption"] else ""
    return (f'<figure class="figure"><img src="{escape(meta["src"])}" '
            f'alt="{escape(meta["alt"])}" loading="lazy">{caption}</figure>\n')


def _render_quiz(self, tokens, idx, _options, _env) -> str:
    key = escape(tokens[idx].meta["id"])
    return (f'<aside class="quiz-embed" aria-label="Quiz"><p>'
            f'<a href="../quizzes/{key}">Take the quiz: {key}</a></p></aside>\n')


def _render_branch(self, tokens, idx, _options, _env) -> str:
    topic = escape(tokens[idx].meta["topic"])
    return (f'<aside class="branch-suggestion" aria-label="Go deeper"><p>Go deeper: '
            f"<strong>{topic}</strong></p></aside>\n")


def _render_fence(self, tokens, idx, _options, _env) -> str:
    token = tokens[idx]
    lang = token.info.strip().split(" ", 1)[0] if token.info else ""
    try:
        lexer = get_lexer_by_name(lang) if lang else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return f"<pre{_SCROLLS}><code>{escape(token.content)}</code></pre>\n"
    return highlight(token.content, lexer, _FORMATTER).replace("<pre>", f"<pre{_SCROLLS}>", 1)


# Code blocks and tables scroll sideways inside their box on narrow screens; keyboard
# users can scroll them only if they can focus them (axe: scrollable-region-focusable).
_SCROLLS = ' tabindex="0"'


def _render_table_open(self, tokens, idx, options, env) -> str:
    return f"<table{_SCROLLS}>\n"


def _callout_render(self, tokens, idx, _options, _env):
    token = tokens[idx]
    if token.nesting == 1:
        # The info string is author text (``::: callout …`` can be typed directly):
        # only a known kind reaches the markup, never the text itself.
        words = token.info.split()
        return _callout_markup(words[1] if len(words) == 2 and words[1] in CALLOUT_KINDS
                               else "note")
    return "</aside>\n"


def _build_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True})
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("table_open", _render_table_open)
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.use(footnote_plugin)
    md.use(container_plugin, name="callout", render=_callout_render,
           validate=lambda params, *a: params.strip().split(" ", 1)[0] == "callout")
    md.block.ruler.before("fence", "tangent_component", _component_block,
                          {"alt": ["paragraph", "reference", "blockquote", "list"]})
    md.add_render_rule("tangent_callout_open", _render_callout_open)
    md.add_render_rule("tangent_callout_close", lambda *_: "</aside>\n")
    md.add_render_rule("tangent_details_open", _render_details_open)
    md.add_render_rule("tangent_details_close", lambda *_: "</details>\n")
    md.add_render_rule("tangent_figure", _render_figure)
    md.add_render_rule("tangent_quiz", _render_quiz)
    md.add_render_rule("tangent_branch", _render_branch)
    return md


_MD = _build_parser()


# --- rendering ------------------------------------------------------------------------------


def _remote(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.netloc) and parts.scheme in ("http", "https", "")


def _decorate(tokens: list[Token], used_ids: set[str], findings: list[Finding] | None = None,
              ) -> None:
    """Heading anchors, rel on external links, alignment classes; remote images noted."""
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag in ("h2", "h3", "h4"):
            text = tokens[i + 1].content if i + 1 < len(tokens) else ""
            base = slugify(text) or "section"
            anchor, n = base, 2
            while anchor in used_ids:
                anchor, n = f"{base}-{n}", n + 1
            used_ids.add(anchor)
            token.attrSet("id", anchor)
        elif token.type in ("th_open", "td_open") and "style" in token.attrs:
            # Column alignment as a class: the policy (and the CSP) allow no inline styles.
            align = str(token.attrs.pop("style")).removeprefix("text-align:")
            if align in ("left", "center", "right"):
                token.attrSet("class", f"align-{align}")
        if token.children:
            for child in token.children:
                if child.type == "link_open":
                    href = urlsplit(str(child.attrGet("href") or ""))
                    if href.scheme in ("http", "https") and href.netloc:
                        child.attrSet("rel", "nofollow noopener ugc")
                elif (child.type == "image" and findings is not None
                      and _remote(str(child.attrGet("src") or ""))):
                    line = token.map[0] + 1 if token.map else None
                    findings.append(Finding(line, "warning", REMOTE_IMAGE_WARNING))


def _parse(source: str, *, drop: bool) -> tuple[list[Token], dict, Prepared]:
    prepared = scan_source(source, drop=drop)
    env: dict = {_ENV_COMPONENTS: prepared.components}
    return _MD.parse(prepared.text, env), env, prepared


def render_markdown(source: str) -> str:
    """Render and sanitize a whole document (notes, small texts).

    Components render as in lessons; unsupported lines stay, shown as text.
    """
    tokens, env, _ = _parse(source, drop=False)
    _decorate(tokens, set())
    return clean(_MD.renderer.render(tokens, _MD.options, env))


def _build_question_parser() -> MarkdownIt:
    """Lesson Markdown without what does not belong inside a question: components (they
    show as text) and headings (a question sits under the page's own headings)."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True})
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("table_open", _render_table_open)
    md.enable(["table", "strikethrough", "replacements", "smartquotes"])
    md.disable(["heading", "lheading"])
    return md


_QUESTION_MD = _build_question_parser()


@lru_cache(maxsize=4096)
def render_question_text(source: str) -> str:
    """A question's prompt or explanation as sanitized HTML: paragraphs, lists, code spans
    and highlighted code blocks, like lesson text. Cached: the same text renders alike."""
    tokens = _QUESTION_MD.parse(source)
    _decorate(tokens, set())
    return clean(_QUESTION_MD.renderer.render(tokens, _QUESTION_MD.options, {}))


@lru_cache(maxsize=4096)
def render_question_inline(source: str) -> str:
    """One line of question text (a choice, an ordering item) as sanitized inline HTML:
    code spans, emphasis, links; no paragraph around it."""
    tokens = _QUESTION_MD.parseInline(source)
    _decorate(tokens, set())
    return clean(_QUESTION_MD.renderer.render(tokens, _QUESTION_MD.options, {}))


def _build_post_parser(*, tables: bool) -> MarkdownIt:
    """Markdown for what community members write: paragraphs, lists, quotes, links, code
    spans and highlighted code blocks. No raw HTML, no components, no headings (a post sits
    under the page's own), no images (a picture in a post would load from someone else's
    server for every reader). Tables in questions and answers, not in channel messages."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("table_open", _render_table_open)
    md.enable(["strikethrough"] + (["table"] if tables else []))
    md.disable(["image", "heading", "lheading"])
    return md


_POST_MD = _build_post_parser(tables=True)
_MESSAGE_MD = _build_post_parser(tables=False)


def render_post(source: str) -> str:
    """A question, answer, announcement or event description as sanitized HTML."""
    tokens = _POST_MD.parse(source)
    _decorate(tokens, set())
    return clean(_POST_MD.renderer.render(tokens, _POST_MD.options, {}))


def render_message(source: str) -> str:
    """A channel message as sanitized HTML: the post subset without tables."""
    tokens = _MESSAGE_MD.parse(source)
    _decorate(tokens, set())
    return clean(_MESSAGE_MD.renderer.render(tokens, _MESSAGE_MD.options, {}))


def _unique(values) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _render_findings(env: dict, prepared: Prepared) -> list[Finding]:
    """Findings only the parse can tell: components shown as text, stray closers."""
    rendered = set(env.get(_ENV_RENDERED, ()))
    lines = prepared.text.split("\n")
    findings = []
    for line, component in prepared.components.items():
        if component.role == "close" or line in rendered:
            continue
        indent = len(INDENT.match(lines[line]).group(0).expandtabs(4))
        why = ("is indented like a code block, so it is shown as text; start the tag at the "
               "beginning of the line" if indent >= 4 else
               "could not be placed here (inside lists and quotes nested too deeply?)")
        findings.append(Finding(line + 1, "escaped", f"<{component.name}> {why}"))
    findings += [
        Finding(line + 1, "dropped", f"</{prepared.components[line].name}> comes after its "
                "container had already ended with the list or quote it was in")
        for line in env.get(_ENV_STRAY, ())
    ]
    return findings


def render_lesson(source: str, fallback_title: str) -> RenderResult:
    """Render a lesson into its steps (one per level-2 heading) and report what changed.

    Text before the first ``##`` heading is the introduction. Keys come from
    heading text (deduplicated), so unchanged headings keep their keys. Each
    section is sanitized; ``findings`` lists, by source line, what was dropped,
    shown as text or worth a warning, then what the sanitizer removed.
    """
    tokens, env, prepared = _parse(source, drop=True)
    findings = list(prepared.findings)
    _decorate(tokens, set(), findings)
    findings += _render_findings(env, prepared)
    chunks: list[tuple[str, list[Token]]] = [(fallback_title, [])]
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h2" and token.level == 0:
            chunks.append((tokens[i + 1].content, []))
        chunks[-1][1].append(token)
    if not chunks[0][1]:
        chunks.pop(0)
    sections = []
    removed: list[Finding] = []
    used: set[str] = set()
    for title, chunk in chunks or [(fallback_title, [])]:
        base = slugify(title) or "section"
        key, n = base, 2
        while key in used:
            key, n = f"{base}-{n}", n + 1
        used.add(key)
        html, report = clean_with_report(_MD.renderer.render(chunk, _MD.options, env))
        removed += [Finding(None, "removed", what) for what in report]
        sections.append(RenderedSection(key=key, title=title.strip() or fallback_title,
                                        html=html))
    findings.sort(key=lambda f: f.line or 0)
    quiz_keys, branch_topics = _embeds(env, prepared)
    return RenderResult(sections=sections, findings=findings + removed, quiz_keys=quiz_keys,
                        branch_topics=branch_topics)


def _embeds(env: dict, prepared: Prepared) -> tuple[tuple[str, ...], tuple[str, ...]]:
    rendered = [prepared.components[line] for line in env.get(_ENV_RENDERED, ())]
    return (_unique(c.attrs["id"] for c in rendered if c.name == "Quiz"),
            _unique(c.attrs["topic"] for c in rendered if c.name == "Branch"))


def lesson_embeds(source: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The quiz ids and branch topics a lesson embeds, exactly as ``render_lesson`` finds
    them, from the parse alone (no HTML is rendered or sanitized): for checks that must
    not pay for a full render of every lesson."""
    _tokens, env, prepared = _parse(source, drop=True)
    return _embeds(env, prepared)


def render_sections(source: str, fallback_title: str) -> list[RenderedSection]:
    """The sections of ``render_lesson`` (for callers that need no report)."""
    return render_lesson(source, fallback_title).sections


# WCAG AA for normal-size text; code is set a little smaller than body text.
CODE_CONTRAST = 4.5
_CSS_COLOR = re.compile(r"(?<![-\w])(color:\s*)(#[0-9a-fA-F]{3,6})\b")


def _rgb(color: str) -> tuple[float, float, float]:
    digits = color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    r, g, b = (int(digits[i:i + 2], 16) / 255 for i in (0, 2, 4))
    return r, g, b


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``#rgb``/``#rrggbb`` colours (1 … 21)."""
    a, b = sorted((_luminance(_rgb(foreground)), _luminance(_rgb(background))), reverse=True)
    return (a + 0.05) / (b + 0.05)


def _readable(color: str, background: str) -> str:
    """``color``, or the nearest colour of the same hue (darker on a light background,
    lighter on a dark one) that reaches ``CODE_CONTRAST`` against ``background``."""
    if contrast_ratio(color, background) >= CODE_CONTRAST:
        return color
    hue, lightness, saturation = colorsys.rgb_to_hls(*_rgb(color))
    step = -0.005 if _luminance(_rgb(background)) > 0.5 else 0.005
    candidate = color
    while contrast_ratio(candidate, background) < CODE_CONTRAST and 0 < lightness < 1:
        lightness = min(max(lightness + step, 0.0), 1.0)
        rgb = colorsys.hls_to_rgb(hue, lightness, saturation)
        candidate = "#" + "".join(f"{round(c * 255):02x}" for c in rgb)
    return candidate


def _code_style(name: str) -> str:
    """Pygments' ``name`` style for ``.highlight``, with every token colour made readable
    on the style's background, which the ``<pre>`` inside paints too (Pico gives <pre>
    a background of its own, against which the colours were never chosen)."""
    formatter = HtmlFormatter(style=name)
    background = formatter.style.background_color
    lines = []
    for rule in formatter.get_style_defs(".highlight").splitlines():  # one rule a line
        own = re.search(r"background-color:\s*(#[0-9a-fA-F]{3,6})\b", rule)
        on = own.group(1) if own else background
        lines.append(_CSS_COLOR.sub(lambda m, on=on: m.group(1) + _readable(m.group(2), on),
                                    rule))
    lines.append(f".highlight pre {{ background-color: {background}; }}")
    return "\n".join(lines)


def pygments_css() -> str:
    """Stylesheet for highlighted code, light and dark (written to static/css)."""
    light = _code_style("default")
    dark = _code_style("monokai")
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
