"""The OpenAI-compatible Chat Completions client (OpenAI, OpenRouter, Ollama, llama.cpp,
vLLM): HTTP retries, reading answers defensively, JSON repair prompts, and cost."""

from __future__ import annotations

import email.utils
import json
import math
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from webapp.providers.text.interface import (
    Completion,
    ProviderError,
    TransientProviderError,
    Usage,
)
from webapp.providers.text.prompts import render_prompt
from webapp.providers.text.schemas import answer_errors

if TYPE_CHECKING:
    from webapp.settings import Settings

# The longest wait between two attempts, whatever Retry-After asks for.
MAX_WAIT_SECONDS = 30.0
# Statuses worth trying again: rate limited, request timeout, server errors.
RETRY_STATUSES = frozenset({408, 429})


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

