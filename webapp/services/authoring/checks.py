"""Authoring limits and the checks on what editors type (titles, lesson text, tags)."""

from __future__ import annotations

from webapp.services.exceptions import ValidationFailed

MAX_SOURCE_BYTES = 200_000
MAX_TITLE = 160
MAX_SUMMARY = 500
MAX_TAGS = 8
PAGE_SIZE = 20


def check_title(value: str, what: str = "title") -> str:
    """The title trimmed; ValidationFailed when it is empty or too long."""
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"Give it a {what}.", field="title")
    if len(value) > MAX_TITLE:
        raise ValidationFailed(f"The {what} is {len(value)} characters; the limit is "
                               f"{MAX_TITLE}.", field="title")
    return value


def check_source(source: str) -> str:
    """Normalize line endings and enforce the size limit (in UTF-8 bytes)."""
    source = (source or "").replace("\r\n", "\n").replace("\r", "\n")
    size = len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        raise ValidationFailed(
            f"The lesson text is {size // 1000} KB; the limit is {MAX_SOURCE_BYTES // 1000} KB. "
            "Split it into two lessons.", field="source")
    if "\x00" in source:
        raise ValidationFailed("The lesson text contains a NUL character.", field="source")
    return source


def parse_tags(text: str) -> list[str]:
    """Comma-separated tag names, deduplicated case-insensitively, within the limits."""
    names = []
    for raw in (text or "").split(","):
        name = raw.strip()
        if name and name.lower() not in [n.lower() for n in names]:
            names.append(name)
    if len(names) > MAX_TAGS:
        raise ValidationFailed(f"Use at most {MAX_TAGS} tags.", field="tags")
    for name in names:
        if len(name) > 40:
            raise ValidationFailed(f"Tag “{name[:20]}…” is longer than 40 characters.",
                                   field="tags")
    return names
