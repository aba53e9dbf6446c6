"""What the question form may submit: the rules of ``content.questions`` plus the
editor's limits, blank and duplicate entries, and numbers the database can hold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from webapp.content.questions import QuestionSpec, question_problems
from webapp.models import Question
from webapp.models.quizzes import QUESTION_KINDS
from webapp.services.exceptions import ValidationFailed
from webapp.services.quiz_authoring.lookup import fingerprint
from webapp.services.quizzes import normalize_text_answer

MAX_PROMPT = 2000
MAX_EXPLANATION = 2000
MAX_CHOICE = 500
MAX_CHOICES = 12
MAX_ACCEPTED = 200
MAX_ACCEPTED_ANSWERS = 20
MAX_POINTS = 100
# The columns are NUMERIC(18, 6): twelve digits before the point, six after.
NUMBER_LIMIT = Decimal("1e12")
NUMBER_PLACES = 6


def plain_number(number: Decimal | None) -> str | None:
    """A Decimal as plain digits (``3.14``, ``100``), never in exponent form."""
    if number is None:
        return None
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def question_fields(question: Question) -> dict[str, Any]:
    """A question as plain values: for fingerprints and audit deltas."""
    return {
        "kind": question.kind,
        "prompt": question.prompt,
        "explanation": question.explanation,
        "points": question.points,
        "numeric_answer": plain_number(question.numeric_answer),
        "tolerance": plain_number(question.tolerance) if question.kind == "numeric" else None,
        "choices": [[c.text, bool(c.is_correct)]
                    for c in sorted(question.choices, key=lambda c: c.position)],
        "accepted": sorted(a.text for a in question.accepted_answers),
    }


def question_fingerprint(question: Question) -> str:
    """Changes whenever the question changes (sent back by the question form)."""
    return fingerprint(question_fields(question))


def _check_number(value: Decimal | None, field: str, what: str) -> None:
    if value is None:
        return
    if not value.is_finite():
        raise ValidationFailed(f"The {what} must be a finite number.", field=field)
    if abs(value) >= NUMBER_LIMIT:
        raise ValidationFailed(f"The {what} must be smaller than a trillion.", field=field)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -NUMBER_PLACES:
        raise ValidationFailed(f"Give the {what} with at most {NUMBER_PLACES} decimal places.",
                               field=field)


def check_question(spec: QuestionSpec) -> QuestionSpec:
    """The spec normalized (text trimmed, blank entries dropped), or ValidationFailed
    naming the field: ``prompt``, ``explanation``, ``points``, ``choices``,
    ``accepted``, ``numeric_answer`` or ``tolerance``."""
    if spec.kind not in QUESTION_KINDS:
        raise ValidationFailed(f"A question's kind is one of {', '.join(QUESTION_KINDS)}.",
                               field="kind")
    prompt = spec.prompt.strip().replace("\r\n", "\n")
    if not prompt:
        raise ValidationFailed("Write the question.", field="prompt")
    if len(prompt) > MAX_PROMPT:
        raise ValidationFailed(f"The question is {len(prompt)} characters; the limit is "
                               f"{MAX_PROMPT}.", field="prompt")
    explanation = spec.explanation.strip().replace("\r\n", "\n")
    if len(explanation) > MAX_EXPLANATION:
        raise ValidationFailed(f"The explanation is {len(explanation)} characters; the limit "
                               f"is {MAX_EXPLANATION}.", field="explanation")
    if not 1 <= spec.points <= MAX_POINTS:
        raise ValidationFailed(f"Points are a whole number from 1 to {MAX_POINTS}.",
                               field="points")
    choices: list[tuple[str, bool]] = []
    accepted: list[str] = []
    numeric_answer, tolerance = None, Decimal(0)
    if spec.kind in ("single", "multiple", "true_false", "ordering"):
        choices = _check_choices(spec)
    elif spec.kind == "short_text":
        accepted = _check_accepted(spec.accepted)
    else:
        numeric_answer, tolerance = spec.numeric_answer, spec.tolerance
        _check_number(numeric_answer, "numeric_answer", "answer")
        _check_number(tolerance, "tolerance", "tolerance")
        if tolerance < 0:
            raise ValidationFailed("The tolerance cannot be negative.", field="tolerance")
    checked = replace(spec, prompt=prompt, explanation=explanation, choices=choices,
                      accepted=accepted, numeric_answer=numeric_answer, tolerance=tolerance)
    problems = question_problems(checked)
    if problems:
        raise ValidationFailed(problems[0].message, field=problems[0].field)
    return checked


def _check_choices(spec: QuestionSpec) -> list[tuple[str, bool]]:
    noun = "item" if spec.kind == "ordering" else "choice"
    choices: list[tuple[str, bool]] = []
    seen: dict[str, int] = {}
    for text, ok in spec.choices:
        text = " ".join((text or "").split())
        if not text:
            if ok and spec.kind != "ordering":
                raise ValidationFailed("A choice marked correct has no text.", field="choices")
            continue
        number = len(choices) + 1
        if len(text) > MAX_CHOICE:
            raise ValidationFailed(f"{noun.capitalize()} {number} is {len(text)} characters; "
                                   f"the limit is {MAX_CHOICE}.", field="choices")
        folded = normalize_text_answer(text)
        if folded in seen:
            raise ValidationFailed(f"{noun.capitalize()}s {seen[folded]} and {number} are the "
                                   f"same (“{text[:40]}”); each {noun} must differ.",
                                   field="choices")
        seen[folded] = number
        choices.append((text, bool(ok) and spec.kind != "ordering"))
    if len(choices) > MAX_CHOICES:
        raise ValidationFailed(f"Use at most {MAX_CHOICES} {noun}s.", field="choices")
    return choices


def _check_accepted(values: Sequence[str]) -> list[str]:
    accepted: list[str] = []
    seen: set[str] = set()
    for raw in values:
        text = " ".join((raw or "").split())
        if not text:
            continue
        if len(text) > MAX_ACCEPTED:
            raise ValidationFailed(f"Accepted answer “{text[:30]}…” is {len(text)} characters; "
                                   f"the limit is {MAX_ACCEPTED}.", field="accepted")
        # Answers are compared case- and space-insensitively, so these are one answer.
        folded = normalize_text_answer(text)
        if folded not in seen:
            seen.add(folded)
            accepted.append(text)
    if len(accepted) > MAX_ACCEPTED_ANSWERS:
        raise ValidationFailed(f"List at most {MAX_ACCEPTED_ANSWERS} accepted answers.",
                               field="accepted")
    return accepted
