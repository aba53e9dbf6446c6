"""Reading the zip container safely: member names, sizes, zip bombs, UTF-8."""

from __future__ import annotations

import io
import re
import stat
import zipfile
import zlib

from webapp.services.authoring import MAX_SOURCE_BYTES
from webapp.services.course_format import Problems
from webapp.services.packages.layout import LESSON_DIR, MAX_FRONT_MATTER, QUIZ_DIR

MAX_MEMBERS = 500
MAX_JSON_BYTES = 1_000_000
MAX_TOTAL_BYTES = 20_000_000
MAX_PACKAGE_BYTES = 20_000_000
MAX_LESSON_BYTES = MAX_SOURCE_BYTES + MAX_FRONT_MATTER
MAX_RATIO = 100
RATIO_MIN_BYTES = 1024
_MEMBER_RE = re.compile(r"^(lessons/[A-Za-z0-9][A-Za-z0-9_.-]*\.md"
                        r"|quizzes/[A-Za-z0-9][A-Za-z0-9_.-]*\.json|course\.json)$")
_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def _name_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member may not be in a package at all (None when its name is safe)."""
    raw = info.orig_filename
    shown = repr(raw)[1:-1][:120]  # control characters visible, never raw
    if "\x00" in raw:
        return f"{shown}: file names must not contain NUL characters."
    if "\\" in raw:
        return f"{shown}: file names must use '/' (backslashes are not allowed)."
    if raw.startswith("/") or _DRIVE_RE.match(raw):
        return f"{shown}: absolute paths are not allowed."
    if ".." in raw.split("/"):
        return f"{shown}: '..' is not allowed in a path."
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"{shown}: symbolic links are not allowed."
    if raw in (LESSON_DIR, QUIZ_DIR):
        return None
    if not _MEMBER_RE.match(raw):
        return (f"{shown}: not part of a course package (expected course.json, "
                "lessons/*.md and quizzes/*.json).")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        return f"{shown}: only regular files are allowed."
    return None


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n:,} bytes"


def _limit(name: str) -> int:
    if name.startswith(LESSON_DIR):
        return MAX_LESSON_BYTES
    return MAX_JSON_BYTES


def read_members(data: bytes, problems: Problems) -> dict[str, str]:
    """The safe members' text by name; everything wrong goes into ``problems``."""
    if len(data) > MAX_PACKAGE_BYTES:
        problems.add(f"The package is {_size(len(data))}; the limit is "
                     f"{_size(MAX_PACKAGE_BYTES)}.")
        return {}
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        problems.add("This is not a zip file, or it is damaged.")
        return {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            problems.add(f"The package has {len(infos)} files; the limit is {MAX_MEMBERS}.")
            return {}
        seen: set[str] = set()
        safe: list[zipfile.ZipInfo] = []
        for info in infos:
            if info.orig_filename in seen:
                problems.add(f"{info.orig_filename[:120]}: the package holds this name twice.")
                continue
            seen.add(info.orig_filename)
            problem = _name_problem(info)
            if problem:
                problems.add(problem)
            elif not info.is_dir():
                safe.append(info)
        texts: dict[str, str] = {}
        total = 0
        for info in safe:
            name, limit = info.filename, _limit(info.filename)
            if info.file_size > limit:
                problems.add(f"{name}: {_size(info.file_size)}; the limit is {_size(limit)}.")
                continue
            if info.file_size > RATIO_MIN_BYTES and \
                    info.file_size > MAX_RATIO * max(info.compress_size, 1):
                problems.add(f"{name}: compressed more than {MAX_RATIO}:1 (a zip bomb?).")
                continue
            try:
                # Never trust the header: read at most one byte past the limit.
                with zf.open(info) as member:
                    content = member.read(limit + 1)
            except RuntimeError:
                problems.add(f"{name}: encrypted files are not supported.")
                continue
            except NotImplementedError:
                problems.add(f"{name}: unsupported compression method.")
                continue
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError):
                problems.add(f"{name}: damaged (it could not be decompressed).")
                continue
            if len(content) > limit:
                problems.add(f"{name}: larger than the limit of {_size(limit)}.")
                continue
            if len(content) > RATIO_MIN_BYTES and \
                    len(content) > MAX_RATIO * max(info.compress_size, 1):
                problems.add(f"{name}: compressed more than {MAX_RATIO}:1 (a zip bomb?).")
                continue
            total += len(content)
            if total > MAX_TOTAL_BYTES:
                problems.add(f"The package unpacks to more than {_size(MAX_TOTAL_BYTES)}; "
                             "that is the limit.")
                return {}
            try:
                texts[name] = content.decode("utf-8")
            except UnicodeDecodeError:
                problems.add(f"{name}: not valid UTF-8 text.")
        return texts
