"""Highlighted code is readable: every token colour of static/css/pygments.css reaches
WCAG AA (4.5:1) against the background that stylesheet gives code blocks, in the light
and the dark scheme, whatever tokens a lesson's code happens to contain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tinycss2

from webapp.content.render import contrast_ratio

CSS = Path(__file__).resolve().parents[2] / "static/css/pygments.css"
AA = 4.5


def _rules(rules) -> list[tuple[str, dict[str, str]]]:
    out = []
    for rule in rules:
        if rule.type != "qualified-rule":
            continue
        declarations = {
            d.lower_name: tinycss2.serialize(d.value).strip()
            for d in tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                                    skip_whitespace=True)
            if d.type == "declaration"
        }
        out.append((tinycss2.serialize(rule.prelude).strip(), declarations))
    return out


def _schemes() -> dict[str, list[tuple[str, dict[str, str]]]]:
    sheet = tinycss2.parse_stylesheet(CSS.read_text(), skip_comments=True, skip_whitespace=True)
    dark = [r for r in sheet if r.type == "at-rule" and "dark" in tinycss2.serialize(r.prelude)]
    assert len(dark) == 1
    return {"light": _rules(sheet), "dark": _rules(tinycss2.parse_rule_list(dark[0].content))}


def _hex(value: str) -> str:
    found = re.search(r"#[0-9a-fA-F]{3,6}\b", value)
    assert found, value
    return found.group(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_token_colour_reaches_aa_on_the_code_background(scheme: str) -> None:
    rules = _schemes()[scheme]
    backgrounds = {selector: d.get("background-color") or d.get("background")
                   for selector, d in rules}
    # The background code is shown on: the block's, and the <pre> inside paints the same.
    background = _hex(backgrounds[".highlight"] or "")
    assert _hex(backgrounds[".highlight pre"] or "") == background
    token_rules = [(s, d) for s, d in rules
                   if s.startswith(".highlight .") and "color" in d and s != ".highlight .hll"]
    assert len(token_rules) > 40
    failing = {}
    for selector, declarations in token_rules:
        own = declarations.get("background-color")
        ratio = contrast_ratio(_hex(declarations["color"]), _hex(own) if own else background)
        if ratio < AA:
            failing[selector] = round(ratio, 2)
    assert failing == {}


def test_the_contrast_ratio_is_wcags() -> None:
    assert contrast_ratio("#000", "#fff") == pytest.approx(21)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#fff", "#fff") == pytest.approx(1)
