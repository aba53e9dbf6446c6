"""Keyset pagination: fetch one row more than a page to learn whether another follows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Row = TypeVar("Row")


def split_page(rows: Sequence[Row], page_size: int) -> tuple[list[Row], Row | None]:
    """The page (at most ``page_size`` rows, from a query limited to ``page_size + 1``)
    and, when more rows follow, the page's last row to take the next cursor from."""
    page = list(rows[:page_size])
    return page, (page[-1] if len(rows) > page_size else None)
