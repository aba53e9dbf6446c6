"""The marks the offline scaffold leaves for editors, and where a text still has them.

The scaffold (``webapp.providers.text.scaffold``) drafts lessons and quizzes made of
prompts for the editor; publishing refuses a course while any is left, so learners
never read "✏️ Editor: explain …". One place states the marks, so the scaffold that
writes them and the check that finds them cannot drift apart.
"""

from __future__ import annotations

# A prompt to the editor in lesson text.
LESSON_MARK = "✏️ Editor:"
# The first line of every scaffold lesson (inside a note callout).
SCAFFOLD_LABEL = ("Draft scaffold — written by Tangent's offline scaffold, not by an AI model: "
                  "replace the prompts below.")
# Quiz text from the scaffold: prompts start with the first, choices and explanations
# with the second.
QUESTION_MARK = "Draft question — editor: rewrite."
ANSWER_MARK = "Editor: "


def placeholder_lines(source: str) -> list[int]:
    """Line numbers (1-based) of ``source`` that still hold a scaffold mark."""
    return [number for number, line in enumerate(source.splitlines(), start=1)
            if LESSON_MARK in line or SCAFFOLD_LABEL in line]


def is_placeholder_text(text: str) -> bool:
    """Quiz text (prompt, choice, explanation) that the scaffold wrote for an editor."""
    text = text.strip()
    return text.startswith((QUESTION_MARK, ANSWER_MARK))
