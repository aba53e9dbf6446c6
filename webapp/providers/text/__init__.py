"""AI text providers: prompts in, validated JSON and what each call cost out.

Two providers share one small interface (``TextProvider.complete_json``):

``scaffold`` (the default)
    Works offline: a structured, clearly labelled, deterministic draft built from
    the variables (``scaffold``).

``openai``
    Any OpenAI-compatible Chat Completions server: OpenAI itself, OpenRouter,
    a local Ollama or llama.cpp server, vLLM (``openai_compatible``).

Neither imports Flask or the database: they take settings or plain values and
return plain data, so jobs can call them and write the cost ledger themselves.
One concern per module: ``interface`` (results, errors, the protocol),
``schemas`` (answer schemas and their validation), ``prompts`` (the versioned
templates), ``openai_compatible`` and ``scaffold``; the public names are
importable from this package.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from webapp.providers.text.interface import (
    TASKS,
    Completion,
    PromptError,
    ProviderError,
    TextProvider,
    TransientProviderError,
    Usage,
)
from webapp.providers.text.openai_compatible import (
    MAX_WAIT_SECONDS,
    RETRY_STATUSES,
    OpenAICompatibleProvider,
    parse_json_content,
    retry_after_seconds,
)
from webapp.providers.text.prompts import (
    PROMPT_VERSIONS,
    PromptTemplate,
    current_prompt,
    load_prompt,
    prompt_variables,
    render_prompt,
)
from webapp.providers.text.scaffold import SCAFFOLD_LABEL, ScaffoldProvider
from webapp.providers.text.schemas import (
    BRANCH_SCHEMA,
    LESSON_SCHEMA,
    LEVELS,
    OUTLINE_SCHEMA,
    QUIZ_KINDS,
    QUIZ_SCHEMA,
    answer_errors,
    quiz_answer_errors,
    schema_errors,
)

if TYPE_CHECKING:
    from webapp.settings import Settings

__all__ = [
    "BRANCH_SCHEMA",
    "LESSON_SCHEMA",
    "LEVELS",
    "MAX_WAIT_SECONDS",
    "OUTLINE_SCHEMA",
    "PROMPT_VERSIONS",
    "QUIZ_KINDS",
    "QUIZ_SCHEMA",
    "RETRY_STATUSES",
    "SCAFFOLD_LABEL",
    "TASKS",
    "Completion",
    "OpenAICompatibleProvider",
    "PromptError",
    "PromptTemplate",
    "ProviderError",
    "ScaffoldProvider",
    "TextProvider",
    "TransientProviderError",
    "Usage",
    "answer_errors",
    "current_prompt",
    "load_prompt",
    "make_text_provider",
    "parse_json_content",
    "prompt_variables",
    "quiz_answer_errors",
    "render_prompt",
    "retry_after_seconds",
    "schema_errors",
]


def make_text_provider(settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                       clock: Callable[[], float] = time.time) -> TextProvider:
    """The provider ``settings.ai_provider`` names: ``scaffold`` (default) or ``openai``."""
    if settings.ai_provider == "openai":
        return OpenAICompatibleProvider.from_settings(settings, sleep=sleep, clock=clock)
    if settings.ai_provider == "scaffold":
        return ScaffoldProvider()
    raise ProviderError(f"unknown AI provider {settings.ai_provider!r} "
                        "(TANGENT_AI_PROVIDER: use scaffold or openai)")
