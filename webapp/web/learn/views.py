"""The learner's pages: course, lesson (normal and focus mode), progress actions, dashboard.

Views call services and commit once. A POST answers an htmx fragment request
with its partial and anything else with a 303 back to the page it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from webapp import htmx
from webapp.database import reset_begin_mode, run_in_transaction, set_read_only
from webapp.extensions import db
from webapp.models import Lesson, Quiz, Section, User
from webapp.services import accounts, audio, branches, courses, progress, reading
from webapp.services.community import qa
from webapp.services.completion import CourseProgress
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.settings import get_settings
from webapp.web.forms import ActionForm
from webapp.web.learn import bp
from webapp.web.learn.forms import FocusForm, NoteForm


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


# --- course page, enrollment ----------------------------------------------------------


def _lesson_url(course_slug: str, lesson: Lesson | str, section_key: str | None = None) -> str:
    """A lesson's address (``lesson``: the lesson or its slug), at a section if given."""
    slug = lesson if isinstance(lesson, str) else lesson.slug
    url = url_for("learn.lesson", course_slug=course_slug, lesson_slug=slug)
    return f"{url}#{section_key}" if section_key else url


@bp.get("/courses/<slug>")
def course(slug: str):
    page = reading.course_page(slug)
    user = _user()
    state = reading.course_state(user, page)
    enrolled = state.enrolled
    passed = state.passed_quiz_ids
    resume = reading.resume_point(page, state)
    return render_template(
        "learn/course.html",
        course=page,
        enrollment=enrolled,
        states=state.lesson_states or {},
        course_progress=(CourseProgress(done=state.done, total=page.section_total)
                         if enrolled else None),
        passed=passed,
        # What stands between the learner and the certificate: quizzes not passed yet.
        quizzes_left=[quiz for quiz in page.quizzes
                      if enrolled and quiz.answerable and quiz.id not in passed],
        certificate=state.certificate,
        module_quizzes=page.module_quizzes(),
        resume_url=_lesson_url(page.slug, resume[0], resume[1]) if resume else None,
        resuming=enrolled and state.last_lesson_id is not None,
        # Made only for those shown a form: a CSRF token would start a session.
        form=ActionForm() if user.is_authenticated else None,
    )


ENROLLED = "You are enrolled in “{title}”. Your progress is saved as you go."
UNENROLLED = "You left “{title}”. Your progress is kept if you enroll again."


def _change_enrollment(slug: str, change, message: str):
    course = courses.get_published_course(slug)
    change(_user(), course)
    db.session.commit()
    flash(message.format(title=course.title), "success")
    return htmx.redirect(url_for("learn.course", slug=slug))


@bp.post("/courses/<slug>/enroll")
@login_required
def enroll(slug: str):
    try:
        accounts.require_verified(
            _user(), required=get_settings(current_app).email_verification == "required")
    except accounts.VerificationRequired:
        return htmx.redirect(url_for("learn.verify_first", slug=slug))
    return _change_enrollment(slug, progress.enroll, ENROLLED)


@bp.get("/courses/<slug>/verify-first")
@login_required
def verify_first(slug: str):
    """Why enrolling was refused (TANGENT_EMAIL_VERIFICATION=required), with a resend button."""
    course = courses.get_published_course(slug)
    if current_user.email_verified_at is not None:
        return redirect(url_for("learn.course", slug=slug), 303)
    return render_template("learn/verify_required.html", course=course, form=ActionForm())


@bp.get("/courses/<slug>/unenroll")
@login_required
def confirm_unenroll(slug: str):
    course = courses.get_published_course(slug)
    if progress.get_enrollment(_user(), course.id) is None:
        flash("You are not enrolled in this course.", "info")
        return htmx.redirect(url_for("learn.course", slug=slug))
    return render_template("learn/unenroll.html", course=course, form=ActionForm())


@bp.post("/courses/<slug>/unenroll")
@login_required
def unenroll(slug: str):
    return _change_enrollment(slug, progress.unenroll, UNENROLLED)


# --- lesson page ---------------------------------------------------------------------------


def _stored_focus() -> bool:
    return bool(current_user.is_authenticated and current_user.focus_mode)


def _focus_param(effective: bool) -> str | None:
    """The ``focus`` query value links must carry: only when it differs from the stored choice."""
    if effective == _stored_focus():
        return None
    return "1" if effective else "0"


@dataclass(frozen=True)
class Controls:
    """What a section's state form shows."""

    section: Section
    done: bool
    focus: bool
    next_href: str | None
    next_label: str | None


@dataclass(frozen=True)
class LessonLinks:
    """Builds the lesson page's links for one layout (normal or focus)."""

    course_slug: str
    lesson_slug: str
    focus: bool
    param: str | None

    def lesson(self, lesson: Lesson) -> str:
        return url_for("learn.lesson", course_slug=self.course_slug, lesson_slug=lesson.slug,
                       focus=self.param)

    def section(self, section: Section, anchor: str) -> str:
        if self.focus:
            return url_for("learn.lesson", course_slug=self.course_slug,
                           lesson_slug=self.lesson_slug, section=section.key, focus=self.param)
        return f"#{anchor}"

    def controls(
        self, section: Section, done: bool, next_section: Section | None,
        next_anchor: str | None, next_lesson: Lesson | None, next_quiz: Quiz | None = None,
    ) -> Controls:
        # The path goes through the module's quiz before the next module's lessons.
        if next_section is not None:
            href, label = self.section(next_section, next_anchor or next_section.key), \
                f"Next: {next_section.title}"
        elif next_quiz is not None:
            href, label = url_for("quiz.show", quiz_id=next_quiz.id), \
                f"Next: quiz “{next_quiz.title}”"
        elif next_lesson is not None:
            href, label = self.lesson(next_lesson), f"Next lesson: {next_lesson.title}"
        else:
            href, label = url_for("learn.course", slug=self.course_slug), "Back to the course"
        return Controls(section=section, done=done, focus=self.focus, next_href=href,
                        next_label=label)


def _quiz_after(lesson: Lesson, next_lesson: Lesson | None) -> Quiz | None:
    """The module quiz on the path after ``lesson``; no query when the next lesson is in
    the same module (most lesson pages)."""
    if next_lesson is not None and next_lesson.module_id == lesson.module_id:
        return None
    return courses.quiz_after(lesson)


_ANCHORS: WeakKeyDictionary[reading.LessonPage, tuple[dict[int, str], dict[int, str]]] = \
    WeakKeyDictionary()


def _anchors(page: reading.LessonPage) -> tuple[dict[int, str], dict[int, str]]:
    """(section id → its wrapper's element id, section id → the id ``#…`` links use).

    ``#<key>`` must land on the section: a section that starts with a heading
    carries ``id="<key>"`` in its stored HTML already, so its wrapper takes
    another id; the introduction has no heading, so its wrapper takes the key.
    Worked out once per cached page.
    """
    found = _ANCHORS.get(page)
    if found is not None:
        return found
    sections = page.sections
    wrappers, anchors = {}, {}
    for section in sections:
        marker = f'id="{section.key}"'
        if marker in section.html:
            wrappers[section.id], anchors[section.id] = f"step-{section.key}", section.key
        elif any(marker in other.html for other in sections):
            wrappers[section.id] = anchors[section.id] = f"step-{section.key}"
        else:
            wrappers[section.id] = anchors[section.id] = section.key
    _ANCHORS[page] = (wrappers, anchors)
    return wrappers, anchors


def _lesson_page(page: reading.LessonPage, *, status: int = 200,
                 note_form: NoteForm | None = None, note_error: str | None = None,
                 note_conflict: bool = False):
    user = _user()
    lesson, course = page.lesson, page.course
    sections = page.sections
    state = reading.reader_state(user, page)
    enrolled = state.enrolled
    done_ids = state.done_ids
    prev_lesson, next_lesson, next_quiz = page.prev_lesson, page.next_lesson, page.next_quiz
    note = progress.get_note(user, lesson.id)
    narration = page.narration
    narration_url = (url_for("audio.asset", asset_id=narration.id) if narration is not None
                     and audio.may_listen(user, course, enrolled=enrolled) else None)

    explicit = request.args.get("focus")
    focus = explicit == "1" if explicit in ("0", "1") else _stored_focus()
    links = LessonLinks(course.slug, lesson.slug, focus, _focus_param(focus))
    # The "Go deeper" panel is part of the normal layout only (focus mode hides panels).
    may_branch = not focus and branches.may_request(user, course, enrolled=enrolled)

    # Where the learner is: the section asked for, else their last position in this
    # lesson, else the first section not done yet.
    position = next((s for s in sections if s.id == state.position_id), None)
    current = (
        next((s for s in sections if s.key == request.args.get("section")), None)
        or position
        or next((s for s in sections if s.id not in done_ids), None)
        or (sections[0] if sections else None)
    )
    wrappers, anchors = _anchors(page)
    controls = {}
    for i, section in enumerate(sections):
        nxt = sections[i + 1] if i + 1 < len(sections) else None
        controls[section.id] = links.controls(
            section, section.id in done_ids, nxt, anchors.get(nxt.id) if nxt else None,
            next_lesson, next_quiz,
        )
    index = sections.index(current) if current is not None else 0
    if note_form is None:
        note_form = NoteForm(formdata=None, source=note.source if note else "",
                             version=note.version if note else 0)
    body = render_template(
        "learn/lesson.html",
        course=course,
        lesson=lesson,
        sections=sections,
        current=current,
        current_index=index,
        prev_section=sections[index - 1] if current is not None and index > 0 else None,
        anchors=anchors,
        wrappers=wrappers,
        controls=controls,
        done_ids=done_ids,
        enrolled=enrolled,
        course_progress=reading.course_progress(page, state) if enrolled else None,
        position=position,
        prev_lesson=prev_lesson,
        next_lesson=next_lesson,
        next_quiz=next_quiz,
        bookmarked=state.bookmarked,
        note=note,
        note_form=note_form,
        note_error=note_error,
        note_conflict=note_conflict,
        focus=focus,
        links=links,
        action_form=ActionForm(),
        narration=narration,
        narration_url=narration_url,
        may_branch=may_branch,
        branch_suggestions=list(page.branch_suggestions) if may_branch else [],
        branch_items=(branches.visible_branches(user, lesson, enrolled=enrolled)
                      if not focus else []),
        # The questions panel (normal layout): one query, for readers who may see them.
        lesson_questions=(qa.lesson_questions(lesson.id)
                          if not focus and user.is_authenticated else None),
    )
    if enrolled and current is not None and (
        state.last_section_id != current.id or state.last_lesson_id != lesson.id
    ):
        _record_position(current.id)
    return make_response(body, status)


def _record_position(section_id: int) -> None:
    """Remember the reading position after a page view.

    GET requests read in a deferred transaction; upgrading it to a write could
    fail under concurrent writers on SQLite, so the read transaction ends first
    and the write gets a short transaction of its own (retried if busy).
    """
    db.session.commit()
    token = set_read_only(False)
    try:
        def work() -> None:
            section = db.session.get(Section, section_id)
            if section is not None:
                progress.record_position(_user(), section)

        run_in_transaction(db.session, work)
    finally:
        reset_begin_mode(token)


@bp.get("/courses/<course_slug>/lessons/<lesson_slug>")
def lesson(course_slug: str, lesson_slug: str):
    return _lesson_page(reading.lesson_page(course_slug, lesson_slug))


@bp.post("/lessons/<int:lesson_id>/focus")
def set_focus(lesson_id: int):
    """Turn focus mode on or off (remembered for signed-in learners, in the URL otherwise)."""
    lesson = courses.get_published_lesson_by_id(lesson_id)
    form = FocusForm()
    if not form.validate():
        abort(400)
    on = form.focus.data == "1"
    param = None
    if current_user.is_authenticated:
        progress.set_focus_mode(_user(), on)
        db.session.commit()
    elif on:
        param = "1"  # nothing to remember it in: the URL carries it
    section = form.section.data or None
    url = url_for("learn.lesson", course_slug=lesson.course.slug, lesson_slug=lesson.slug,
                  section=section, focus=param)
    return htmx.redirect(f"{url}#{section}" if section and not on else url)


# --- section state, bookmark, note ---------------------------------------------------------


@bp.post("/sections/<int:section_id>/complete")
@login_required
def complete_section(section_id: int):
    return _section_state(progress.complete_section(_user(), section_id))


@bp.post("/sections/<int:section_id>/undo")
@login_required
def uncomplete_section(section_id: int):
    """Take back "Mark as done" (the same partial, in the not-done state)."""
    return _section_state(progress.uncomplete_section(_user(), section_id))


def _section_state(state: progress.SectionState):
    db.session.commit()
    lesson = state.lesson
    course_slug = lesson.course.slug
    focus = request.form.get("focus") == "1"
    links = LessonLinks(course_slug, lesson.slug, focus, _focus_param(focus))
    section = state.section
    back = (links.section(section, section.key) if focus
            else _lesson_url(course_slug, lesson, section.key))
    if not htmx.is_partial():
        if state.done and state.certificate is not None and state.progress.complete:
            flash("You completed the course. Your certificate is ready on your dashboard.",
                  "success")
        return htmx.redirect(back)
    next_lesson = None if state.next_section else courses.lesson_neighbours(lesson)[1]
    next_quiz = None if state.next_section else _quiz_after(lesson, next_lesson)
    controls = links.controls(section, state.done, state.next_section, None, next_lesson,
                              next_quiz)
    return htmx.render(
        "learn/_complete.html", ctl=controls, course_progress=state.progress,
        certificate=state.certificate if state.done else None, focus=focus, section=section,
        anchor=section.key, done=state.done, links=links, lesson=lesson,
    )


@bp.post("/lessons/<int:lesson_id>/bookmark")
@login_required
def toggle_bookmark(lesson_id: int):
    lesson = courses.get_published_lesson_by_id(lesson_id)
    on = progress.toggle_bookmark(_user(), lesson)
    db.session.commit()
    if not htmx.is_partial():
        flash("Bookmarked." if on else "Bookmark removed.", "success")
    back = _lesson_url(lesson.course.slug, lesson)
    return htmx.partial_or_redirect("learn/_bookmark.html", back, lesson=lesson, bookmarked=on)


@bp.post("/lessons/<int:lesson_id>/note")
@login_required
def save_note(lesson_id: int):
    lesson = courses.get_published_lesson_by_id(lesson_id)
    form = NoteForm()
    error, conflict, status = None, False, 200
    if form.validate():
        base = None if form.overwrite.data else (form.version.data or 0)
        try:
            note = progress.save_note(_user(), lesson, form.source.data or "", base_version=base)
        except (Conflict, ValidationFailed) as exc:
            db.session.rollback()
            error, conflict, status = exc.message, isinstance(exc, Conflict), exc.status
        else:
            db.session.commit()
            if not htmx.is_partial():
                flash("Your note is saved.", "success")
                return htmx.redirect(_lesson_url(lesson.course.slug, lesson, "lesson-note"))
            return _note_partial(lesson, NoteForm(formdata=None, source=note.source,
                                                  version=note.version), note=note, saved=True)
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
        status = 400
    if htmx.is_partial():
        return _note_partial(lesson, form, note=progress.get_note(_user(), lesson.id),
                             error=error, conflict=conflict, status=status)
    return _lesson_page(reading.lesson_page_of(lesson), status=status, note_form=form,
                        note_error=error,
                        note_conflict=conflict)


def _note_partial(lesson: Lesson, form: NoteForm, *, note, saved: bool = False,
                  error: str | None = None, conflict: bool = False, status: int = 200):
    return htmx.render(
        "learn/_note.html", status_code=status, lesson=lesson, note=note, note_form=form,
        note_saved=saved, note_error=error, note_conflict=conflict,
    )


# --- dashboard ----------------------------------------------------------------------------------


@bp.get("/dashboard")
@login_required
def dashboard():
    data = reading.dashboard(_user())
    resume = {
        item.course.id: _lesson_url(item.course.slug, item.resume[0], item.resume[1])
        for item in data.courses if item.resume
    }
    return render_template("learn/dashboard.html", data=data, resume=resume)
