"""The offline scaffold provider (the default): labelled, deterministic drafts.

It builds a structured, clearly labelled draft from the variables,
deterministically (same inputs, same output): an outline, lesson skeletons with
headings and prompts for the editor, a starter quiz, a branch. The whole
pipeline and UI work without a network or a key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from webapp.content.placeholders import LESSON_MARK, QUESTION_MARK, SCAFFOLD_LABEL
from webapp.providers.text.interface import Completion, ProviderError, Usage
from webapp.providers.text.prompts import as_prompt_text, render_prompt
from webapp.providers.text.schemas import LEVELS, answer_errors


def _clean(variables: Mapping[str, Any], key: str, default: str, limit: int = 100) -> str:
    """One line of at most ``limit`` characters, cut at a word when possible."""
    text = " ".join(as_prompt_text(variables.get(key)).split()) or default
    if len(text) > limit:
        cut = text[:limit - 1].rsplit(" ", 1)[0]
        text = (cut if len(cut) > limit // 2 else text[:limit - 1]).rstrip(" ,.;:-") + "…"
    return text


def _stable_number(*parts: str) -> int:
    """A number that depends only on ``parts`` (``hash()`` changes between processes)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")


def _level(variables: Mapping[str, Any]) -> str:
    level = as_prompt_text(variables.get("level")).strip().lower()
    return level if level in LEVELS else "beginner"


def _label() -> str:
    return f'<Callout kind="note">\n**{SCAFFOLD_LABEL}**\n</Callout>'


def _scaffold_outline(variables: Mapping[str, Any]) -> dict[str, Any]:
    topic = _clean(variables, "topic", "this topic")
    level = _level(variables)
    plan = [
        ("Getting started", [
            (f"What {topic} is and why it matters",
             f"Say in your own words what {topic} is and where it is used."),
            (f"Key words and ideas of {topic}",
             f"Recognise the terms that the rest of this {level} course uses."),
        ]),
        ("Core ideas", [
            (f"The first core idea of {topic}",
             f"Explain the most important idea of {topic} and when it applies."),
            (f"The second core idea of {topic}",
             "Connect the second idea to the first with an example."),
            (f"Common mistakes with {topic}",
             "Spot the usual mistakes and say how to avoid them."),
        ]),
        ("Putting it into practice", [
            (f"A worked example of {topic}",
             "Follow a realistic example from start to finish."),
            (f"Your own small {topic} project",
             "Plan and finish a small project on your own."),
        ]),
    ]
    return {
        "title": f"{topic[:1].upper()}{topic[1:]}",
        "summary": (f"A {level} course on {topic}: what it is, its core ideas, and a small "
                    "project to practise them. Draft scaffold — written by Tangent's offline "
                    "scaffold, not by an AI model: replace this summary and the prompts in "
                    "each lesson."),
        "level": level,
        "modules": [{"title": title,
                     "lessons": [{"title": lesson, "goal": goal} for lesson, goal in lessons]}
                    for title, lessons in plan],
    }


def _scaffold_lesson(variables: Mapping[str, Any]) -> dict[str, Any]:
    title = _clean(variables, "lesson_title", "this lesson", 160)
    goal = _clean(variables, "lesson_goal", f"Understand {title}.", 500)
    course = _clean(variables, "course_title", "this course", 160)
    level = _level(variables)
    markdown = "\n\n".join([
        _label(),
        # A prompt like the others: the goal may be an instruction to a model (a rewrite's
        # "keep exactly these step headings"), which must not pass for lesson text.
        f"> {LESSON_MARK} introduce this lesson of “{course}” to {level} learners. "
        f"Its goal: {goal}",
        f"> {LESSON_MARK} open with a question, a short story or an everyday situation that "
        f"shows why “{title}” matters.",
        "## The idea",
        f"> {LESSON_MARK} explain the central idea of “{title}” in two or three short "
        "paragraphs, in plain words. Define each new term where it first appears.",
        "## An example",
        f"> {LESSON_MARK} walk through one concrete, realistic example step by step, and show "
        "the result the learner should expect.",
        "## Try it yourself",
        f"> {LESSON_MARK} give a small task the learner can finish in a few minutes, and say "
        "how they can check their answer.",
        f'<Callout kind="tip">\n{LESSON_MARK} end with one practical tip, or a common mistake '
        f"to avoid, about “{title}”.\n</Callout>",
    ])
    return {"markdown": markdown + "\n"}


def _scaffold_quiz(variables: Mapping[str, Any]) -> dict[str, Any]:
    course = _clean(variables, "course_title", "this course", 160)
    topic = _clean(variables, "topic", course)
    seed = _stable_number(course, topic)
    single = [("Editor: write the correct answer", True),
              ("Editor: write a plausible wrong answer", False),
              ("Editor: write another plausible wrong answer", False)]
    shift = seed % len(single)
    single = single[shift:] + single[:shift]
    statement_true = seed % 2 == 0
    multiple = [("Editor: write a correct option", True),
                ("Editor: write a wrong option", False),
                ("Editor: write another correct option", True),
                ("Editor: write another wrong option", False)]
    explanation = "Editor: explain why the right answer is right and the others are not."

    def choices(pairs: list[tuple[str, bool]]) -> list[dict[str, Any]]:
        return [{"text": text, "correct": correct} for text, correct in pairs]

    return {"questions": [
        {"kind": "single",
         "prompt": f"{QUESTION_MARK} Which statement best sums up {topic}?",
         "explanation": explanation, "choices": choices(single)},
        {"kind": "true_false",
         "prompt": (f"{QUESTION_MARK} True or false: a statement about "
                    f"{topic} that is {'true' if statement_true else 'false'}."),
         "explanation": explanation,
         "choices": choices([("True", statement_true), ("False", not statement_true)])},
        {"kind": "multiple",
         "prompt": (f"{QUESTION_MARK} Which of these are true of {topic}? "
                    "Select all that apply."),
         "explanation": explanation, "choices": choices(multiple)},
    ]}


def _scaffold_branch(variables: Mapping[str, Any]) -> dict[str, Any]:
    topic = _clean(variables, "topic", "this subtopic", 120)
    lesson = _clean(variables, "lesson_title", "the lesson", 160)
    course = _clean(variables, "course_title", "this course", 160)
    level = _level(variables)
    markdown = "\n\n".join([
        _label(),
        f"This branch goes deeper into “{topic}”, from the lesson “{lesson}” of “{course}”, "
        f"for {level} learners.",
        "## Why it matters here",
        f"> {LESSON_MARK} say how “{topic}” connects to “{lesson}” and what the learner gains "
        "by going deeper.",
        "## A closer look",
        f"> {LESSON_MARK} explain “{topic}” in more depth than the lesson did, with one "
        "concrete example.",
        "## Check your understanding",
        f"> {LESSON_MARK} ask one or two questions the learner can answer on their own, and "
        "give the answers in a Details block.",
        f'<Callout kind="tip">\n{LESSON_MARK} suggest where to read or practise more about '
        f"“{topic}”.\n</Callout>",
    ])
    return {"title": f"Going deeper: {topic}"[:160], "markdown": markdown + "\n"}


def _scaffold_rewrite(variables: Mapping[str, Any]) -> dict[str, Any]:
    """The offline scaffold cannot improve a text: it writes the lesson's prompts again,
    keeping the headings the rewrite must keep."""
    headings = _clean(variables, "headings", "(none: one page)", 2000)
    return _scaffold_lesson({**variables, "lesson_goal": "a better version of this lesson; "
                             f"keep exactly these step headings, in this order: {headings}"})


_SCAFFOLD_BUILDERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "course_outline": _scaffold_outline,
    "lesson": _scaffold_lesson,
    "lesson_rewrite": _scaffold_rewrite,
    "quiz": _scaffold_quiz,
    "branch": _scaffold_branch,
}


class ScaffoldProvider:
    """The offline default: labelled, deterministic drafts for editors to fill in.

    It renders the same prompt templates as a real provider (so a missing
    variable fails here too) but never sends them anywhere; calls are free.
    """

    name = "scaffold"
    model = "scaffold-1"

    def __repr__(self) -> str:
        return "<ScaffoldProvider>"

    def complete_json(self, task: str, variables: Mapping[str, Any],
                      schema: Mapping[str, Any]) -> Completion:
        builder = _SCAFFOLD_BUILDERS.get(task)
        if builder is None:
            raise ProviderError(f"the offline scaffold cannot write a {task!r}")
        version, _system, _user = render_prompt(task, variables, schema)
        data = builder(variables)
        problems = answer_errors(task, data, schema)
        if problems:
            raise ProviderError(f"the offline scaffold's {task} does not fit the schema: "
                                f"{'; '.join(problems[:3])}")
        return Completion(data=data, usage=[Usage(
            provider=self.name, model=self.model, prompt_version=version,
            input_tokens=0, output_tokens=0, cost=Decimal(0), cost_source="free",
        )])

