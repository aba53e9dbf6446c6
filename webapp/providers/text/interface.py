"""The text-provider interface: what a provider returns (``Completion`` with one ``Usage``
per answered call) and the errors it raises.

``ProviderError`` carries a readable message for the job's error text (never
the API key); ``TransientProviderError`` (429, 5xx, timeouts and network errors
after the retries) means the step may be tried again later. Both carry
``usage``: the calls already answered before the failure, which cost money too.
A ``Completion`` carries one ``Usage`` per answered call, including answers
that were retried because they were invalid; calls that failed at the HTTP
level (429, 5xx, timeouts) return no usage and are not billed by providers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

TASKS = ("course_outline", "lesson", "lesson_rewrite", "quiz", "branch")


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

