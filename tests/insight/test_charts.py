"""The server-drawn charts (templates/insight/_charts.html): well-formed SVG with a title
and a description, nothing the CSP forbids (no script, no inline style or handlers), and
pages that carry them pass the Nu Html Checker."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.factories import DEFAULT_PASSWORD, enroll, make_course, make_user
from tests.web.test_html_valid import vnu  # noqa: F401  (the checker's fixture)
from webapp.extensions import db
from webapp.services import progress

SVG = "{http://www.w3.org/2000/svg}"


def _render(app, macro: str, *args) -> str:
    with app.test_request_context():
        module = app.jinja_env.get_template("insight/_charts.html").module
        return str(getattr(module, macro)(*args))


def _svg(markup: str) -> ET.Element:
    start, end = markup.index("<svg"), markup.index("</svg>") + len("</svg>")
    svg = markup[start:end].replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1)
    return ET.fromstring(svg)  # noqa: S314 - our own template's output


CASES = [
    ("bar_chart", ["Lesson <1>", 3], ["Lesson & 2", 0, True], ["A very long lesson title " * 3, 7]),
    ("column_chart", ["02 Mar", 5], ["09 Mar", 0], ["16 Mar", 12]),
]


@pytest.mark.parametrize(("macro", "rows"), [(m, r) for m, *r in CASES])
@pytest.mark.parametrize("empty", [False, True])
def test_charts_are_valid_svg_with_title_and_description(app, macro, rows, empty):
    rows = [] if empty else [tuple(r) for r in rows]
    markup = _render(app, macro, "c1", "Title <b>", "Described & told", rows)
    svg = _svg(markup)
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title.text == "Title <b>" and desc.text == "Described & told"
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-title c1-desc"
    shapes = svg.findall(f"{SVG}rect")
    assert len(shapes) == len(rows)
    # Nothing the CSP blocks, and the longest value gets the widest bar.
    lowered = markup.lower()
    assert "<script" not in lowered and "style=" not in lowered and " on" not in lowered
    if rows:
        size = "width" if macro == "bar_chart" else "height"
        sizes = [float(s.get(size)) for s in shapes]
        biggest = max(range(len(rows)), key=lambda i: rows[i][1])
        assert sizes[biggest] == max(sizes) and min(sizes) == 0.0


def test_a_highlighted_bar_uses_the_accent_class(app):
    svg = _svg(_render(app, "bar_chart", "c2", "t", "d", [("a", 1), ("b", 2, True)]))
    classes = [r.get("class") for r in svg.findall(f"{SVG}rect")]
    assert classes == ["chart-bar", "chart-bar chart-bar-highlight"]


def test_insight_pages_with_charts_pass_the_nu_checker(app, vnu, tmp_path,  # noqa: F811
                                                       login):
    with app.app_context():
        editor = make_user("editor@example.org", role="editor")
        course = make_course("Charts", modules=1, lessons=2, sections=2, owner=editor)
        for n in range(3):
            learner = make_user(f"l{n}@example.org")
            enroll(learner, course)
            progress.complete_section(learner, course.modules[0].lessons[0].sections[0].id)
            db.session.commit()
        course_id = course.id
    client = app.test_client()
    login(client, "editor@example.org", DEFAULT_PASSWORD)
    files = []
    for page in ("funnel", "activity"):
        response = client.get(f"/edit/courses/{course_id}/insight/{page}")
        assert response.status_code == 200
        assert b"<svg" in response.data
        path = Path(tmp_path) / f"{page}.html"
        path.write_bytes(response.data)
        files.append(str(path))
    result = subprocess.run([*vnu, *files], capture_output=True, text=True, timeout=300,
                            check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{Path(m['url']).name}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == []
