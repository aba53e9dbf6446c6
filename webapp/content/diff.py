"""Line deltas between two texts: stored in revision events, applied both ways.

A delta is a list of hunks ``[start, end, old_lines, new_lines]``: lines
``start:end`` of the old text were replaced by ``new_lines`` (``old_lines`` are
kept so the change can be undone). Only changed lines are stored, never a second
full copy. ``revert`` turns the newer text back into the older one, which is how
an earlier revision is rebuilt from the current row.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import merge3

Hunk = list  # [start: int, end: int, old_lines: list[str], new_lines: list[str]]


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def make_delta(old: str, new: str) -> list[Hunk]:
    """The hunks that turn ``old`` into ``new`` (empty when they are equal)."""
    a, b = _lines(old), _lines(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return [
        [i1, i2, a[i1:i2], b[j1:j2]]
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def apply(old: str, delta: Sequence[Hunk]) -> str:
    """``old`` with ``delta`` applied (``apply(old, make_delta(old, new)) == new``)."""
    lines = _lines(old)
    for start, end, _old_lines, new_lines in reversed(delta):
        lines[start:end] = new_lines
    return "".join(lines)


def revert(new: str, delta: Sequence[Hunk]) -> str:
    """``new`` with ``delta`` undone (``revert(new, make_delta(old, new)) == old``)."""
    lines = _lines(new)
    shift = 0
    out: list[str] = []
    cursor = 0
    # Hunk positions are in old-text coordinates; walk forward mapping them to new.
    for start, end, old_lines, new_lines in delta:
        new_start = start + shift
        out.extend(lines[cursor:new_start])
        out.extend(old_lines)
        cursor = new_start + len(new_lines)
        shift += len(new_lines) - (end - start)
    out.extend(lines[cursor:])
    return "".join(out)


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "remove" | "context" | "hunk"
    text: str


def readable_diff(old: str, new: str, context: int = 3) -> list[DiffLine]:
    """A unified diff as lines a template can show (escaped by Jinja, never raw)."""
    result = []
    for line in difflib.unified_diff(_lines(old), _lines(new), n=context, lineterm=""):
        if line.startswith(("---", "+++")):
            continue
        text = line.rstrip("\n")
        if text.startswith("@@"):
            result.append(DiffLine("hunk", text))
        elif text.startswith("+"):
            result.append(DiffLine("add", text[1:]))
        elif text.startswith("-"):
            result.append(DiffLine("remove", text[1:]))
        else:
            result.append(DiffLine("context", text[1:]))
    return result


@dataclass(frozen=True)
class ConflictPlace:
    """One place where both sides changed the same lines: what each side has there."""

    number: int
    line: int  # where its first marker line stands in the merged text (1-based)
    theirs: str
    yours: str


@dataclass(frozen=True)
class Merge:
    text: str
    conflicts: int
    places: tuple[ConflictPlace, ...] = ()


START_MARKER, MID_MARKER, END_MARKER = "<<<<<<<", "=======", ">>>>>>>"


def merge_texts(base: str, theirs: str, yours: str, *,
                theirs_name: str = "the saved version") -> Merge:
    """Three-way merge. Where both sides changed the same lines, both are kept between
    marker lines that say in words whose each part is; ``places`` lists them."""
    def ensure_newline(text: str) -> list[str]:
        lines = _lines(text)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        return lines

    merger = merge3.Merge3(ensure_newline(base), ensure_newline(theirs), ensure_newline(yours))
    out: list[str] = []
    places: list[ConflictPlace] = []
    for group in merger.merge_groups():
        if group[0] != "conflict":
            out.extend(group[1])
            continue
        _kind, _base_lines, their_lines, your_lines = group
        number = len(places) + 1
        places.append(ConflictPlace(number, len(out) + 1, "".join(their_lines),
                                    "".join(your_lines)))
        out.append(f"{START_MARKER} change {number}: {theirs_name} has\n")
        out.extend(their_lines)
        out.append(f"{MID_MARKER} change {number}: your text has\n")
        out.extend(your_lines)
        out.append(f"{END_MARKER} end of change {number}: keep one, delete these 3 lines\n")
    return Merge("".join(out), len(places), tuple(places))


def marker_lines(text: str) -> list[int]:
    """Line numbers (1-based) of merge marker lines left in ``text``: a start or end
    marker, or a middle one between them (alone, ``=======`` is a Markdown heading
    underline and is left alone)."""
    found: list[int] = []
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith((START_MARKER, END_MARKER)):
            found.append(number)
            inside = line.startswith(START_MARKER)
        elif inside and line.startswith(MID_MARKER):
            found.append(number)
    return found
