"""What is hard: every quiz of a course, and one quiz question by question."""

from __future__ import annotations

import math
from fractions import Fraction

from flask import g, render_template

from webapp.services.insight import difficulty, snapshots
from webapp.web.insight import bp


def percent_text(value: Fraction | None) -> str:
    """A median percentage: whole, or with one decimal when it falls between two."""
    if value is None:
        return "—"
    if value.denominator == 1:
        return f"{value.numerator} %"
    return f"{float(value):.1f} %"


def duration_text(seconds: Fraction | None) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 5 min``."""
    if seconds is None:
        return "—"
    total = math.floor(seconds + Fraction(1, 2))  # halves up: 60.5 s is 61 s
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _render(template: str, **context):
    course = g.insight_course
    return render_template(template, course=course, tab="insight", insight_page="difficulty",
                           percent_text=percent_text, duration_text=duration_text,
                           min_answers=difficulty.MIN_ANSWERS,
                           min_attempts=difficulty.MIN_ATTEMPTS_FOR_DISCRIMINATION, **context)


@bp.get("/difficulty", endpoint="difficulty")
def difficulty_page():
    course = g.insight_course
    kept = snapshots.figures(course, "difficulty", lambda: difficulty.overview(course),
                             encode=difficulty.to_json, decode=difficulty.from_json)
    return _render("insight/difficulty.html", overview=kept.value, kept=kept,
                   figures_name="difficulty")


@bp.get("/difficulty/<int:quiz_id>")
def quiz_difficulty(quiz_id: int):
    return _render("insight/quiz_difficulty.html",
                   detail=difficulty.quiz_detail(g.insight_course, quiz_id))
