"""Prompt templates: loading the versioned files of ``webapp/prompts`` and rendering them.

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
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from webapp.providers.text.interface import PromptError

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


def as_prompt_text(value: Any) -> str:
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

    version: str  # "lesson.v1"
    system: str
    user: str
    # The placeholder names of both messages.
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
        values = _StrictVariables(self, {key: as_prompt_text(value)
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

