"""The course catalog. Courses arrive with the learning model; until then it is empty."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("catalog", __name__, url_prefix="/courses")


@bp.get("/")
def index():
    return render_template("catalog/index.html")
