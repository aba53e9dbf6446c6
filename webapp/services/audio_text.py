"""What a narrator reads: the plain text of a lesson's sanitized HTML, one block per line,
with code blocks announced rather than read, and where each section starts."""

from __future__ import annotations

from html.parser import HTMLParser

from webapp.models import Lesson

_BLOCK_TAGS = frozenset({
    "address", "article", "aside", "blockquote", "br", "caption", "dd", "details", "div",
    "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "ol", "p", "section", "summary", "table", "td", "th", "tr", "ul",
})
_SILENT_TAGS = frozenset({"script", "style", "template", "svg", "math", "button"})
_SILENT_CLASSES = frozenset({"footnote-ref", "footnote-backref", "footnotes-sep"})
_VOID_TAGS = frozenset({"br", "hr", "img", "input", "wbr", "source", "track"})
CODE_OMITTED = "Code example omitted."


class _TextOf(HTMLParser):
    """Readable text of sanitized lesson HTML, one block per line."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.buffer: list[str] = []
        self.silent: list[str] = []  # open elements whose text is not read
        self.label = ""  # said before the next block (a callout's kind)

    def flush(self) -> None:
        text = " ".join("".join(self.buffer).split())
        self.buffer = []
        if text:
            # A pause after headings, list items and cells, which have no full stop.
            text = self.label + (text if text[-1] in ".!?:;…" else text + ".")
            self.blocks.append(text)
            self.label = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if self.silent:
            if tag not in _VOID_TAGS:
                self.silent.append(tag)
            return
        classes = set((attributes.get("class") or "").split())
        if tag == "pre":
            self.flush()
            self.blocks.append(CODE_OMITTED)
            self.silent.append(tag)
            return
        if tag in _SILENT_TAGS or classes & _SILENT_CLASSES:
            if tag not in _VOID_TAGS:
                self.silent.append(tag)
            return
        if tag in _BLOCK_TAGS:
            self.flush()
        if "callout" in classes and attributes.get("aria-label"):
            self.label = f"{attributes['aria-label']}: "
        elif tag == "img" and attributes.get("alt"):
            self.buffer.append(f" {attributes['alt']} ")

    def handle_endtag(self, tag: str) -> None:
        if self.silent:
            if tag == self.silent[-1]:
                self.silent.pop()
            return
        if tag in _BLOCK_TAGS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self.silent:
            self.buffer.append(data)

    def text(self) -> str:
        self.close()
        self.flush()
        return "\n".join(self.blocks)


def html_to_speech_text(html: str) -> str:
    """What a narrator reads from sanitized HTML: the text, code blocks announced, not read."""
    parser = _TextOf()
    parser.feed(html)
    return parser.text()


def section_texts(lesson: Lesson) -> list[tuple[str, str]]:
    """``[(section key, text to read)]`` in section order; the first starts with the title."""
    parts = []
    for index, section in enumerate(lesson.sections):
        text = html_to_speech_text(section.html or "")
        if index == 0:
            text = f"{lesson.title}.\n{text}".strip()
        parts.append((section.key, text))
    return parts


def narration_text(lesson: Lesson) -> tuple[str, dict[str, int]]:
    """The lesson as plain text to read aloud, and where each section starts in it
    (``{section_key: character offset}``, in section order)."""
    chunks, starts, offset = [], {}, 0
    for key, text in section_texts(lesson):
        starts[key] = offset
        if text:
            chunks.append(text)
            offset += len(text) + 2
    return "\n\n".join(chunks), starts

