"""Question text in templates: the ``question_text`` and ``question_inline`` filters.

Learners' pages (attempt, confirmation, result) and the quiz editor (question list,
preview) show prompts, choices and explanations the same way: Markdown rendered
and sanitized by ``webapp.content.render`` (code spans as ``<code>``, fenced code
as ``<pre>``), never the raw text and never unsanitized HTML.
"""

from __future__ import annotations

from flask import Flask
from markupsafe import Markup

from webapp.content.render import render_question_inline, render_question_text


def question_text(source: str | None) -> Markup:
    """A prompt or explanation: paragraphs, lists, code spans and code blocks."""
    return Markup(render_question_text(source or ""))  # noqa: S704 - sanitized by the renderer


def question_inline(source: str | None) -> Markup:
    """A choice or ordering item: inline Markdown only (code spans, emphasis, links)."""
    return Markup(render_question_inline(source or ""))  # noqa: S704 - sanitized by the renderer


def install_question_filters(app: Flask) -> None:
    app.add_template_filter(question_text, "question_text")
    app.add_template_filter(question_inline, "question_inline")
