"""What a list of course cards needs (the catalog, the home page)."""

from __future__ import annotations

from flask_login import current_user

from webapp.services import courses, reading


def catalog_context(page: courses.CatalogPage, after: str | None = None) -> dict:
    """What a page of course cards needs: the page plus the signed-in learner's badges."""
    enrolled, progress_map = reading.card_badges(current_user, page.courses)  # type: ignore[arg-type]
    filters = page.filter
    return {
        "results": page,
        "after": after,
        "enrolled": enrolled,
        "progress_map": progress_map,
        "filtering": bool(filters.q or filters.tag or filters.level),
        "filter_args": {k: v for k, v in (("q", filters.q), ("tag", filters.tag),
                                          ("level", filters.level)) if v},
    }
