"""AI text providers: prompts in, validated JSON and what each call cost out.

Two providers share one small interface (``TextProvider.complete_json``):

``scaffold`` (the default)
    Works offline. It builds a structured, clearly labelled draft from the
    variables, deterministically (same inputs, same output): an outline, lesson
    skeletons with headings and prompts for the editor, a starter quiz. The
    whole pipeline and UI work without a network or a key.

``openai``
    Any OpenAI-compatible Chat Completions server: OpenAI itself, OpenRouter,
    a local Ollama or llama.cpp server, vLLM. See ``OpenAICompatibleProvider``.

Neither imports Flask or the database: they take settings or plain values and
return plain data, so jobs can call them and write the cost ledger themselves.

Prompts
=======

Each task (``course_outline``, ``lesson``, ``quiz``, ``branch``) has a template in
``webapp/prompts`` named ``<task>.v<N>.md``. ``PROMPT_VERSIONS`` is built from the
files present: for each task the highest ``N`` wins, so a new prompt is a new
file (``lesson.v2.md``) next to the old one, which stays so that what produced
older drafts can still be read. Every ``Usage`` records the version it used
(``"lesson.v1"``). A template file holds a note for maintainers (never sent),
then a line ``--- system ---`` and the system message, then a line
``--- user ---`` and the user message. Placeholders are plain names in braces
(``{topic}``), rendered with ``str.format_map``: literal braces are doubled,
values are inserted as they are (no escaping), a placeholder the caller did not
give is refused with ``PromptError`` and extra variables are ignored. Lists and
dicts are inserted as JSON. ``{schema}`` is reserved: the provider fills it with
the JSON schema the answer must match. ``prompt_variables(task)`` names what a
task's template needs.

Schemas
=======

Answers are JSON objects checked against a small JSON-schema subset
(``schema_errors``): ``type`` (object, array, string, integer, boolean),
``required``, ``properties``, ``items``, ``minItems``, ``maxItems``,
``minLength``, ``maxLength``, ``enum``. Other properties are allowed and kept.
Quiz answers are also checked for what a schema cannot say (a single-choice or
true/false question has exactly one correct choice), so an unusable quiz is
retried like malformed JSON.

Errors and cost
===============

``ProviderError`` carries a readable message for the job's error text (never
the API key); ``TransientProviderError`` (429, 5xx, timeouts and network errors
after the retries) means the step may be tried again later. Both carry
``usage``: the calls already answered before the failure, which cost money too.
A ``Completion`` carries one ``Usage`` per answered call, including answers
that were retried because they were invalid; calls that failed at the HTTP
level (429, 5xx, timeouts) return no usage and are not billed by providers.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import re
import ssl
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from webapp.settings import Settings

TASKS = ("course_outline", "lesson", "quiz", "branch")
LEVELS = ("beginner", "intermediate", "advanced")
QUIZ_KINDS = ("single", "multiple", "true_false")
# The longest wait between two attempts, whatever Retry-After asks for.
MAX_WAIT_SECONDS = 30.0
# Statuses worth trying again: rate limited, request timeout, server errors.
RETRY_STATUSES = frozenset({408, 429})
SCAFFOLD_LABEL = ("Draft scaffold — written by Tangent's offline scaffold, not by an AI model: "
                  "replace the prompts below.")

# --------------------------------------------------------------------------- schemas

_TITLE = {"type": "string", "minLength": 1, "maxLength": 160}
_MARKDOWN = {"type": "string", "minLength": 1, "maxLength": 60_000}

OUTLINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "summary", "level", "modules"],
    "properties": {
        "title": _TITLE,
        "summary": {"type": "string", "minLength": 1, "maxLength": 500},
        "level": {"type": "string", "enum": list(LEVELS)},
        "modules": {
            "type": "array", "minItems": 1, "maxItems": 6,
            "items": {
                "type": "object",
                "required": ["title", "lessons"],
                "properties": {
                    "title": _TITLE,
                    "lessons": {
                        "type": "array", "minItems": 1, "maxItems": 6,
                        "items": {
                            "type": "object",
                            "required": ["title", "goal"],
                            "properties": {
                                "title": _TITLE,
                                "goal": {"type": "string", "minLength": 1, "maxLength": 500},
                            },
                        },
                    },
                },
            },
        },
    },
}

LESSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["markdown"],
    "properties": {"markdown": _MARKDOWN},
}

QUIZ_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["questions"],
    "properties": {
        "questions": {
            "type": "array", "minItems": 1, "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["kind", "prompt", "explanation", "choices"],
                "properties": {
                    "kind": {"type": "string", "enum": list(QUIZ_KINDS)},
                    "prompt": {"type": "string", "minLength": 1, "maxLength": 1000},
                    "explanation": {"type": "string", "maxLength": 1000},
                    "choices": {
                        "type": "array", "minItems": 2, "maxItems": 6,
                        "items": {
                            "type": "object",
                            "required": ["text", "correct"],
                            "properties": {
                                "text": {"type": "string", "minLength": 1, "maxLength": 500},
                                "correct": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
    },
}

BRANCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["title", "markdown"],
    "properties": {"title": _TITLE, "markdown": _MARKDOWN},
}

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
    """What is wrong with ``value`` for ``schema`` (see "Schemas" above), as readable lines.

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
    """Questions that could never be answered correctly (the rules of
    ``webapp.services.quizzes.validate_question`` for single, multiple, true/false)."""
    errors: list[str] = []
    questions = data.get("questions") if isinstance(data, dict) else None
    for index, question in enumerate(questions if isinstance(questions, list) else []):
        if not isinstance(question, dict) or not isinstance(question.get("choices"), list):
            continue
        kind, choices = question.get("kind"), question["choices"]
        correct = sum(1 for choice in choices
                      if isinstance(choice, dict) and choice.get("correct") is True)
        where = f"$.questions[{index}]"
        if kind in ("single", "true_false") and correct != 1:
            errors.append(f"{where}: a {kind} question needs exactly one correct choice, "
                          f"it has {correct}")
        if kind == "true_false" and len(choices) != 2:
            errors.append(f"{where}: a true_false question has exactly two choices, "
                          "True and False")
        if kind == "multiple" and correct < 1:
            errors.append(f"{where}: a multiple question needs at least one correct choice")
    return errors


# Checks beyond the schema, by task.
_TASK_CHECKS: dict[str, Callable[[Any], list[str]]] = {"quiz": quiz_answer_errors}


def answer_errors(task: str, data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Schema problems, then (when the schema holds) the task's own checks."""
    errors = schema_errors(data, schema)
    if not errors and task in _TASK_CHECKS:
        errors = _TASK_CHECKS[task](data)
    return errors


# --------------------------------------------------------------------------- errors, results


class ProviderError(Exception):
    """A provider call failed for good; the message is readable and safe to show.

    ``usage`` lists the calls answered before the failure (they cost money too).
    """

    def __init__(self, message: str, *, usage: list[Usage] | None = None) -> None:
        super().__init__(message)
        self.usage: list[Usage] = list(usage or [])


class TransientProviderError(ProviderError):
    """429, 5xx, timeouts or network errors outlasted the retries: try the step later."""


class PromptError(ProviderError):
    """A prompt template is missing, malformed, or needs a variable that was not given."""


@dataclass(frozen=True)
class Usage:
    """One answered provider call, for the cost ledger."""

    provider: str
    model: str
    prompt_version: str
    input_tokens: int
    output_tokens: int
    cost: Decimal
    cost_source: str  # "reported" | "configured" | "free"


@dataclass(frozen=True)
class Completion:
    """The validated JSON object and one ``Usage`` per answered call (retries included)."""

    data: dict
    usage: list[Usage]

    @property
    def provider(self) -> str:
        return self.usage[-1].provider

    @property
    def model(self) -> str:
        return self.usage[-1].model

    @property
    def prompt_version(self) -> str:
        return self.usage[-1].prompt_version

    @property
    def cost(self) -> Decimal:
        return sum((usage.cost for usage in self.usage), Decimal(0))


class TextProvider(Protocol):
    name: str
    model: str

    def complete_json(self, task: str, variables: Mapping[str, Any],
                      schema: Mapping[str, Any]) -> Completion:
        """Render the task's current prompt with ``variables``; return an answer valid
        for ``schema``, or raise ``ProviderError``."""
        ...


# --------------------------------------------------------------------------- prompts

_PROMPT_FILE = re.compile(r"^(?P<task>[a-z][a-z_]*)\.v(?P<number>[1-9][0-9]*)\.md$")
_SYSTEM_MARK = "--- system ---"
_USER_MARK = "--- user ---"
_RESERVED = frozenset({"schema"})


class _StrictVariables(dict):
    """``format_map`` mapping that refuses a placeholder nobody filled in."""

    def __init__(self, template: PromptTemplate, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.template = template

    def __missing__(self, key: str) -> str:
        missing = sorted(self.template.variables - set(self))
        raise PromptError(
            f"prompt {self.template.version} needs the variable(s) {', '.join(missing)}, "
            f"which were not given (given: {', '.join(sorted(self)) or 'none'})"
        )


def _as_prompt_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, indent=2)
    return str(value)


@dataclass(frozen=True)
class PromptTemplate:
    """One versioned prompt: a system and a user message with ``{placeholders}``."""

    version: str
    system: str
    user: str
    variables: frozenset[str]

    @classmethod
    def from_text(cls, version: str, text: str) -> PromptTemplate:
        """Parse a template file's text; placeholders must be plain names."""
        text = "\n" + text.replace("\r\n", "\n")
        _note, found_system, rest = text.partition(f"\n{_SYSTEM_MARK}\n")
        system, found_user, user = rest.partition(f"\n{_USER_MARK}\n")
        if not found_system or not found_user:
            raise PromptError(f"prompt {version}: expected a line {_SYSTEM_MARK!r} followed "
                              f"later by a line {_USER_MARK!r}")
        names: set[str] = set()
        for part in (system, user):
            try:
                fields = list(string.Formatter().parse(part))
            except ValueError as exc:
                message = f"prompt {version}: {exc} (write literal braces twice)"
                raise PromptError(message) from None
            for _literal, name, spec, conversion in fields:
                if name is None:
                    continue
                if not name.isidentifier() or spec or conversion:
                    raise PromptError(f"prompt {version}: placeholder {{{name}}} must be a plain "
                                      "name like {topic}")
                names.add(name)
        return cls(version=version, system=system.strip(), user=user.strip(),
                   variables=frozenset(names))

    def render(self, variables: Mapping[str, Any]) -> tuple[str, str]:
        """(system, user) messages; a placeholder without a variable raises PromptError."""
        values = _StrictVariables(self, {key: _as_prompt_text(value)
                                         for key, value in variables.items()})
        return self.system.format_map(values), self.user.format_map(values)


def _prompt_folder():
    return resources.files("webapp.prompts")


def _discover_versions() -> dict[str, str]:
    best: dict[str, int] = {}
    for entry in _prompt_folder().iterdir():
        match = _PROMPT_FILE.match(entry.name)
        if match:
            task, number = match["task"], int(match["number"])
            best[task] = max(number, best.get(task, 0))
    return {task: f"{task}.v{number}" for task, number in sorted(best.items())}


# task -> the current version ("lesson.v1"): the highest version file present.
PROMPT_VERSIONS: dict[str, str] = _discover_versions()


@cache
def load_prompt(version: str) -> PromptTemplate:
    """The template of one version (``"lesson.v1"``), current or older."""
    if not _PROMPT_FILE.match(f"{version}.md"):
        raise PromptError(f"not a prompt version: {version!r}")
    entry = _prompt_folder().joinpath(f"{version}.md")
    if not entry.is_file():
        raise PromptError(f"no prompt file {version}.md in webapp/prompts")
    return PromptTemplate.from_text(version, entry.read_text(encoding="utf-8"))


def current_prompt(task: str) -> PromptTemplate:
    """The template of a task's current version."""
    if task not in PROMPT_VERSIONS:
        raise PromptError(f"no prompt for the task {task!r} "
                          f"(known: {', '.join(PROMPT_VERSIONS)})")
    return load_prompt(PROMPT_VERSIONS[task])


def prompt_variables(task: str) -> frozenset[str]:
    """The variables a task's current template needs (``schema`` is filled in for you)."""
    return current_prompt(task).variables - _RESERVED


def render_prompt(task: str, variables: Mapping[str, Any],
                  schema: Mapping[str, Any]) -> tuple[str, str, str]:
    """(version, system message, user message) of the task's current prompt."""
    reserved = _RESERVED & set(variables)
    if reserved:
        raise PromptError(f"the variable(s) {', '.join(sorted(reserved))} are filled in by "
                          "the provider")
    template = current_prompt(task)
    schema_text = json.dumps(schema, ensure_ascii=False)
    system, user = template.render({**variables, "schema": schema_text})
    return template.version, system, user


# --------------------------------------------------------------------------- OpenAI-compatible


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """The wait a 429/503 asks for (``retry-after-ms``, or ``Retry-After`` in seconds
    or as an HTTP date), capped at ``MAX_WAIT_SECONDS``; None when absent or unreadable."""
    seconds: float | None = None
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
    if raw_ms:
        try:
            seconds = float(raw_ms) / 1000
        except ValueError:
            seconds = None
    if seconds is None and raw:
        try:
            seconds = float(raw.strip())
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(raw.strip())
            except (TypeError, ValueError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            seconds = when.timestamp() - now
    if seconds is None or not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_WAIT_SECONDS)


def _provider_name(base_url: str) -> str:
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "openrouter.ai" or host.endswith(".openrouter.ai"):
        return "openrouter"
    if host == "api.openai.com":
        return "openai"
    return "openai-compatible"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _reported_cost(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        cost = Decimal(str(value))
    except ArithmeticError:
        return None
    return cost if cost.is_finite() and cost >= 0 else None


_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[ \t]*[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*)\n\s*\1\s*$",
                    re.DOTALL)


def parse_json_content(text: str) -> tuple[Any, str | None]:
    """(value, None) or (None, why): a model's answer as JSON, code fences and any
    chatter around the object stripped."""
    match = _FENCE.match(text)
    body = match["body"] if match else text.strip()
    try:
        return json.loads(body), None
    except json.JSONDecodeError as exc:
        start, end = body.find("{"), body.rfind("}")
        if 0 <= start < end and (start, end) != (0, len(body) - 1):
            try:
                return json.loads(body[start:end + 1]), None
            except json.JSONDecodeError:
                pass
        return None, f"the answer is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"


@dataclass(frozen=True)
class _Reply:
    """A successful HTTP answer, read defensively: servers differ in what they include."""

    usage: Mapping[str, Any]
    content: str | None
    problem: str | None = None
    truncated: bool = False

    @classmethod
    def read(cls, response: httpx.Response) -> _Reply:
        try:
            body = response.json()
        except ValueError:
            return cls({}, None, "the provider's answer was not JSON")
        if not isinstance(body, dict):
            return cls({}, None, "the provider's answer was not a chat completion")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        choices = body.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            return cls(usage, None, "the provider's answer had no message text")
        return cls(usage, content, truncated=choice.get("finish_reason") == "length")

    def answer(self, task: str, schema: Mapping[str, Any]) -> tuple[Any, list[str]]:
        """(data, []) when the message is valid JSON for the schema, else (None, problems)."""
        if self.content is None:
            return None, [self.problem or "no answer"]
        data, problem = parse_json_content(self.content)
        if problem:
            if self.truncated:
                problem += "; the answer was cut off at the length limit: write less"
            return None, [problem]
        errors = answer_errors(task, data, schema)
        return (data, []) if not errors else (None, errors)


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verification (certifi, or SSL_CERT_FILE/SSL_CERT_DIR), built once:
    loading the CA bundle for every call costs more than the rest of the client."""
    return httpx.create_ssl_context()


class OpenAICompatibleProvider:
    """Chat Completions over HTTP (httpx) for OpenAI, OpenRouter, Ollama, llama.cpp, vLLM.

    POSTs ``{base_url}/chat/completions`` asking for a JSON object
    (``response_format``), with ``Authorization: Bearer`` when a key is set, and
    ``usage: {"include": true}`` for OpenRouter only (OpenAI refuses unknown
    fields). 429, 408, 5xx, timeouts and network errors are retried up to
    ``max_retries`` times, waiting as ``Retry-After`` asks or 1, 2, 4 … s (each
    wait at most 30 s), then raise ``TransientProviderError``; other 4xx raise
    ``ProviderError`` with the provider's message. An answer that is not valid
    JSON for the schema is retried up to ``max_retries`` times with a message
    saying what was wrong, then raises ``ProviderError``.

    Cost: ``usage.cost`` when the provider reports it (OpenRouter), else tokens
    times the configured prices per million tokens, else zero ("free").
    """

    def __init__(self, *, base_url: str, model: str, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 3,
                 price_input: Decimal = Decimal(0), price_output: Decimal = Decimal(0),
                 temperature: float | None = 0.4, name: str | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = name or _provider_name(self.base_url)
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.price_input = Decimal(price_input)
        self.price_output = Decimal(price_output)
        self.temperature = temperature
        self._api_key = api_key or None
        self._sleep = sleep
        self._clock = clock
        parts = urlsplit(self.base_url)
        # Never the whole URL in messages: it could hold credentials.
        self.host = parts.hostname or "?"
        if parts.port:
            self.host = f"{self.host}:{parts.port}"

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> OpenAICompatibleProvider:
        return cls(base_url=settings.ai_base_url, model=settings.ai_model,
                   api_key=settings.ai_api_key, timeout=settings.ai_timeout,
                   max_retries=settings.ai_max_retries, price_input=settings.ai_price_input,
                   price_output=settings.ai_price_output, **kwargs)

    def __repr__(self) -> str:
        return f"<OpenAICompatibleProvider {self.name} {self.host} {self.model}>"

    # --- the interface

    def complete_json(self, task: str, variables: Mapping[str, Any],
                      schema: Mapping[str, Any]) -> Completion:
        """See ``TextProvider``; raises ProviderError or TransientProviderError."""
        version, system, user = render_prompt(task, variables, schema)
        prompt = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        messages = prompt
        usage: list[Usage] = []
        problems: list[str] = []
        attempts = self.max_retries + 1
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        with httpx.Client(timeout=self.timeout, headers=headers, verify=_tls_context()) as client:
            for _attempt in range(attempts):
                try:
                    reply = _Reply.read(self._post(client, self._payload(messages)))
                except ProviderError as exc:
                    exc.usage = [*usage, *exc.usage]
                    raise
                usage.append(self._usage(reply.usage, version))
                data, problems = reply.answer(task, schema)
                if not problems:
                    return Completion(data=data, usage=usage)
                if reply.content is not None:
                    # Only the latest bad answer goes back: resending them all costs more.
                    messages = [*prompt, {"role": "assistant", "content": reply.content},
                                {"role": "user", "content": self._correction(problems)}]
        shown = "; ".join(problems[:3]) + (" …" if len(problems) > 3 else "")
        raise ProviderError(f"the model returned invalid JSON {attempts} times: {shown}",
                            usage=usage)

    # --- one request, with HTTP retries

    def _payload(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": self.model, "messages": messages,
                                   "response_format": {"type": "json_object"}}
        if self.temperature is not None:
            payload["temperature"] = self.temperature
        if self.name == "openrouter":
            payload["usage"] = {"include": True}
        return payload

    def _post(self, client: httpx.Client, payload: dict[str, Any]) -> httpx.Response:
        attempts = self.max_retries + 1
        failure = ""
        for attempt in range(attempts):
            wait: float | None = None
            try:
                response = client.post(f"{self.base_url}/chat/completions", json=payload)
            except httpx.TimeoutException:
                failure = f"no answer within {self.timeout:g} s"
            except httpx.TransportError as exc:
                failure = f"could not connect ({type(exc).__name__})"
            else:
                if response.is_success:
                    return response
                status = response.status_code
                if status not in RETRY_STATUSES and status < 500:
                    raise ProviderError(f"the AI provider ({self.host}) refused the request "
                                        f"with HTTP {status}: {self._error_message(response)}"
                                        f"{_HINTS.get(status, '')}")
                failure = f"HTTP {status}: {self._error_message(response)}"
                wait = retry_after_seconds(response.headers, self._clock())
            if attempt + 1 < attempts:
                self._sleep(wait if wait is not None else min(2.0 ** attempt, MAX_WAIT_SECONDS))
        raise TransientProviderError(f"the AI provider ({self.host}) is unavailable after "
                                     f"{attempts} attempt(s): {failure}")

    def _error_message(self, response: httpx.Response) -> str:
        message: Any = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            message = message or body.get("detail") or body.get("message")
        if not isinstance(message, str) or not message.strip():
            message = response.text if body is None else ""
        message = " ".join(message.split())[:300] or response.reason_phrase or "no details"
        if self._api_key:
            message = message.replace(self._api_key, "[redacted]")
        return message

    # --- usage and cost

    def _usage(self, raw: Mapping[str, Any], version: str) -> Usage:
        input_tokens = _count(raw.get("prompt_tokens"))
        output_tokens = _count(raw.get("completion_tokens"))
        reported = _reported_cost(raw.get("cost"))
        if reported is not None:
            cost, source = reported, "reported"
        elif self.price_input or self.price_output:
            cost = (Decimal(input_tokens) * self.price_input
                    + Decimal(output_tokens) * self.price_output).scaleb(-6)
            source = "configured"
        else:
            cost, source = Decimal(0), "free"
        return Usage(provider=self.name, model=self.model, prompt_version=version,
                     input_tokens=input_tokens, output_tokens=output_tokens,
                     cost=cost, cost_source=source)

    @staticmethod
    def _correction(problems: list[str]) -> str:
        listed = "\n".join(f"- {problem}" for problem in problems[:10])
        return ("Your previous answer could not be used:\n"
                f"{listed}\n"
                "Answer again with only the corrected JSON object: no commentary, "
                "no Markdown code fences.")


_HINTS = {
    401: " (check TANGENT_AI_API_KEY)",
    403: " (check TANGENT_AI_API_KEY and the account's access to the model)",
    404: " (check TANGENT_AI_BASE_URL and TANGENT_AI_MODEL)",
}


# --------------------------------------------------------------------------- scaffold


def _clean(variables: Mapping[str, Any], key: str, default: str, limit: int = 100) -> str:
    """One line of at most ``limit`` characters, cut at a word when possible."""
    text = " ".join(_as_prompt_text(variables.get(key)).split()) or default
    if len(text) > limit:
        cut = text[:limit - 1].rsplit(" ", 1)[0]
        text = (cut if len(cut) > limit // 2 else text[:limit - 1]).rstrip(" ,.;:-") + "…"
    return text


def _stable_number(*parts: str) -> int:
    """A number that depends only on ``parts`` (``hash()`` changes between processes)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big")


def _level(variables: Mapping[str, Any]) -> str:
    level = _as_prompt_text(variables.get("level")).strip().lower()
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
        f"This lesson of “{course}” is written for {level} learners. Its goal: {goal}",
        f"> ✏️ Editor: open with a question, a short story or an everyday situation that "
        f"shows why “{title}” matters.",
        "## The idea",
        f"> ✏️ Editor: explain the central idea of “{title}” in two or three short "
        "paragraphs, in plain words. Define each new term where it first appears.",
        "## An example",
        "> ✏️ Editor: walk through one concrete, realistic example step by step, and show "
        "the result the learner should expect.",
        "## Try it yourself",
        "> ✏️ Editor: give a small task the learner can finish in a few minutes, and say "
        "how they can check their answer.",
        f'<Callout kind="tip">\n✏️ Editor: end with one practical tip, or a common mistake '
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
         "prompt": f"Draft question — editor: rewrite. Which statement best sums up {topic}?",
         "explanation": explanation, "choices": choices(single)},
        {"kind": "true_false",
         "prompt": (f"Draft question — editor: rewrite. True or false: a statement about "
                    f"{topic} that is {'true' if statement_true else 'false'}."),
         "explanation": explanation,
         "choices": choices([("True", statement_true), ("False", not statement_true)])},
        {"kind": "multiple",
         "prompt": (f"Draft question — editor: rewrite. Which of these are true of {topic}? "
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
        f"> ✏️ Editor: say how “{topic}” connects to “{lesson}” and what the learner gains "
        "by going deeper.",
        "## A closer look",
        f"> ✏️ Editor: explain “{topic}” in more depth than the lesson did, with one "
        "concrete example.",
        "## Check your understanding",
        "> ✏️ Editor: ask one or two questions the learner can answer on their own, and "
        "give the answers in a Details block.",
        f'<Callout kind="tip">\n✏️ Editor: suggest where to read or practise more about '
        f"“{topic}”.\n</Callout>",
    ])
    return {"title": f"Going deeper: {topic}"[:160], "markdown": markdown + "\n"}


_SCAFFOLD_BUILDERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "course_outline": _scaffold_outline,
    "lesson": _scaffold_lesson,
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


def make_text_provider(settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.time) -> TextProvider:
    """The provider ``settings.ai_provider`` names: ``scaffold`` (default) or ``openai``."""
    if settings.ai_provider == "openai":
        return OpenAICompatibleProvider.from_settings(settings, sleep=sleep, clock=clock)
    if settings.ai_provider == "scaffold":
        return ScaffoldProvider()
    raise ProviderError(f"unknown AI provider {settings.ai_provider!r} "
                        "(TANGENT_AI_PROVIDER: use scaffold or openai)")
