"""MDX-style lesson components, the report of what did not render, and the sanitizer report.

What an editor writes between the component tags is Markdown; everything MDX
would execute is dropped or shown as text, and ``render_lesson`` says which,
line by line. Nothing here is ever allowed to produce markup from attribute
values, and nothing inside fenced code is touched.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_sanitizer import problems_in
from webapp.content.render import (
    REMOTE_IMAGE_WARNING,
    RENDERER_VERSION,
    Finding,
    RenderResult,
    render_lesson,
    render_markdown,
    render_sections,
)
from webapp.content.sanitize import POLICY_VERSION, clean, clean_with_report

UNKNOWN_TABS = "unknown component <Tabs>; supported: Callout, Details, Figure, Quiz, Branch"


def html_of(source: str) -> str:
    result = render_lesson(source, "Lesson")
    return "".join(section.html for section in result.sections)


def findings_of(source: str) -> list[tuple[int | None, str, str]]:
    return [(f.line, f.action, f.reason) for f in render_lesson(source, "Lesson").findings]


class _Outline(HTMLParser):
    """Start tags as ``tag.class`` paths from the root, e.g. ``details/aside.callout``."""

    VOID = frozenset({"img", "br", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.paths: list[str] = []

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class")
        name = f"{tag}.{cls.split()[0]}" if cls else tag
        self.paths.append("/".join([*self.stack, name]))
        if tag not in self.VOID:
            self.stack.append(name)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1].split(".")[0] == tag:
            self.stack.pop()


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def image_sources(html: str) -> list[str]:
    parser = _Images()
    parser.feed(html)
    parser.close()
    return parser.sources


def outline(html: str) -> list[str]:
    parser = _Outline()
    parser.feed(html)
    parser.close()
    return parser.paths


# --- every component renders -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["tip", "note", "warning"])
def test_callout_renders_its_kind(kind: str) -> None:
    html = html_of(f'<Callout kind="{kind}">\nMind the *gap*.\n</Callout>')
    assert html == (f'<aside class="callout callout-{kind}" role="note" '
                    f'aria-label="{kind.capitalize()}">\n<p>Mind the <em>gap</em>.</p>\n</aside>\n')


def test_callout_without_kind_is_a_note_and_an_unknown_kind_is_reported() -> None:
    assert html_of("<Callout>\nx\n</Callout>").startswith('<aside class="callout callout-note"')
    result = render_lesson('Intro\n\n<Callout kind="danger">\nx\n</Callout>', "Lesson")
    assert result.sections[0].html.count('class="callout callout-note"') == 1
    assert result.findings == [Finding(3, "warning", 'unknown callout kind "danger" is shown '
                                       "as a note; kinds: tip, note, warning")]


def test_details_renders_an_escaped_summary_around_markdown() -> None:
    html = html_of('<Details summary="Why &amp; how <b>?">\nBecause **reasons**.\n</Details>')
    assert html == ("<details>\n<summary>Why &amp; how &lt;b&gt;?</summary>\n"
                    "<p>Because <strong>reasons</strong>.</p>\n</details>\n")


def test_callout_nests_inside_details() -> None:
    source = ('<Details summary="Answer">\nOuter.\n\n<Callout kind="tip">\nInner **tip**.\n'
              "</Callout>\n\nAfter.\n</Details>\n\nOutside.")
    html = html_of(source)
    assert outline(html) == ["details", "details/summary", "details/p",
                             "details/aside.callout", "details/aside.callout/p",
                             "details/aside.callout/p/strong", "details/p", "p"]
    assert "<p>Inner <strong>tip</strong>.</p>" in html
    assert findings_of(source) == []


def test_figure_renders_a_site_image_with_caption() -> None:
    html = html_of('<Figure src="/static/img/plan.png" alt="A query plan" caption="Read it '
                   'bottom-up"/>')
    assert html == ('<figure class="figure"><img src="/static/img/plan.png" alt="A query plan" '
                    'loading="lazy"><figcaption>Read it bottom-up</figcaption></figure>\n')
    html = html_of('<Figure src="/static/img/plan.png" alt="A plan" />')
    assert html == ('<figure class="figure"><img src="/static/img/plan.png" alt="A plan" '
                    'loading="lazy"></figure>\n')


def test_figure_with_a_remote_https_image_renders_with_a_warning() -> None:
    source = 'Intro.\n\n<Figure src="https://cdn.example.org/a.png" alt="A"/>'
    result = render_lesson(source, "Lesson")
    assert '<img src="https://cdn.example.org/a.png" alt="A" loading="lazy">' in \
        result.sections[0].html
    assert result.findings == [Finding(3, "warning", REMOTE_IMAGE_WARNING)]
    assert "Content-Security-Policy" in REMOTE_IMAGE_WARNING


def test_markdown_images_from_elsewhere_get_the_same_warning() -> None:
    result = render_lesson("Intro.\n\n![A](https://cdn.example.org/a.png)\n\n![B](/static/b.png)",
                           "Lesson")
    assert result.findings == [Finding(3, "warning", REMOTE_IMAGE_WARNING)]


def test_quiz_links_relative_to_the_lesson_and_keys_are_collected() -> None:
    result = render_lesson('<Quiz id="sql-basics"/>\n\n## Two\n\n<Quiz id="joins"/>\n'
                           '<Quiz id="sql-basics"/>', "Lesson")
    assert result.sections[0].html == (
        '<aside class="quiz-embed" aria-label="Quiz"><p><a href="../quizzes/sql-basics">'
        "Take the quiz: sql-basics</a></p></aside>\n")
    assert result.quiz_keys == ("sql-basics", "joins")
    assert result.findings == []


def test_branch_suggests_a_topic_and_topics_are_collected() -> None:
    result = render_lesson('<Branch topic="Graphs &amp; trees"/>\n<Branch topic="B-trees"/>\n'
                           '<Branch topic="Graphs &amp; trees"/>', "Lesson")
    html = result.sections[0].html
    assert html.startswith('<aside class="branch-suggestion" aria-label="Go deeper"><p>Go deeper: '
                           "<strong>Graphs &amp; trees</strong></p></aside>\n")
    assert html.count('class="branch-suggestion"') == 3
    assert result.branch_topics == ("Graphs & trees", "B-trees")


def test_components_interrupt_paragraphs_and_keep_sections() -> None:
    source = ('Intro text\n<Quiz id="q1"/>\nmore text\n\n## Step two\n\n<Callout kind="tip">\n'
              "## Not a new step\n</Callout>")
    result = render_lesson(source, "Lesson")
    assert [s.key for s in result.sections] == ["lesson", "step-two"]
    assert outline(result.sections[0].html) == ["p", "aside.quiz-embed", "aside.quiz-embed/p",
                                                "aside.quiz-embed/p/a", "p"]
    assert '<h2 id="not-a-new-step">' in result.sections[1].html
    assert result.findings == []


def test_a_callout_inside_a_list_item_stays_in_the_item() -> None:
    html = html_of('1. Step\n\n   <Callout kind="tip">\n   Hint\n   </Callout>\n\n2. Next')
    assert outline(html) == ["ol", "ol/li", "ol/li/p", "ol/li/aside.callout",
                             "ol/li/aside.callout/p", "ol/li", "ol/li/p"]


# --- what is not supported is reported, line by line ---------------------------------------


def test_import_and_export_are_dropped() -> None:
    source = ('import Chart from "./chart"\nexport const meta = { title: "x" }\n\nText.\n\n'
              'import {\n  a,\n  b,\n} from "lib"\n\nimport the data first, then export it.')
    result = render_lesson(source, "Lesson")
    assert result.sections[0].html == ("<p>Text.</p>\n<p>import the data first, then export "
                                       "it.</p>\n")
    reason = "import/export statements are not supported"
    assert findings_of(source) == [(1, "dropped", reason), (2, "dropped", reason),
                                   (6, "dropped", reason + " (lines 6 to 9)")]


def test_unknown_components_are_dropped() -> None:
    source = 'Text.\n\n<Tabs>\n<Tab label="a">\nInside.\n</Tab>\n</Tabs>\n<Chart data={x}/>\n'
    html = html_of(source)
    assert html == "<p>Text.</p>\n<p>Inside.</p>\n"
    assert findings_of(source) == [
        (3, "dropped", UNKNOWN_TABS),
        (4, "dropped", UNKNOWN_TABS.replace("<Tabs>", "<Tab>")),
        (6, "dropped", UNKNOWN_TABS.replace("<Tabs>", "<Tab>")),
        (7, "dropped", UNKNOWN_TABS),
        (8, "dropped", UNKNOWN_TABS.replace("<Tabs>", "<Chart>")),
    ]


def test_a_component_tag_split_over_lines_is_dropped_whole() -> None:
    source = "<Chart\n  data={rows}\n  kind=\"bar\"\n/>\nAfter."
    assert html_of(source) == "<p>After.</p>\n"
    assert findings_of(source) == [(1, "dropped", UNKNOWN_TABS.replace("<Tabs>", "<Chart>")
                                    + " (lines 1 to 4)")]


def test_script_blocks_are_dropped_over_all_their_lines() -> None:
    source = "One.\n\n<SCRIPT type=\"module\">\nalert(1)\n</script>\n\nTwo.\n<script>x()</script>"
    html = html_of(source)
    assert html == "<p>One.</p>\n<p>Two.</p>\n"
    assert findings_of(source) == [(3, "dropped", "<script> blocks are not run (lines 3 to 5)"),
                                   (8, "dropped", "<script> blocks are not run")]


def test_an_unclosed_script_drops_the_rest_and_says_so() -> None:
    findings = findings_of("One.\n<script>\nalert(1)\n\nTwo.")
    assert findings == [(2, "dropped", "<script> blocks are not run; this one has no </script>, "
                         "so the rest of the document was dropped with it (lines 2 to 5)")]


def test_expression_lines_are_dropped() -> None:
    source = "Total:\n{items.length * 2}\n{/* an MDX comment */}\nDone {not alone}."
    assert html_of(source) == "<p>Total:</p>\n<p>Done {not alone}.</p>\n"
    assert findings_of(source) == [(2, "dropped", "expressions are not evaluated"),
                                   (3, "dropped", "expressions are not evaluated")]


def test_raw_html_is_escaped_and_reported() -> None:
    source = ('Plain.\n<img src=x onerror="alert(1)">\nA <b>bold</b> claim.\n'
              "Generic `List<b>` and Vec<u8> are fine.\n<!-- hidden -->")
    html = html_of(source)
    assert "&lt;img src=x onerror=" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert problems_in(html) == []
    assert findings_of(source) == [
        (2, "escaped", "raw HTML is shown as text, not run: <img onerror=…>"),
        (3, "escaped", "raw HTML is shown as text, not run: <b>"),
        (5, "escaped", "raw HTML is shown as text, not run: <!-- … -->"),
    ]


def test_a_component_in_the_middle_of_a_line_is_text() -> None:
    source = 'See <Quiz id="q"/> here.'
    assert html_of(source) == "<p>See &lt;Quiz id=“q”/&gt; here.</p>\n"
    assert findings_of(source) == [(1, "escaped", "<Quiz> is a component only at the start of "
                                    "its own line; here it is shown as text")]


def test_a_stray_closing_tag_is_dropped() -> None:
    source = "Text.\n</Details>\nMore."
    assert html_of(source) == "<p>Text.</p>\n<p>More.</p>\n"
    assert findings_of(source) == [(2, "dropped", "</Details> has no <Details> above it")]


def test_an_unclosed_container_ends_at_the_end_of_the_document() -> None:
    source = 'Intro.\n\n<Callout kind="warning">\nCareful.\n\n## Next\n\nStill inside.'
    result = render_lesson(source, "Lesson")
    assert [s.key for s in result.sections] == ["lesson"]
    assert result.sections[0].html.endswith("<p>Still inside.</p>\n</aside>\n")
    assert findings_of(source) == [(3, "warning", "<Callout> is never closed; it ends at the end "
                                    "of the document (add </Callout>)")]


def test_misnested_tags_close_the_inner_container_and_drop_the_stray_closer() -> None:
    source = '<Callout>\n<Details summary="s">\nbody\n</Callout>\n</Details>'
    assert outline(html_of(source)) == ["aside.callout", "aside.callout/details",
                                        "aside.callout/details/summary",
                                        "aside.callout/details/p"]
    assert findings_of(source) == [
        (2, "warning", "<Details> is not closed; it ends at </Callout> on line 4 "
                       "(add </Details> before it)"),
        (5, "dropped", "</Details> has no <Details> above it"),
    ]


@pytest.mark.parametrize(("name", "line", "reason"), [
    ("Callout", '<Callout kind="tip" title="x">',
     "unknown attribute title on <Callout>; allowed: kind"),
    ("Callout", "<Callout kind='tip'>",
     'malformed <Callout> tag: write it on one line, with every attribute value in double '
     'quotes (name="…")'),
    ("Details", "<Details>", '<Details> needs a summary="…" of 1 to 200 characters'),
    ("Details", '<Details summary="a" summary="b">',
     "attribute summary is given twice on <Details>"),
])
def test_a_bad_container_tag_is_dropped_with_its_closer(name: str, line: str, reason: str) -> None:
    source = f"{line}\nBody.\n</{name}>"
    assert html_of(source) == "<p>Body.</p>\n"
    assert findings_of(source) == [(1, "dropped", reason),
                                   (3, "dropped", f"</{name}> belongs to the <{name}> dropped "
                                                  "on line 1")]


@pytest.mark.parametrize(("line", "reason"), [
    ('<Figure src="/a.png"/>', '<Figure> needs alt="…" text (up to 500 characters) describing '
                               "the image"),
    ('<Figure src="/a.png" alt="a" width="3"/>', "unknown attribute width on <Figure>; allowed: "
                                                 "src, alt, caption"),
    ('<Figure src="/a.png" alt="a">', "<Figure> closes itself: write <Figure … />"),
    ('<Quiz id="Not A Key"/>', '<Quiz> needs id="key": lower-case letters, digits and hyphens, '
                               "starting with a letter or digit, at most 80 characters"),
    (f'<Quiz id="{"a" * 81}"/>', '<Quiz> needs id="key": lower-case letters, digits and hyphens, '
                                 "starting with a letter or digit, at most 80 characters"),
    ('<Branch topic=" "/>', '<Branch> needs topic="…" of 1 to 120 characters'),
    (f'<Branch topic="{"x" * 121}"/>', '<Branch> needs topic="…" of 1 to 120 characters'),
    ("</Quiz>", "</Quiz> is not needed: <Quiz … /> closes itself"),
    ("<Callout/>", "<Callout/> wraps nothing: write <Callout …>, the text, then </Callout>"),
])
def test_a_bad_tag_is_dropped_and_reported(line: str, reason: str) -> None:
    result = render_lesson(f"Before.\n\n{line}\n\nAfter.", "Lesson")
    assert result.sections[0].html == "<p>Before.</p>\n<p>After.</p>\n"
    assert [(f.line, f.action, f.reason) for f in result.findings] == [(3, "dropped", reason)]
    assert result.quiz_keys == () and result.branch_topics == ()


def test_an_indented_component_is_code_and_says_so() -> None:
    result = render_lesson('Text.\n\n    <Quiz id="q"/>\n\nMore.', "Lesson")
    assert "<pre><code>&lt;Quiz id=&quot;q&quot;/&gt;\n</code></pre>" in result.sections[0].html
    assert result.quiz_keys == ()
    assert result.findings == [Finding(3, "escaped", "<Quiz> is indented like a code block, so it "
                                       "is shown as text; start the tag at the beginning of the "
                                       "line")]


def test_line_numbers_count_crlf_and_cr_line_breaks() -> None:
    assert findings_of("a\r\nb\rc\n<Tabs>") == [(4, "dropped", UNKNOWN_TABS)]


def test_nesting_is_bounded() -> None:
    source = "\n".join(["<Callout>"] * 8 + ["deep"] + ["</Callout>"] * 8)
    result = render_lesson(source, "Lesson")
    assert result.sections[0].html.count("<aside") == 6
    assert "<p>deep</p>" in result.sections[0].html
    assert [(f.line, f.action) for f in result.findings] == [
        (7, "dropped"), (8, "dropped"), (10, "dropped"), (11, "dropped")]


# --- fenced code is never touched --------------------------------------------------------------


MDX_LINES = ('import X from "x"\nexport default Layout\n<Tabs>\n<Callout kind="tip">\n'
             '</Details>\n{1 + 1}\n<script>alert(1)</script>\n<Quiz id="q"/>\n<b onclick=x>')


@pytest.mark.parametrize("fence", [("```", "```"), ("~~~", "~~~"), ("````md", "````"),
                                   ("```", "````"), ("~~~~", "~~~~~~")])
def test_nothing_happens_inside_a_fence(fence: tuple[str, str]) -> None:
    opening, closing = fence
    result = render_lesson(f"{opening}\n{MDX_LINES}\n{closing}\n\nAfter.", "Lesson")
    html = result.sections[0].html
    assert result.findings == [] and result.quiz_keys == ()
    assert "{1 + 1}" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "quiz-embed" not in html and "callout" not in html
    assert html.endswith("<p>After.</p>\n")


def test_a_fence_closes_only_with_its_own_kind_and_length() -> None:
    source = "````\n```\n<Tabs>\n~~~~\n````\n<Tabs>"
    assert findings_of(source) == [(6, "dropped", UNKNOWN_TABS)]
    assert "&lt;Tabs&gt;" in html_of(source)


def test_backticks_in_the_info_string_make_inline_code_not_a_fence() -> None:
    assert findings_of("``` `x` ```\n<Tabs>") == [(2, "dropped", UNKNOWN_TABS)]


def test_fences_in_lists_and_quotes_are_recognised() -> None:
    source = "- ```html\n  <Tabs>\n  ```\n\n> ~~~\n> <Tabs>\n\n<Tabs>"
    assert findings_of(source) == [(8, "dropped", UNKNOWN_TABS)]


def test_a_fence_inside_a_callout_may_show_the_closing_tag() -> None:
    source = "<Callout>\n```\n</Callout>\n```\n</Callout>\nAfter."
    html = html_of(source)
    assert outline(html) == ["aside.callout", "aside.callout/pre", "aside.callout/pre/code", "p"]
    assert "&lt;/Callout&gt;" in html and findings_of(source) == []


# --- hostile attribute values never become markup ---------------------------------------------


@pytest.mark.parametrize("source", [
    '<Details summary="\\"><script>alert(1)</script>">\nx\n</Details>',
    '<Details summary="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">\nx\n</Details>',
    '<Figure src="javascript:alert(1)" alt="a"/>',
    '<Figure src="&#106;avascript:alert(1)" alt="a"/>',
    '<Figure src="//evil.example/x.png" alt="a"/>',
    '<Figure src="/\\evil.example/x.png" alt="a"/>',
    '<Figure src="data:image/png;base64,AAAA" alt="a"/>',
    '<Figure src="/a.png&quot; onerror=&quot;alert(1)" alt="a"/>',
    '<Figure src="/a.png" alt="x&quot; onerror=&quot;alert(1)" '
    'caption="<img src=x onerror=alert(1)>"/>',
    '<Figure src="/a.png" alt="a" caption="&lt;script&gt;alert(1)&lt;/script&gt;"/>',
    '<Figure src="/a.png" alt="a" onerror="alert(1)"/>',
    '<Quiz id="x&quot;><script>alert(1)</script>"/>',
    '<Quiz id="../../logout"/>',
    '<Branch topic="</strong><script>alert(1)</script>"/>',
    '<Branch topic="&lt;img src=x onerror=alert(1)&gt;"/>',
    '<Callout kind="tip&quot; onclick=&quot;alert(1)">\nx\n</Callout>',
], ids=lambda s: s[:40])
def test_hostile_attribute_values_never_produce_markup(source: str) -> None:
    for html in [html_of(source), render_markdown(source)]:
        assert problems_in(html) == [], html
        assert all(src.startswith("/") and src[1:2] not in ("/", "\\")
                   for src in image_sources(html)), html
        tags = [path.rsplit("/", 1)[-1].split(".")[0] for path in outline(html)]
        assert set(tags) <= {"p", "details", "summary", "figure", "img", "figcaption", "aside",
                             "strong", "a", "code", "br"}, html
        assert clean(html) == html


def test_hostile_values_render_as_text_where_they_are_valid() -> None:
    html = html_of('<Figure src="/a.png" alt="x&quot; onerror=&quot;alert(1)" '
                   'caption="<em>hi</em>"/>')
    assert html == ('<figure class="figure"><img src="/a.png" alt="x&quot; onerror=&quot;alert(1)" '
                    'loading="lazy"><figcaption>&lt;em&gt;hi&lt;/em&gt;</figcaption></figure>\n')


# --- notes keep what lessons drop ------------------------------------------------------------


def test_notes_render_components_but_keep_unsupported_lines_as_text() -> None:
    html = render_markdown('import x from "y"\n\n<Tabs>\n{value}\n\n<Callout kind="tip">\nHi\n'
                           "</Callout>")
    assert "import x from" in html and "&lt;Tabs&gt;" in html and "{value}" in html
    assert '<aside class="callout callout-tip"' in html


def test_render_sections_is_render_lesson_sections() -> None:
    source = "Intro.\n\n## One\n\nText.\n\n<Quiz id=\"q\"/>"
    result = render_lesson(source, "Lesson")
    assert isinstance(result, RenderResult)
    assert render_sections(source, "Lesson") == result.sections


# --- the sanitizer report ---------------------------------------------------------------------


def test_clean_with_report_names_a_removed_attribute_and_tag() -> None:
    html, removed = clean_with_report(
        '<p>Hi<img src="javascript:alert(1)" alt="x"><iframe src="https://e.example"></iframe>'
        "<iframe></iframe><!-- c --></p>")
    assert html == clean('<p>Hi<img src="javascript:alert(1)" alt="x">'
                         '<iframe src="https://e.example"></iframe><iframe></iframe></p>')
    assert removed == ["<iframe> removed (2 times)",
                       '<img src="javascript:alert(1)">: attribute src removed',
                       "HTML comment removed"]


def test_clean_with_report_reports_nothing_for_clean_html() -> None:
    assert clean_with_report('<p class="figure">x</p>') == ('<p class="figure">x</p>', [])


def test_image_sources_are_web_or_relative_only() -> None:
    for src, kept in [("https://e.example/a.png", True), ("/static/a.png", True),
                      ("a.png", True), ("data:image/png;base64,AAAA", False),
                      ("mailto:a@example.org", False), ("ftp://e.example/a.png", False),
                      (" JaVa\tScRiPt:alert(1)", False)]:
        html = clean(f'<img src="{src}" alt="a">')
        assert ("src=" in html) is kept, (src, html)
    assert 'href="mailto:a@example.org"' in clean('<a href="mailto:a@example.org">m</a>')


def test_a_markdown_data_image_is_reported_as_removed() -> None:
    result = render_lesson("![dot](data:image/png;base64,AAAA)", "Lesson")
    assert result.sections[0].html == '<p><img alt="dot"></p>\n'
    assert result.findings == [Finding(None, "removed", '<img src="data:image/png;base64,AAAA">: '
                                       "attribute src removed")]


def test_ordinary_rich_lessons_have_nothing_removed() -> None:
    source = ("# T\n\n## Step\n\n| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |\n\n"
              "Note[^1] and again[^1].\n\n```python\nprint('x')\n```\n\n"
              '<Callout kind="tip">\n[link](https://example.org)\n</Callout>\n\n'
              '<Details summary="s">\n- a\n- b\n</Details>\n\n<Figure src="/a.png" alt="a" '
              'caption="c"/>\n<Quiz id="q"/>\n<Branch topic="t"/>\n\n[^1]: the note')
    result = render_lesson(source, "Lesson")
    assert result.findings == []
    html = "".join(s.html for s in result.sections)
    for fragment in ('<th class="align-left">a</th>', '<td class="align-right">3</td>',
                     '<sup class="footnote-ref"><a href="#fn1" id="fnref1:1">',
                     '<li id="fn1" class="footnote-item">', '<div class="highlight">'):
        assert fragment in html
    assert "style=" not in html


def test_versions_were_bumped_with_the_policy() -> None:
    assert POLICY_VERSION == "p3"
    assert RENDERER_VERSION == "r4-p3"


def test_code_blocks_and_tables_can_be_focused_to_scroll_them_by_keyboard() -> None:
    """They scroll sideways on phones; axe's scrollable-region-focusable wants them
    reachable by keyboard. The sanitizer lets exactly that tabindex through."""
    source = "```python\nx = 1\n```\n\n```\nplain\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |"
    html = "".join(s.html for s in render_lesson(source, "Lesson").sections)
    assert html.count('<pre tabindex="0">') == 2
    assert '<table tabindex="0">' in html
    assert clean('<p tabindex="0">x</p><pre tabindex="-1">y</pre><table tabindex="5">'
                 '<tr><td>z</td></tr></table>') == ('<p>x</p><pre>y</pre><table>'
                                                    '<tbody><tr><td>z</td></tr></tbody></table>')


# --- anything goes in, nothing runs -----------------------------------------------------------

_PIECES = st.sampled_from([
    "", "text", "## Heading", "```", "~~~", "    code", "- item", "> quote", "| a |", "|---|",
    '<Callout kind="tip">', "</Callout>", '<Details summary="s">', "</Details>",
    '<Figure src="/a.png" alt="a"/>', '<Figure src="https://e.example/a.png" alt="a"/>',
    '<Quiz id="q"/>', '<Branch topic="t"/>', "<Tabs>", "</Tabs>", "<script>", "</script>",
    "{x}", 'import a from "b"', "export default X", "<b onclick=alert(1)>", "[^1]: n", "x[^1]",
    "![i](data:image/png;base64,AA)", "<Callout", "  </Callout>", "\t<Quiz id=\"k\"/>",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, max_size=25))
def test_any_mix_of_lines_renders_safely_with_findings_in_range(pieces: list[str]) -> None:
    source = "\n".join(pieces)
    result = render_lesson(source, "Lesson")
    n = source.count("\n") + 1
    for finding in result.findings:
        assert finding.action in ("dropped", "escaped", "removed", "warning")
        assert finding.line is None or 1 <= finding.line <= n
    for section in result.sections:
        assert problems_in(section.html) == []
        assert clean(section.html) == section.html
    assert set(result.quiz_keys) <= {"q", "k"}
