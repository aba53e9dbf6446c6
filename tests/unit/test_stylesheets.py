"""Every stylesheet parses: a browser silently drops a rule it cannot parse, so one
stray comment delimiter once made all screen-reader-only text visible.

tinycss2 finds tokenizer and declaration errors; cssselect2 checks that every
selector of our own stylesheets is a selector (the stray comment above parsed as a
rule whose "selector" was the comment's text). Selectors cssselect2 merely does not
know (vendor pseudo-elements such as ``::-webkit-slider-thumb``) are valid CSS.
"""

from __future__ import annotations

from pathlib import Path

import cssselect2
import pytest
import tinycss2

STATIC = Path(__file__).resolve().parents[2] / "static"
OWN = sorted((STATIC / "css").glob("*.css"))
VENDORED = sorted((STATIC / "vendor").glob("*.css"))
NESTING_AT_RULES = {"media", "supports", "layer", "container", "document"}
# cssselect2 implements the selectors it can match; these are valid ones it cannot.
UNSUPPORTED = ("Unknown pseudo-class", "Expected a supported pseudo-element")


def _problems(path: Path, *, check_selectors: bool) -> list[str]:
    problems: list[str] = []

    def walk(rules) -> None:
        for rule in rules:
            if rule.type == "error":
                problems.append(f"{path.name}:{rule.source_line}: {rule.message}")
            elif rule.type == "qualified-rule":
                if check_selectors:
                    try:
                        cssselect2.compile_selector_list(rule.prelude)
                    except cssselect2.SelectorError as exc:
                        if not str(exc.args[0]).startswith(UNSUPPORTED) and not any(
                                str(arg).startswith(UNSUPPORTED) for arg in exc.args):
                            selector = tinycss2.serialize(rule.prelude).strip()[:60]
                            problems.append(f"{path.name}:{rule.source_line}: not a selector:"
                                            f" {selector!r}")
                for item in tinycss2.parse_blocks_contents(rule.content, skip_comments=True,
                                                           skip_whitespace=True):
                    if item.type == "error":
                        problems.append(f"{path.name}:{item.source_line}: {item.message}")
            elif (rule.type == "at-rule" and rule.content is not None
                  and rule.lower_at_keyword in NESTING_AT_RULES):
                walk(tinycss2.parse_rule_list(rule.content, skip_comments=True,
                                              skip_whitespace=True))

    walk(tinycss2.parse_stylesheet(path.read_text(encoding="utf-8"), skip_comments=True,
                                   skip_whitespace=True))
    return problems


def test_there_are_stylesheets_to_check():
    assert len(OWN) >= 5 and VENDORED


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.name)
def test_our_stylesheets_have_no_parse_errors_and_only_real_selectors(path):
    assert _problems(path, check_selectors=True) == []


@pytest.mark.parametrize("path", VENDORED, ids=lambda p: p.name)
def test_vendored_stylesheets_have_no_parse_errors(path):
    assert _problems(path, check_selectors=False) == []


def test_the_checker_catches_an_unopened_comment(tmp_path):
    broken = tmp_path / "broken.css"
    broken.write_text(".a { color: red; }\n\n   Section title\n   ===== */\n\n"
                      ".visually-hidden { position: absolute; }\n=======\n.b { margin: 0 }\n")
    problems = _problems(broken, check_selectors=True)
    assert len(problems) == 2, problems
    assert "broken.css:3: not a selector" in problems[0]
