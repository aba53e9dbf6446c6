"""Input checks at the edge, before a value reaches a service or the database.

- Ids: every id column is an ``INTEGER`` (PostgreSQL's ends at 2^31 - 1; SQLite's
  at 2^63 - 1, where Python's sqlite3 raises ``OverflowError``). A number outside
  0 … 2^31 - 1 can name no row, so in a path it matches no rule (404), and as a
  query or form value it counts as absent or invalid.
- NUL bytes: PostgreSQL refuses them in text and nothing a person types holds
  one, so any query or form field (name or value) or path argument with a NUL is
  refused with a 400 before a view runs.
"""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter, Map

from webapp.models.base import MAX_ID

__all__ = ["MAX_ID", "IdConverter", "id_arg", "install_edge_checks"]
NUL_MESSAGE = "The request contains a NUL character, which no field accepts."


class IdConverter(IntegerConverter):
    """``<int:name>`` in a rule: a whole number from 0 to ``MAX_ID``; larger ones do not
    match, so the answer is the ordinary 404."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits, min, MAX_ID if max is None else max, signed)


def id_arg(value: str) -> int:
    """A ``type=`` for ``request.args.get``/``request.form.get``: an id or a version in
    range, else ``ValueError`` (which werkzeug turns into the default, ``None``)."""
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise ValueError(f"{value!r} is out of range")
    return number


def _has_nul(multidict) -> bool:
    return any("\x00" in key or "\x00" in value
               for key, values in multidict.lists() for value in values
               if isinstance(value, str))


def refuse_nul_bytes() -> None:
    """400 for a NUL byte anywhere a client can put text (a ``before_request`` hook)."""
    if (_has_nul(request.args)
            or any(isinstance(v, str) and "\x00" in v for v in (request.view_args or {}).values())
            or (request.method not in ("GET", "HEAD", "OPTIONS") and _has_nul(request.form))):
        abort(400, NUL_MESSAGE)


def install_edge_checks(app: Flask) -> None:
    """Bounded ids in URL rules (call before blueprints register) and the NUL check."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul_bytes)
