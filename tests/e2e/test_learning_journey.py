"""The learner's journey end to end — enroll, read, mark sections, quiz, certificate —
with JavaScript, without it and with the keyboard alone; and focus mode in the browser."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from tests.e2e.browser import Account, BrowserLog
from tests.factories import enroll, make_course, make_quiz
from webapp.extensions import db
from webapp.models import User
from webapp.services import courses
from webapp.services.quizzes import QuestionSpec

COURSE_TITLE = "Kitchen Chemistry"
QUIZ_TITLE = "Check: kitchen basics"
SECTIONS = 3
CERTIFICATE_URL = re.compile(r"/certificates/[\w-]+$")


@dataclass(frozen=True)
class Journey:
    """The small course every test here uses (1 module, 1 lesson of 3 sections, a quiz)."""

    course_slug: str
    lesson_slug: str
    quiz_id: int
    account: Account

    @property
    def course_path(self) -> str:
        return f"/courses/{self.course_slug}"

    @property
    def lesson_path(self) -> str:
        return f"{self.course_path}/lessons/{self.lesson_slug}"


def make_journey_course(app: Flask, account: Account, *, enrolled: bool = False,
                        mode: str = "graded") -> Journey:
    """The course with a two-question quiz (true/false, then single choice), graded
    unless ``mode="practice"``."""
    with app.app_context():
        course = make_course(COURSE_TITLE, modules=1, lessons=1, sections=SECTIONS,
                             publish=False)
        module = course.modules[0]
        quiz = make_quiz(module, title=QUIZ_TITLE, commit=False, mode=mode, questions=[
            QuestionSpec("true_false", "Water boils at a lower temperature on a mountain.",
                         explanation="Air pressure is lower up there.",
                         choices=[("True", True), ("False", False)]),
            QuestionSpec("single", "Which gas makes bread rise?",
                         explanation="Yeast gives off carbon dioxide.",
                         choices=[("Oxygen", False), ("Carbon dioxide", True),
                                  ("Nitrogen", False)]),
        ])
        courses.publish_course(None, course)
        db.session.commit()
        if enrolled:
            enroll(db.session.scalar(db.select(User).filter_by(email=account.email)), course)
        return Journey(course.slug, module.lessons[0].slug, quiz.id, account)


@pytest.fixture
def journey(app: Flask, account: Account) -> Journey:
    return make_journey_course(app, account)


# --- keyboard helpers --------------------------------------------------------------------------


def _is_focused(locator: Locator) -> bool:
    return locator.evaluate("element => element === document.activeElement")


def _focused_description(page: Page) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement;"
        " return e ? `${e.tagName} ${e.id} ${(e.textContent || '').trim().slice(0, 40)}` : ''; }"
    )


def tab_to(page: Page, target: Locator, *, backwards: bool = False, limit: int = 60) -> None:
    """Press Tab (or Shift+Tab) until ``target`` has the keyboard focus."""
    key = "Shift+Tab" if backwards else "Tab"
    target.wait_for()
    for _ in range(limit):
        if _is_focused(target):
            return
        page.keyboard.press(key)
    raise AssertionError(f"{key} never reached {target}; focus is on {_focused_description(page)}")


def press(page: Page, target: Locator, key: str = "Enter") -> None:
    """Tab to a control and press it with the keyboard."""
    tab_to(page, target)
    page.keyboard.press(key)


def choose_radio(page: Page, radio: Locator) -> None:
    """Tab into the radio group, then the arrow keys move to ``radio``; Space checks it."""
    # After an htmx swap, wait until htmx has settled the new content: keys pressed while
    # it still swaps or settles can land on the element being replaced.
    page.wait_for_function("() => !document.querySelector("
                           "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')")
    name = radio.get_attribute("name")
    group = page.locator(f'input[type="radio"][name="{name}"]')
    for _ in range(60):
        if group.evaluate_all("els => els.includes(document.activeElement)"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError(f"Tab never reached the radio group {name}")
    for _ in range(group.count()):
        if _is_focused(radio):
            break
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    expect(radio).to_be_focused()
    expect(radio).to_be_checked()


# --- the journey --------------------------------------------------------------------------------


def _progress_text(page: Page) -> Locator:
    return page.locator("#course-progress .progress-text")


def _journey(page: Page, journey: Journey, *, js: bool, keyboard: bool = False) -> None:
    main = page.get_by_role("main")

    def act(target: Locator) -> None:
        if keyboard:
            press(page, target)
        else:
            target.click()

    # Catalog → course page → enroll → Start.
    page.goto("/courses/")
    act(main.get_by_role("link", name=COURSE_TITLE))
    expect(page.get_by_role("heading", level=1)).to_have_text(COURSE_TITLE)
    act(main.get_by_role("button", name="Enroll"))
    expect(page.get_by_role("status")).to_contain_text(f"You are enrolled in “{COURSE_TITLE}”")
    expect(_progress_text(page)).to_contain_text(f"0 of {SECTIONS} sections")
    act(main.get_by_role("button", name="Start"))

    # The lesson: every section marked done; the progress bar follows.
    expect(page.get_by_role("heading", level=1)).to_have_text("Lesson 1.1")
    if js:
        page.evaluate("window.__sameDocument = true")
    for n in range(1, SECTIONS + 1):
        mark = main.get_by_role("button", name="Mark as done")
        expect(mark).to_have_count(SECTIONS - n + 1)
        button = mark.first
        button_id = button.get_attribute("id")
        act(button)
        expect(_progress_text(page)).to_contain_text(f"{n} of {SECTIONS} sections")
        expect(page.locator(f"#{button_id}")).to_have_text(re.compile("Done"))
        expect(page.locator("#course-progress-bar")).to_have_attribute("value", str(n))
        expect(page.locator("#toc .is-done")).to_have_count(n)
        if js:
            # htmx swapped the section state and the progress bar: no page load.
            assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        if keyboard:
            # Keyboard focus stays where it was (on the section's state), not lost to <body>.
            expect(page.locator(f"#{button_id}")).to_be_focused()
    expect(main.get_by_role("button", name="Mark as done")).to_have_count(0)
    expect(_progress_text(page)).to_contain_text("100 %")

    # The path goes on to the module's quiz, not past it.
    act(main.get_by_role("link", name=f"Next: quiz “{QUIZ_TITLE}”"))
    expect(page.get_by_role("heading", level=1)).to_have_text(QUIZ_TITLE)
    start = main.get_by_role("button", name="Start the quiz", exact=True)
    if keyboard:
        # Shift+Tab walks back through the same controls.
        tab_to(page, main.get_by_role("button", name="Start, one question at a time"))
        tab_to(page, start, backwards=True)
        page.keyboard.press("Enter")
    else:
        start.click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(QUIZ_TITLE)
    first = main.get_by_role("group", name=re.compile("Water boils"))
    second = main.get_by_role("group", name=re.compile("bread rise"))
    if keyboard:
        choose_radio(page, first.get_by_label("True"))
        choose_radio(page, second.get_by_label("Carbon dioxide"))
    else:
        first.get_by_label("True").check()
        second.get_by_label("Carbon dioxide").check()
    act(main.get_by_role("button", name="Submit answers"))

    # The result, and the certificate it links to.
    expect(page).to_have_url(re.compile(r"/attempts/\d+/result$"))
    expect(main.get_by_role("heading", level=2, name="You passed")).to_be_visible()
    expect(main.locator(".result-score")).to_contain_text("100 %")
    act(main.get_by_role("button", name="View your certificate"))
    expect(page).to_have_url(CERTIFICATE_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text(journey.account.display_name)
    expect(main).to_contain_text(COURSE_TITLE)

    # The course page now shows the quiz as passed and the progress complete.
    page.goto(journey.course_path)
    expect(main.get_by_text("Passed", exact=True)).to_be_visible()


def test_learner_journey_with_javascript(
    page: Page, browser_log: BrowserLog, journey: Journey, sign_in
) -> None:
    sign_in(page, journey.account.email, journey.account.password)
    _journey(page, journey, js=True)
    assert page.evaluate("typeof window.htmx") == "object"
    browser_log.assert_clean()


def test_learner_journey_without_javascript(no_js_page: Page, journey: Journey, sign_in) -> None:
    sign_in(no_js_page, journey.account.email, journey.account.password)
    _journey(no_js_page, journey, js=False)
    assert no_js_page.evaluate("typeof window.htmx") == "undefined"


def test_learner_journey_with_the_keyboard_only(
    page: Page, browser_log: BrowserLog, journey: Journey
) -> None:
    # Signing in by keyboard: the login form puts focus in its first field.
    page.goto("/login")
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    page.keyboard.type(journey.account.email)
    page.keyboard.press("Tab")
    page.keyboard.type(journey.account.password)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    _journey(page, journey, js=True, keyboard=True)
    browser_log.assert_clean()


# --- focus mode ----------------------------------------------------------------------------------


def _expect_focus_mode(page: Page, on: bool) -> None:
    header = page.locator("header.site-header")
    if on:
        expect(page.locator("body")).to_have_class(re.compile(r"\bfocus-mode\b"))
        expect(header).to_have_count(0)
        expect(page.locator(".lesson-section")).to_have_count(1)
        expect(page.get_by_role("button", name="Leave focus mode")).to_be_visible()
    else:
        expect(page.locator("body")).not_to_have_class(re.compile(r"\bfocus-mode\b"))
        expect(header).to_be_visible()
        expect(page.locator(".lesson-section")).to_have_count(SECTIONS)
        expect(page.get_by_role("button", name="Focus mode", exact=True)).to_be_visible()


def test_f_key_enters_focus_mode_and_escape_leaves_it(
    page: Page, browser_log: BrowserLog, app: Flask, account: Account, sign_in
) -> None:
    journey = make_journey_course(app, account, enrolled=True)
    sign_in(page, account.email, account.password)
    page.goto(journey.lesson_path)
    _expect_focus_mode(page, False)

    page.keyboard.press("f")
    _expect_focus_mode(page, True)
    # The choice is remembered for this learner.
    page.goto(journey.lesson_path)
    _expect_focus_mode(page, True)

    page.keyboard.press("Escape")
    _expect_focus_mode(page, False)
    page.goto(journey.lesson_path)
    _expect_focus_mode(page, False)
    browser_log.assert_clean()


def test_typing_f_in_the_notes_does_not_toggle_focus_mode(
    page: Page, browser_log: BrowserLog, app: Flask, account: Account, sign_in
) -> None:
    journey = make_journey_course(app, account, enrolled=True)
    sign_in(page, account.email, account.password)
    page.goto(journey.lesson_path)
    notes = page.get_by_role("textbox", name=re.compile("note", re.IGNORECASE))
    notes.focus()
    page.keyboard.type("fff")
    expect(notes).to_have_value("fff")
    # The note saves itself (debounced); the page never switched layouts.
    expect(page.locator("#note-status")).to_contain_text("Saved.")
    _expect_focus_mode(page, False)
    page.keyboard.press("Escape")
    _expect_focus_mode(page, False)
    browser_log.assert_clean()


def test_sections_are_marked_done_in_focus_mode(
    page: Page, browser_log: BrowserLog, app: Flask, account: Account, sign_in
) -> None:
    journey = make_journey_course(app, account, enrolled=True)
    sign_in(page, account.email, account.password)
    page.goto(journey.lesson_path)
    page.keyboard.press("f")
    _expect_focus_mode(page, True)
    page.evaluate("window.__sameDocument = true")
    main = page.get_by_role("main")
    for n in range(1, SECTIONS + 1):
        expect(page.get_by_text(f"Section {n} of {SECTIONS}")).to_be_visible()
        press(page, main.get_by_role("button", name="Mark as done"))
        expect(_progress_text(page)).to_contain_text(f"{n} of {SECTIONS} sections")
        expect(main.get_by_role("button", name="Mark as done")).to_have_count(0)
        assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
        next_link = main.locator(".section-next")
        if n < SECTIONS:
            press(page, next_link)
            _expect_focus_mode(page, True)
            page.evaluate("window.__sameDocument = true")
        else:
            expect(next_link).to_have_text(re.compile("Next: quiz"))
    browser_log.assert_clean()


def test_focus_query_works_without_javascript(no_js_page: Page, journey: Journey) -> None:
    page = no_js_page
    page.goto(f"{journey.lesson_path}?focus=1")
    _expect_focus_mode(page, True)
    # Moving through the sections stays in focus mode.
    page.get_by_role("navigation", name="Sections").get_by_role("link", name=re.compile("Next")) \
        .click()
    _expect_focus_mode(page, True)
    expect(page).to_have_url(re.compile(r"focus=1"))
    expect(page.get_by_text(f"Section 2 of {SECTIONS}")).to_be_visible()
    page.get_by_role("button", name="Leave focus mode").click()
    _expect_focus_mode(page, False)


def test_one_question_at_a_time_with_the_keyboard(
    page: Page, browser_log: BrowserLog, app: Flask, account: Account, sign_in
) -> None:
    journey = make_journey_course(app, account, enrolled=True)
    sign_in(page, account.email, account.password)
    page.goto(f"/quizzes/{journey.quiz_id}")
    main = page.get_by_role("main")
    press(page, main.get_by_role("button", name="Start, one question at a time"))
    expect(main.get_by_text("Question 1 of 2")).to_be_visible()
    choose_radio(page, main.get_by_label("True"))
    page.evaluate("window.__sameDocument = true")
    press(page, main.get_by_role("button", name="Next"))
    expect(main.get_by_text("Question 2 of 2")).to_be_visible()
    # htmx swapped only the form, and keyboard focus moved to the question now shown.
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    question = main.get_by_role("group", name=re.compile("Question 2 .*bread rise"))
    expect(question).to_be_visible()
    expect(question).to_be_focused()
    choose_radio(page, main.get_by_label("Carbon dioxide"))
    # The first answer rode along and is kept when going back.
    press(page, main.get_by_role("button", name="Previous"))
    expect(main.get_by_text("Question 1 of 2")).to_be_visible()
    expect(main.get_by_label("True")).to_be_checked()
    press(page, main.get_by_role("button", name="Next"))
    expect(main.get_by_label("Carbon dioxide")).to_be_checked()
    press(page, main.get_by_role("button", name="Submit answers"))
    expect(main.get_by_role("heading", level=2, name="You passed")).to_be_visible()
    browser_log.assert_clean()


def test_screen_reader_only_text_is_hidden_on_screen(
    page: Page, app: Flask, account: Account, sign_in
) -> None:
    """"(done)" after a finished section is for screen readers: it must take no space
    (a stylesheet the browser could not parse once showed it after every tick)."""
    journey = make_journey_course(app, account, enrolled=True)
    sign_in(page, account.email, account.password)
    page.goto(journey.lesson_path)
    press(page, page.get_by_role("main").get_by_role("button", name="Mark as done").first)
    hidden = page.locator(".visually-hidden", has_text="(done)")
    expect(hidden).to_have_count(1)
    box = hidden.bounding_box()
    assert box is not None and box["width"] <= 1 and box["height"] <= 1, box
    # Still in the accessibility tree: hidden from sight, not from screen readers.
    assert hidden.evaluate("el => getComputedStyle(el).display") != "none"
