"""Quiz answers between the attempt form's fields and the grading service.

Field names: ``q<question id>`` carries the answer of choice, text and numeric
questions (one value per ticked box). An ordering question has one ``<select>``
per item, ``q<question id>-<choice id>``, valued with the position the learner
gave that item, so it works without JavaScript; ``answers_from_form`` turns
those into ``q<question id>`` = choice ids in the learner's order, which is what
``grade_question`` expects.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from werkzeug.datastructures import MultiDict

from webapp.models import Choice, Question
from webapp.services.exceptions import ValidationFailed

ANSWER_FIELD = re.compile(r"q\d+")
POSITION_FIELD = re.compile(r"q(\d+)-(\d+)")


def answers_from_form(form: MultiDict) -> dict[str, list[str]]:
    """``{"q<id>": [values]}`` for the service, ordering positions resolved to choice ids."""
    answers = {key: form.getlist(key) for key in form if ANSWER_FIELD.fullmatch(key)}
    positions: dict[str, list[tuple[str, str]]] = {}
    for key in form:
        match = POSITION_FIELD.fullmatch(key)
        if match:
            field = f"q{match[1]}"
            positions.setdefault(field, []).append((match[2], form.get(key, "").strip()))
    for field, items in positions.items():
        answers[field] = _in_chosen_order(field, items)
    return answers


def answer_for(form: MultiDict, question_id: int) -> list[str]:
    """The values of one question only (other questions' half-done answers do not matter)."""
    field = f"q{question_id}"
    own = MultiDict([(key, value) for key, value in form.items(multi=True)
                     if key == field or key.startswith(f"{field}-")])
    return answers_from_form(own).get(field, [])


def _in_chosen_order(field: str, items: Sequence[tuple[str, str]]) -> list[str]:
    """Choice ids sorted by the positions chosen for them; [] when none was chosen."""
    chosen = [(position, choice_id) for choice_id, position in items if position]
    if not chosen:
        return []
    if len(chosen) < len(items):
        raise ValidationFailed("Give every item a position.", field=field)
    try:
        numbered = [(int(position), choice_id) for position, choice_id in chosen]
    except ValueError:
        raise ValidationFailed("Positions are whole numbers.", field=field) from None
    if len({position for position, _ in numbered}) != len(numbered):
        raise ValidationFailed("Use each position only once.", field=field)
    return [choice_id for _, choice_id in sorted(numbered)]


def display_order(question: Question, attempt_id: int) -> list[Choice]:
    """The items of an ordering question, shuffled for this attempt.

    Stored order is the correct order, so it must not be shown as is. The
    shuffle is a hash of attempt and choice, so a reload shows the same order.
    """
    choices = list(question.choices)
    if question.kind != "ordering" or len(choices) < 2:
        return choices

    def key(choice: Choice) -> bytes:
        return hashlib.sha256(f"{attempt_id}:{choice.id}".encode()).digest()

    shuffled = sorted(choices, key=key)
    if shuffled == choices:
        shuffled = shuffled[1:] + shuffled[:1]
    return shuffled
