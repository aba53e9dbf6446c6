"""An editor authors a complete course in the browser — course, module, lesson with every
component, a quiz — publishes it, and a learner takes it; with JavaScript (live
preview, htmx outline) and without it (the Preview button, plain forms).
Also: the authoring pages pass axe-core and keep the console clean."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import Account, BrowserLog
from tests.factories import DEFAULT_PASSWORD, make_user

AXE = Axe()
LESSON_SOURCE = """Welcome to the lesson.

import Chart from './chart'

## Ideas

<Callout kind="tip">
Keep a notebook.
</Callout>

<Details summary="Show the answer">
It is **42**.
</Details>

<Figure src="/static/img/favicon.svg" alt="The Tangent logo" caption="Our logo"/>

## Practice

<Branch topic="Spaced repetition"/>

<Quiz id="final-check"/>

```python
print("hello")
```
"""


@pytest.fixture
def editor(app: Flask) -> Account:
    with app.app_context():
        make_user("author@example.org", role="editor", display_name="Ada Author")
    return Account("author@example.org", DEFAULT_PASSWORD, "Ada Author")


def sign_out(page: Page) -> None:
    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()


def author_course(page: Page, *, js: bool, title: str) -> None:
    main = page.get_by_role("main")
    page.get_by_role("banner").get_by_role("link", name="Authoring").click()
    main.get_by_role("button", name="New course").click()
    main.get_by_label("Title").fill(title)
    main.get_by_label("Summary").fill("Learn how to learn, in one short lesson.")
    main.get_by_label("Tags").fill("Study skills")
    main.get_by_role("button", name="Create draft").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(main).to_contain_text("The course has no lessons yet.")

    if js:
        page.evaluate("window.__sameDocument = true")
    main.get_by_label("New module").fill("Foundations")
    main.get_by_role("button", name="Add module").click()
    expect(main.get_by_label("Title of module 1")).to_have_value("Foundations")
    if js:
        assert page.evaluate("window.__sameDocument === true"), "htmx should swap the outline"
    main.get_by_label("New lesson in “Foundations”").fill("How memory works")
    main.get_by_role("button", name="Add lesson").click()

    # The lesson editor.
    expect(page.get_by_role("heading", level=1)).to_have_text("How memory works")
    source = main.get_by_label("Lesson text (Markdown)")
    preview = page.locator("#preview")
    source.fill(LESSON_SOURCE)
    if js:
        # The live preview follows the typing (debounced), without a click.
        page.evaluate("window.__sameDocument = true")
    else:
        main.get_by_role("button", name="Preview without saving").click()
    expect(preview.locator("aside.callout-tip")).to_contain_text("Keep a notebook.")
    expect(preview.locator("details summary")).to_have_text("Show the answer")
    expect(preview.locator("figure img")).to_have_attribute("alt", "The Tangent logo")
    expect(preview.locator(".branch-suggestion")).to_contain_text("Spaced repetition")
    expect(preview.locator(".highlight")).to_contain_text('print("hello")')
    expect(preview.locator(".findings")).to_contain_text("Line 3")
    expect(preview.locator(".findings")).to_contain_text("import/export")
    expect(preview.locator(".findings")).to_contain_text("final-check")
    # The live preview lands in the preview panel, not in the place of the button that
    # once shared its id: one #preview, the panel, and the button still there.
    expect(preview).to_have_count(1)
    assert preview.evaluate("el => el.tagName") == "SECTION"
    expect(main.get_by_role("button", name="Preview without saving")).to_be_visible()
    if js:
        assert page.evaluate("window.__sameDocument === true")
    main.get_by_role("button", name="Save lesson").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved as version 2")

    # The quiz the lesson embeds.
    main.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=title).click()
    main.get_by_role("navigation", name="Course editing").get_by_role("link",
                                                                      name="Quizzes").click()
    main.get_by_role("button", name="New quiz in “Foundations”").click()
    main.get_by_label("Title").fill("Final check")
    main.get_by_label("Quiz id").fill("final-check")
    main.get_by_role("button", name="Create the quiz").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Final check")
    main.get_by_label("Add a question").select_option(label="Single choice")
    main.get_by_role("button", name="Add question", exact=True).click()
    main.get_by_label("Question").fill("Where does practice stick best?")
    main.get_by_label("Choice 1", exact=True).fill("Cramming the night before")
    main.get_by_label("Choice 2", exact=True).fill("Spaced over several days")
    main.get_by_label("Correct (choice 2)").check()
    main.get_by_role("button", name="Add question", exact=True).click()
    expect(main).to_contain_text("Where does practice stick best?")

    # Publish: every check passes now.
    main.get_by_role("navigation", name="Course editing").get_by_role(
        "link", name="Course and outline").click()
    expect(main).to_contain_text("Every check passes")
    main.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status").first).to_contain_text("Published")


def take_course(page: Page, *, title: str) -> None:
    main = page.get_by_role("main")
    page.goto("/courses/")
    main.get_by_role("link", name=title).click()
    main.get_by_role("button", name="Enroll").click()
    main.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("How memory works")
    page.goto(page.url.split("?")[0] + "?section=ideas")
    expect(main.locator("aside.callout-tip")).to_contain_text("Keep a notebook.")
    page.goto(page.url.split("?")[0] + "?section=practice")
    main.get_by_role("link", name="Take the quiz: final-check").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Final check")
    main.get_by_role("button", name="Start the quiz", exact=True).click()
    main.get_by_label("Spaced over several days").check()
    main.get_by_role("button", name="Submit answers").click()
    expect(main.get_by_role("heading", level=2, name="You passed")).to_be_visible()


@pytest.mark.parametrize("js", [True, False], ids=["javascript", "no-javascript"])
def test_editor_authors_publishes_and_learner_takes_the_course(
    request: pytest.FixtureRequest, page: Page, editor: Account, account: Account, js: bool,
    sign_in,
) -> None:
    if not js:
        page = request.getfixturevalue("no_js_page")
    title = f"Learning to learn ({'js' if js else 'no js'})"
    sign_in(page, editor.email, editor.password)
    author_course(page, js=js, title=title)
    sign_out(page)
    sign_in(page, account.email, account.password)
    take_course(page, title=title)


def test_authoring_pages_are_accessible_and_csp_clean(
    page: Page, browser_log: BrowserLog, editor: Account, sign_in,
) -> None:
    sign_in(page, editor.email, editor.password)
    author_course(page, js=True, title="Accessible authoring")
    main = page.get_by_role("main")
    visited = []
    for name in ("Course and outline", "Quizzes", "History", "Co-editors", "Export and import"):
        main.get_by_role("navigation", name="Course editing").get_by_role("link",
                                                                          name=name).click()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        visited.append(page.url)
        results = AXE.run(page)
        assert results.violations_count == 0, (name, results.generate_report())
    main.get_by_role("navigation", name="Course editing").get_by_role(
        "link", name="Course and outline").click()
    main.get_by_role("link", name="How memory works").click()
    for target in ("editor", "history"):
        if target == "history":
            main.get_by_role("link", name="History").first.click()
        results = AXE.run(page)
        assert results.violations_count == 0, (target, results.generate_report())
    page.goto("/edit/")
    assert AXE.run(page).violations_count == 0
    assert len(visited) == 5
    browser_log.assert_clean()
