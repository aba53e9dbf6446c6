"""What a valid course, lesson, quiz and question look like in a content file.

One strict definition shared by the demo loader (``course.toml`` folders) and
course packages (zip files): both read plain data (TOML tables, JSON objects,
YAML front matter) through ``Fields``, where unknown keys, missing keys and
wrong types are errors naming the file and the place in it.

A quiz is a table of ``key``, ``title``, optional ``description``,
``pass_percent`` (default 70), ``max_attempts`` (default unlimited), ``mode``
(``"graded"``, the default, or ``"practice"``), ``feedback`` (``"after_submit"``,
the default, or ``"after_last_attempt"``) and ``scoring`` of multiple-choice
questions (``"all_or_nothing"``, the default, or ``"proportional"``), and
``questions``. Files written before the policy existed import as graded quizzes
with feedback after submit and all-or-nothing scoring.

A question has ``kind``, ``prompt``, optional ``explanation`` and ``points``
and, by kind: ``choices = [{text, correct}, …]`` (single, multiple),
``answer = true|false`` (true_false), ``accepted = ["…"]`` (short_text),
``answer`` and optional ``tolerance`` (numeric; numbers or strings) or
``order = ["first", "second", …]`` (ordering, in the correct order).

Readers raise ``ValidationFailed``; ``read_quiz`` checks every question and
raises ``ContentInvalid`` listing all the problems it found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from webapp.content.questions import QuestionSpec
from webapp.content.render import slugify
from webapp.models.courses import LEVELS
from webapp.models.quizzes import (
    FEEDBACK_TIMES,
    GRADEBOOK_SCORES,
    QUESTION_KINDS,
    QUIZ_MODES,
    SCORING_RULES,
)
from webapp.services.authoring import MAX_SUMMARY, MAX_TAGS, MAX_TITLE
from webapp.services.exceptions import ValidationFailed
from webapp.services.quiz_authoring import (
    MAX_ATTEMPTS_ALLOWED,
    MAX_DESCRIPTION,
    MAX_QUESTIONS,
    MAX_QUIZ_TITLE,
    check_question,
)
from webapp.services.quizzes import check_policy

T = TypeVar("T")

MAX_SLUG = 80
MAX_TAG = 40
MAX_MINUTES = 600
KIND_FIELDS = {
    "single": {"choices"},
    "multiple": {"choices"},
    "true_false": {"answer"},
    "short_text": {"accepted"},
    "numeric": {"answer", "tolerance"},
    "ordering": {"order"},
}


class ContentInvalid(ValidationFailed):
    """Several problems found at once; ``problems`` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = list(problems)


def problems_of(exc: ValidationFailed) -> list[str]:
    return list(getattr(exc, "problems", None) or [exc.message])


class Problems:
    """Collects problems so that a reader reports all of them, not just the first."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def attempt(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``func(*args, **kwargs)``, or None after recording the ValidationFailed it raised."""
        try:
            return func(*args, **kwargs)
        except ValidationFailed as exc:
            self.items.extend(problems_of(exc))
            return None

    def raise_any(self) -> None:
        if self.items:
            raise ContentInvalid(self.items)


class Fields:
    """One table (a TOML table, a JSON object), read strictly: unknown keys and
    wrong types are errors."""

    def __init__(self, data: Any, where: str, required: set[str], optional: set[str]) -> None:
        if not isinstance(data, dict):
            raise ValidationFailed(f"{where}: expected a table.")
        unknown = sorted(set(data) - required - optional)
        if unknown:
            raise ValidationFailed(f"{where}: unknown key(s) {', '.join(map(str, unknown))}.")
        missing = sorted(required - set(data))
        if missing:
            raise ValidationFailed(f"{where}: missing key(s) {', '.join(missing)}.")
        self.data = data
        self.where = where

    def text(self, key: str, default: str | None = None, max_length: int | None = None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise ValidationFailed(f"{self.where}: {key} must be a non-empty string.")
        value = value.strip()
        if max_length is not None and len(value) > max_length:
            raise ValidationFailed(f"{self.where}: {key} is {len(value)} characters; the "
                                   f"limit is {max_length}.")
        return value

    def integer(self, key: str, default: int | None, low: int, high: int) -> int | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed(f"{self.where}: {key} must be a whole number "
                                   f"from {low} to {high}.")
        return value

    def strings(self, key: str, *, allow_empty: bool = False,
                max_length: int | None = None) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise ValidationFailed(f"{self.where}: {key} must be a list of non-empty strings.")
        if not value and not allow_empty:
            raise ValidationFailed(f"{self.where}: {key} must not be empty.")
        items = tuple(v.strip() for v in value)
        too_long = [v for v in items if max_length is not None and len(v) > max_length]
        if too_long:
            raise ValidationFailed(f"{self.where}: {key}: “{too_long[0][:30]}…” is longer "
                                   f"than {max_length} characters.")
        return items

    def choice(self, key: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self.data.get(key, default)
        if value not in allowed:
            raise ValidationFailed(f"{self.where}: {key} must be one of "
                                   f"{', '.join(allowed)}.")
        return value

    def tables(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            raise ValidationFailed(f"{self.where}: {key} must be a non-empty list of tables.")
        return value

    def decimal(self, key: str, default: Decimal | None = None) -> Decimal:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValidationFailed(f"{self.where}: {key} must be a number.")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationFailed(f"{self.where}: {key} must be a number.") from None
        if not number.is_finite():
            raise ValidationFailed(f"{self.where}: {key} must be a finite number.")
        return number


def check_slug(value: str, where: str) -> str:
    if slugify(value, MAX_SLUG) != value:
        raise ValidationFailed(f"{where}: {value!r} is not a slug (lower-case words joined "
                               f"by hyphens, at most {MAX_SLUG} characters).")
    return value


def check_tags(tags: tuple[str, ...], where: str) -> tuple[str, ...]:
    """At most ``MAX_TAGS`` tags, each short and distinct once slugified."""
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"{where}: use at most {MAX_TAGS} tags.")
    seen: set[str] = set()
    for tag in tags:
        slug = slugify(tag, MAX_TAG)
        if len(tag) > MAX_TAG or not slug:
            raise ValidationFailed(f"{where}: tag {tag[:50]!r} must have letters or digits and "
                                   f"at most {MAX_TAG} characters.")
        if slug in seen:
            raise ValidationFailed(f"{where}: tag {tag!r} is listed twice.")
        seen.add(slug)
    return tags


@dataclass(frozen=True)
class CourseMeta:
    title: str
    slug: str
    summary: str
    level: str
    tags: tuple[str, ...]


def read_course_meta(fields: Fields, *, allow_empty: bool = False) -> CourseMeta:
    """Title, slug, summary, level and tags of a course table (every problem reported).

    ``allow_empty``: the summary and the tag list may be empty (they must still be there).
    """
    problems = Problems()
    level = problems.attempt(fields.text, "level")
    if level is not None and level not in LEVELS:
        problems.add(f"{fields.where}: level must be one of {', '.join(LEVELS)}.")
    title = problems.attempt(fields.text, "title", max_length=MAX_TITLE)
    slug = problems.attempt(lambda: check_slug(fields.text("slug"), f"{fields.where}: slug"))
    summary = problems.attempt(fields.text, "summary", "" if allow_empty else None,
                               max_length=MAX_SUMMARY)
    tags = problems.attempt(lambda: check_tags(
        fields.strings("tags", allow_empty=allow_empty, max_length=MAX_TAG), fields.where))
    problems.raise_any()
    return CourseMeta(title=title or "", slug=slug or "", summary=summary or "",
                      level=level or "", tags=tags or ())


@dataclass(frozen=True)
class LessonSpec:
    slug: str
    title: str
    source: str
    minutes: int | None


def read_lesson(fields: Fields, source: str) -> LessonSpec:
    """A lesson's slug, title and optional minutes from ``fields``, with its source."""
    return LessonSpec(
        slug=check_slug(fields.text("slug"), f"{fields.where}.slug"),
        title=fields.text("title", max_length=MAX_TITLE),
        source=source,
        minutes=fields.integer("minutes", None, 1, MAX_MINUTES),
    )


@dataclass(frozen=True)
class QuizSpec:
    key: str
    title: str
    description: str
    pass_percent: int
    max_attempts: int | None
    questions: tuple[QuestionSpec, ...]
    mode: str = "graded"
    feedback: str = "after_submit"
    scoring: str = "all_or_nothing"
    gradebook_score: str = "best"


def read_question(data: Any, where: str) -> QuestionSpec:
    """One question, strictly: the keys its kind needs and no others; returned normalized
    by ``quiz_authoring.check_question``."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in QUESTION_KINDS:
        raise ValidationFailed(f"{where}: kind must be one of {', '.join(QUESTION_KINDS)}.")
    kind_fields = KIND_FIELDS[kind]
    # The explanation is optional, as in the quiz editor (Tangent exports it as "").
    required = {"kind", "prompt"} | (kind_fields - {"tolerance"})
    optional = {"explanation", "points"} | (kind_fields & {"tolerance"})
    fields = Fields(data, where, required, optional)
    choices: list[tuple[str, bool]] = []
    accepted: tuple[str, ...] = ()
    numeric_answer = None
    tolerance = Decimal(0)
    if kind in ("single", "multiple"):
        for n, raw in enumerate(fields.tables("choices"), start=1):
            choice = Fields(raw, f"{where}.choices[{n}]", {"text"}, {"correct"})
            correct = choice.data.get("correct", False)
            if not isinstance(correct, bool):
                raise ValidationFailed(f"{choice.where}: correct must be true or false.")
            choices.append((choice.text("text"), correct))
    elif kind == "true_false":
        answer = data["answer"]
        if not isinstance(answer, bool):
            raise ValidationFailed(f"{where}: answer must be true or false.")
        choices = [("True", answer), ("False", not answer)]
    elif kind == "ordering":
        choices = [(item, True) for item in fields.strings("order")]
    elif kind == "short_text":
        accepted = fields.strings("accepted")
    else:
        numeric_answer = fields.decimal("answer")
        tolerance = fields.decimal("tolerance", Decimal(0))
    spec = QuestionSpec(
        kind=kind,
        prompt=fields.text("prompt"),
        explanation=fields.text("explanation", ""),
        points=fields.integer("points", 1, 1, 100) or 1,
        choices=tuple(choices),
        accepted=accepted,
        numeric_answer=numeric_answer,
        tolerance=tolerance,
    )
    try:
        # The quiz editor's rules (limits, duplicates, numbers the database holds), so
        # files and forms agree on what a valid question is.
        return check_question(spec)
    except ValidationFailed as exc:
        raise ValidationFailed(f"{where}: {exc.message}") from None


def read_quiz(data: Any, where: str) -> QuizSpec:
    """A quiz and all its questions; ContentInvalid lists every problem found."""
    fields = Fields(data, where, {"key", "title", "questions"},
                    {"description", "pass_percent", "max_attempts", "mode", "feedback",
                     "scoring", "gradebook_score"})
    problems = Problems()
    raw_questions = problems.attempt(fields.tables, "questions") or []
    if len(raw_questions) > MAX_QUESTIONS:
        problems.add(f"{where}: at most {MAX_QUESTIONS} questions.")
    questions = [
        problems.attempt(read_question, raw, f"{where}.questions[{n}]")
        for n, raw in enumerate(raw_questions[:MAX_QUESTIONS], start=1)
    ]
    key = problems.attempt(lambda: check_slug(fields.text("key"), f"{where}.key"))
    title = problems.attempt(fields.text, "title", max_length=MAX_QUIZ_TITLE)
    description = problems.attempt(fields.text, "description", "", max_length=MAX_DESCRIPTION)
    pass_percent = problems.attempt(fields.integer, "pass_percent", 70, 0, 100)
    max_attempts = problems.attempt(fields.integer, "max_attempts", None, 1,
                                    MAX_ATTEMPTS_ALLOWED)
    mode = problems.attempt(fields.choice, "mode", "graded", QUIZ_MODES)
    feedback = problems.attempt(fields.choice, "feedback", "after_submit", FEEDBACK_TIMES)
    scoring = problems.attempt(fields.choice, "scoring", "all_or_nothing", SCORING_RULES)
    gradebook_score = problems.attempt(fields.choice, "gradebook_score", "best",
                                       GRADEBOOK_SCORES)
    if mode and feedback and scoring:
        problems.attempt(_check_policy, where, mode, feedback, scoring, max_attempts)
    problems.raise_any()
    return QuizSpec(
        key=key or "",
        title=title or "",
        description=description or "",
        pass_percent=pass_percent or 0,
        max_attempts=max_attempts,
        questions=tuple(q for q in questions if q is not None),
        mode=mode or "graded",
        feedback=feedback or "after_submit",
        scoring=scoring or "all_or_nothing",
        gradebook_score=gradebook_score or "best",
    )


def _check_policy(where: str, mode: str, feedback: str, scoring: str,
                  max_attempts: int | None) -> None:
    try:
        check_policy(mode, feedback, scoring, max_attempts)
    except ValidationFailed as exc:
        raise ValidationFailed(f"{where}: {exc.message}") from None
