"""The learning pages are accessible (axe-core) in light and dark, and CSP-clean.

Catalog, course, lesson (normal and focus mode), quiz, attempt (with feedback shown),
result and certificate, for a learner who has done everything, plus the course and
lesson of a course they have not enrolled in.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page, expect

from tests.e2e.browser import Account, BrowserLog
from tests.e2e.test_learning_journey import Journey, make_journey_course
from tests.factories import make_course
from webapp.extensions import db
from webapp.models import Certificate, Module, Quiz, User
from webapp.services import progress, quizzes

# All of axe's WCAG 2.x A/AA rules plus its best practices (its default set).
AXE = Axe()


@dataclass(frozen=True)
class Paths:
    catalog: str
    course: str
    lesson: str
    quiz: str
    attempt: str
    result: str
    certificate: str
    other_course: str
    other_lesson: str


@pytest.fixture
def paths(app: Flask, account: Account) -> Paths:
    """A learner who finished the course (a passed attempt, a certificate) and has a
    retake open; another published course they have not enrolled in."""
    # A practice quiz, so the attempt page can show immediate feedback to check.
    journey: Journey = make_journey_course(app, account, enrolled=True, mode="practice")
    with app.app_context():
        other = make_course("Bread Baking", modules=1, lessons=1, sections=2,
                            tags=("baking",), level="intermediate")
        other_slug, other_lesson = other.slug, other.modules[0].lessons[0].slug
        user = db.session.scalar(db.select(User).filter_by(email=account.email))
        quiz = db.session.get(Quiz, journey.quiz_id)
        for lesson in db.session.get(Module, quiz.module_id).lessons:
            for section in lesson.sections:
                progress.complete_section(user, section.id)
        first = quizzes.start_attempt(user, quiz)
        answers = {f"q{q.id}": [str(next(c.id for c in q.choices if c.is_correct))]
                   for q in quiz.questions}
        quizzes.submit_attempt(user, first.id, answers)
        retake = quizzes.start_attempt(user, quiz)
        db.session.commit()
        certificate = db.session.scalar(db.select(Certificate).filter_by(user_id=user.id))
        assert certificate is not None
        return Paths(
            catalog="/courses/",
            course=journey.course_path,
            lesson=journey.lesson_path,
            quiz=f"/quizzes/{journey.quiz_id}",
            attempt=f"/attempts/{retake.id}",
            result=f"/attempts/{first.id}/result",
            certificate=f"/certificates/{certificate.code}",
            other_course=f"/courses/{other_slug}",
            other_lesson=f"/courses/{other_slug}/lessons/{other_lesson}",
        )


def _pages(paths: Paths) -> list[tuple[str, str]]:
    return [
        ("catalog", paths.catalog),
        ("course", paths.course),
        ("lesson", paths.lesson),
        ("lesson-focus", f"{paths.lesson}?focus=1"),
        ("quiz", paths.quiz),
        ("attempt", paths.attempt),
        ("attempt-one-at-a-time", f"{paths.attempt}?one=1"),
        ("result", paths.result),
        ("certificate", paths.certificate),
        ("course-not-enrolled", paths.other_course),
        ("lesson-not-enrolled", paths.other_lesson),
        ("lesson-not-enrolled-focus", f"{paths.other_lesson}?focus=1"),
    ]


def _violations(page: Page, name: str) -> str:
    results = AXE.run(page)
    return "" if results.violations_count == 0 else f"--- {name}\n{results.generate_report()}"


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_learning_pages_have_no_accessibility_violations_and_a_clean_console(
    page: Page, browser_log: BrowserLog, account: Account, paths: Paths, scheme: str, sign_in
) -> None:
    page.emulate_media(color_scheme=scheme)
    sign_in(page, account.email, account.password)
    reports = []
    for name, path in _pages(paths):
        response = page.goto(path)
        assert response is not None and response.status == 200, name
        expect(page.get_by_role("heading", level=1)).to_have_count(1)
        page.wait_for_load_state("load")
        reports.append(_violations(page, name))
        if name == "attempt":
            # Immediate feedback shown on the page (correct and incorrect answers).
            main = page.get_by_role("main")
            groups = main.get_by_role("group")
            groups.nth(0).get_by_label("True").check()
            groups.nth(0).get_by_role("button", name="Check answer").click()
            expect(main.locator(".feedback-correct")).to_have_count(1)
            groups.nth(1).get_by_label("Oxygen").check()
            groups.nth(1).get_by_role("button", name="Check answer").click()
            expect(main.locator(".feedback-incorrect")).to_have_count(1)
            reports.append(_violations(page, "attempt-feedback"))
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
        scheme == "dark"
    )
    problems = [r for r in reports if r]
    assert problems == [], "\n".join(problems)
    browser_log.assert_clean()


# Code in the languages lessons use, with the token kinds that carry their own colours:
# comments, keywords, operator words, strings, numbers, builtins, decorators, prompts,
# console output, tracebacks, inserted and deleted lines, tags and attributes.
CODE_LESSON = '''Code of every colour.

```python
@dataclass
class Stock:  # a comment
    """A docstring."""
    items: dict[str, int] = field(default_factory=dict)

    def count(self, name: str) -> int:
        return self.items.get(name, 0) if name in self.items and not False else -1 ** 2
print(f"{len([1, 2.5, 0x1F])!r:>4}", None, True, r"\\d+", b"\\x00")
```

```pycon
>>> 1 / 0
Traceback (most recent call last):
  File "<stdin>", line 1, in <module>
ZeroDivisionError: division by zero
>>> print("output")
output
```

```diff
--- a/notes.txt
+++ b/notes.txt
@@ -1,2 +1,2 @@
-old line
+new line
```

```html
<!-- a comment -->
<a href="/courses/" class="button">Catalog &amp; more</a>
```

```bash
#!/bin/sh
export NAME="value" && echo "$NAME" | grep -c 'v' > /dev/null
```

## A table and a callout

| kind | example |
| --- | --- |
| tuple | `(1, 2)` |

<Callout kind="tip">
A tip with `inline code` and a [link](/courses/).
</Callout>
'''


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_lesson_with_code_has_enough_colour_contrast(
    page: Page, app: Flask, account: Account, scheme: str, sign_in
) -> None:
    """axe's color-contrast rule (the one Lighthouse failed on this page) on a lesson with
    highlighted code of several languages, for an enrolled learner, light and dark."""
    journey: Journey = make_journey_course(app, account, enrolled=True)
    with app.app_context():
        from webapp.models import Lesson
        from webapp.services import courses

        lesson = db.session.scalar(db.select(Lesson).filter_by(
            slug=journey.lesson_path.rsplit("/", 1)[1]))
        courses.set_lesson_source(None, lesson, CODE_LESSON)
        db.session.commit()
    page.emulate_media(color_scheme=scheme)
    sign_in(page, account.email, account.password)
    page.goto(journey.lesson_path)
    expect(page.locator(".highlight")).to_have_count(5)
    results = AXE.run(page, options={"runOnly": {"type": "rule", "values": ["color-contrast"]}})
    assert results.violations_count == 0, results.generate_report()


WIDE_LESSON = '''Code and a table wider than a phone.

```python
result = some_function_with_a_long_name(first_argument, second_argument, third_argument)
```

| column one | column two | column three | column four | column five | column six |
|---|---|---|---|---|---|
| a long cell value | another long cell value | and another one | more words | more | end |
'''


def test_at_phone_width_scrolling_code_and_tables_pass_axe(page: Page, app: Flask,
                                                            account: Account, sign_in) -> None:
    """Code blocks and tables scroll inside their box at 375 px; keyboard users reach
    them (tabindex), so axe's scrollable-region-focusable rule holds with every rule on."""
    journey: Journey = make_journey_course(app, account, enrolled=True)
    with app.app_context():
        from webapp.models import Lesson
        from webapp.services import courses

        lesson = db.session.scalar(db.select(Lesson).filter_by(
            slug=journey.lesson_path.rsplit("/", 1)[1]))
        courses.set_lesson_source(None, lesson, WIDE_LESSON)
        db.session.commit()
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, account.email, account.password)
    page.goto(journey.lesson_path)
    code = page.locator(".lesson-body pre").first
    assert code.evaluate("e => e.scrollWidth > e.clientWidth"), "the code should scroll here"
    assert page.locator(".lesson-body table").evaluate("e => e.scrollWidth > e.clientWidth")
    results = AXE.run(page)
    assert results.violations_count == 0, results.generate_report()
    code.focus()
    page.keyboard.press("ArrowRight")
    expect(code).to_be_focused()
