"""What makes a quiz question answerable: the rules, stated once.

A question is plain data (``QuestionSpec``) until it is written. Everything that
writes questions (the quiz editor, course files and packages, the demo loader,
AI drafts) checks them with ``question_problems``, so they all agree on what a
usable question is. Callers add their own limits on top (lengths, how many
choices a form shows) and decide how to report a problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from webapp.models.quizzes import QUESTION_KINDS

# Kinds answered by picking (or ordering) choices.
CHOICE_KINDS = ("single", "multiple", "true_false", "ordering")


@dataclass(frozen=True)
class QuestionSpec:
    """A question as plain data. ``choices`` are (text, is_correct) pairs; for
    ordering questions, list them in the correct order (is_correct is ignored)."""

    kind: str
    prompt: str
    explanation: str = ""
    points: int = 1
    choices: Sequence[tuple[str, bool]] = ()
    accepted: Sequence[str] = ()
    numeric_answer: Decimal | None = None
    tolerance: Decimal = Decimal(0)


@dataclass(frozen=True)
class QuestionProblem:
    """One broken rule: the field at fault and a sentence that does not repeat the prompt."""

    field: str  # "kind" | "prompt" | "points" | "choices" | "accepted" | "numeric_answer"
    message: str


def question_problems(spec: QuestionSpec) -> list[QuestionProblem]:
    """Why the question could never be answered correctly (empty when it can).

    An unknown kind is the only problem reported, since the other rules depend on it.
    """
    if spec.kind not in QUESTION_KINDS:
        return [QuestionProblem("kind", f"Question kind must be one of "
                                        f"{', '.join(QUESTION_KINDS)}.")]
    problems = []
    if not spec.prompt.strip():
        problems.append(QuestionProblem("prompt", "Every question needs a prompt."))
    problems += [QuestionProblem(_ANSWER_FIELD[spec.kind], message)
                 for message in _answer_problems(spec)]
    if spec.points < 1:
        problems.append(QuestionProblem("points", "Points must be at least 1."))
    return problems


# Where the answer of each kind is given.
_ANSWER_FIELD = {**dict.fromkeys(CHOICE_KINDS, "choices"),
                 "short_text": "accepted", "numeric": "numeric_answer"}


def _answer_problems(spec: QuestionSpec) -> list[str]:
    kind, choices = spec.kind, spec.choices
    correct = sum(1 for _text, ok in choices if ok)
    problems = []
    if kind in ("single", "true_false") and (len(choices) < 2 or correct != 1):
        problems.append("A single-choice question needs at least two choices and exactly one "
                        "correct choice.")
    if kind == "true_false" and len(choices) != 2:
        problems.append("A true/false question has two choices.")
    if kind == "multiple" and (len(choices) < 2 or correct < 1):
        problems.append("A multiple-choice question needs at least two choices and at least "
                        "one correct choice.")
    if kind == "ordering" and len(choices) < 2:
        problems.append("An ordering question needs two items.")
    if kind == "short_text" and not [a for a in spec.accepted if a.strip()]:
        problems.append("List at least one accepted answer.")
    if kind == "numeric" and (spec.numeric_answer is None or spec.tolerance < 0):
        problems.append("Give the answer and a tolerance ≥ 0.")
    return problems
