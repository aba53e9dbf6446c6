"""What a list of course cards needs (the catalog, the home page)."""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user
from markupsafe import Markup

from webapp.services import courses, reading

# Rendered card heads (title, meta, summary, tags), keyed by the card's value: a card
# whose course changed is another key, so nothing stale is ever served. Bounded.
_HEADS: dict[tuple, Markup] = {}
HEADS_MAX = 4096


def install_card_cache(app: Flask) -> None:
    """``card_head(course, heading)`` for templates: the part of a course card that is the
    same for every visitor, rendered once (its links cost more than the rest of a page)."""

    def card_head(course: reading.CourseCard, heading: int) -> Markup:
        key = (course, heading, request.script_root)
        html = _HEADS.get(key)
        if html is None:
            if len(_HEADS) >= HEADS_MAX:
                _HEADS.clear()
            macro = app.jinja_env.get_template("macros/courses.html").module.course_card_head
            # A macro of an autoescaped template returns Markup, escaped as it rendered.
            html = _HEADS[key] = macro(course, heading)
        return html

    app.jinja_env.globals["card_head"] = card_head


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
