"""The JSON schemas of the answers each task asks for, and their validation.

Answers are JSON objects checked against a small JSON-schema subset
(``schema_errors``): ``type`` (object, array, string, integer, boolean),
``required``, ``properties``, ``items``, ``minItems``, ``maxItems``,
``minLength``, ``maxLength``, ``enum``. Other properties are allowed and kept.
Quiz answers are also checked for what a schema cannot say (a single-choice or
true/false question has exactly one correct choice; the rules of
``webapp.content.questions``, shared with the quiz editor), so an unusable quiz is
retried like malformed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from webapp.content.questions import QuestionSpec, question_problems

LEVELS = ("beginner", "intermediate", "advanced")
QUIZ_KINDS = ("single", "multiple", "true_false")


def _text(max_length: int, min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    """An object schema whose properties are all required, in this order."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _array(items: dict[str, Any], max_items: int, min_items: int = 1) -> dict[str, Any]:
    return {"type": "array", "minItems": min_items, "maxItems": max_items, "items": items}


_TITLE = _text(160)
_MARKDOWN = _text(60_000)

OUTLINE_SCHEMA: dict[str, Any] = _object(
    title=_TITLE,
    summary=_text(500),
    level={"type": "string", "enum": list(LEVELS)},
    modules=_array(_object(
        title=_TITLE,
        lessons=_array(_object(title=_TITLE, goal=_text(500)), 6),
    ), 6),
)

LESSON_SCHEMA: dict[str, Any] = _object(markdown=_MARKDOWN)

QUIZ_SCHEMA: dict[str, Any] = _object(
    questions=_array(_object(
        kind={"type": "string", "enum": list(QUIZ_KINDS)},
        prompt=_text(1000),
        explanation={"type": "string", "maxLength": 1000},
        choices=_array(_object(text=_text(500), correct={"type": "boolean"}), 6, min_items=2),
    ), 10),
)

BRANCH_SCHEMA: dict[str, Any] = _object(title=_TITLE, markdown=_MARKDOWN)

_SCHEMA_KEYWORDS = frozenset({"type", "required", "properties", "items", "minItems",
                              "maxItems", "minLength", "maxLength", "enum"})
_TYPE_NAMES = {"object": "an object", "array": "an array", "string": "a string",
               "integer": "a whole number", "boolean": "true or false"}


def _has_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, bool)


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    for kind in ("object", "array", "string", "integer"):
        if _has_type(value, kind):
            return _TYPE_NAMES[kind]
    return "a number"


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "$") -> list[str]:
    """What is wrong with ``value`` for ``schema`` (see the module docstring), as readable lines.

    An empty list means valid. A keyword outside the subset raises ``ValueError``:
    a schema that silently checks less than it says is a bug.
    """
    unknown = set(schema) - _SCHEMA_KEYWORDS
    if unknown:
        raise ValueError(f"unsupported schema keyword(s) at {path}: {', '.join(sorted(unknown))}")
    kind = schema.get("type")
    if kind is not None:
        if kind not in _TYPE_NAMES:
            raise ValueError(f"unsupported schema type at {path}: {kind!r}")
        if not _has_type(value, kind):
            return [f"{path}: expected {_TYPE_NAMES[kind]}, got {_describe(value)}"]
    errors: list[str] = []
    if "enum" in schema and not any(type(value) is type(option) and value == option
                                    for option in schema["enum"]):
        options = ", ".join(json.dumps(option) for option in schema["enum"])
        errors.append(f"{path}: expected one of {options}, got {json.dumps(value)[:60]}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: expected at least {schema['minLength']} character(s)"
                          if value else f"{path}: must not be empty")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: expected at most {schema['maxLength']} characters, "
                          f"got {len(value)}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: expected at least {schema['minItems']} item(s), "
                          f"got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: expected at most {schema['maxItems']} items, "
                          f"got {len(value)}")
        if "items" in schema:
            for index, item in enumerate(value):
                errors.extend(schema_errors(item, schema["items"], f"{path}[{index}]"))
    if isinstance(value, dict):
        errors.extend(f"{path}: missing required property {name!r}"
                      for name in schema.get("required", ()) if name not in value)
        for name, subschema in schema.get("properties", {}).items():
            if name in value:
                errors.extend(schema_errors(value[name], subschema, f"{path}.{name}"))
    return errors


def quiz_answer_errors(data: Any) -> list[str]:
    """Questions that could never be answered correctly, by the one set of question
    rules (``webapp.content.questions``) that the editor and importers apply too.

    Runs after the schema check, so every question is an object with a known kind, a
    prompt and a list of choices. Each line names the question and, for a model to
    correct itself, how many of its choices were marked correct.
    """
    errors: list[str] = []
    for index, question in enumerate(data.get("questions", [])):
        choices = [(choice["text"], choice["correct"]) for choice in question["choices"]]
        spec = QuestionSpec(question["kind"], question["prompt"], choices=choices)
        correct = sum(1 for _text, ok in choices if ok)
        errors.extend(f"$.questions[{index}]: {problem.message} This one has {len(choices)} "
                      f"choice(s), {correct} marked correct."
                      for problem in question_problems(spec))
    return errors


# Checks beyond the schema, by task.
_TASK_CHECKS: dict[str, Callable[[Any], list[str]]] = {"quiz": quiz_answer_errors}


def answer_errors(task: str, data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Schema problems, then (when the schema holds) the task's own checks."""
    errors = schema_errors(data, schema)
    if not errors and task in _TASK_CHECKS:
        errors = _TASK_CHECKS[task](data)
    return errors

