"""Kept figures (the funnel, the weekly activity, what is hard): "Recompute now"."""

from __future__ import annotations

from flask import abort, flash, g, redirect, url_for

from webapp.services.insight import activity, difficulty, funnel, snapshots
from webapp.web.forms import ActionForm, valid_or_400
from webapp.web.insight import bp

# name → (how to compute it, its codec, the page that shows it)
KEPT = {
    "funnel": (funnel.course_funnel, funnel, "insight.funnel"),
    "activity": (activity.course_activity, activity, "insight.activity"),
    "difficulty": (difficulty.overview, difficulty, "insight.difficulty"),
}


@bp.context_processor
def _figures_context() -> dict:
    return {"max_age_minutes": int(snapshots.MAX_AGE.total_seconds() // 60)}


@bp.post("/recompute/<name>")
def recompute(name: str):
    if name not in KEPT:
        abort(404)
    valid_or_400(ActionForm())
    compute, codec, page = KEPT[name]
    course = g.insight_course
    snapshots.figures(course, name, lambda: compute(course), encode=codec.to_json,
                      decode=codec.from_json, refresh=True)
    flash("The figures are worked out again from the latest data.", "success")
    return redirect(url_for(page), 303)
