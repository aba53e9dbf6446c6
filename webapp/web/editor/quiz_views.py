"""The quiz editor: a course's quizzes by module, a quiz's settings and ordered
questions, a form per question kind with a preview, and confirmation pages for
deletions.

Every page works without JavaScript: moving a question is a small form that
posts and comes back to the quiz page (post/redirect/get); with htmx it swaps
only the question list. A failed save re-renders the form (400) with what was
typed and the message next to the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from wtforms.fields.choices import SelectChoice

from webapp import htmx
from webapp.extensions import db
from webapp.models import Course, Module, Question, Quiz
from webapp.services import authoring
from webapp.services import quiz_authoring as qa
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.services.quizzes import QuestionSpec
from webapp.web.edge import id_arg
from webapp.web.editor import bp
from webapp.web.editor.common import form_error, user
from webapp.web.editor.forms import MoveForm
from webapp.web.editor.quiz_forms import (
    KIND_HELP,
    KIND_LABELS,
    ChoiceRows,
    NewQuizForm,
    QuestionForm,
    QuizSettingsForm,
    answer_summary,
)
from webapp.web.forms import ActionForm, submitted, valid_or_400


def _quiz_url(quiz_id: int, question_id: int | None = None) -> str:
    anchor = f"#question-{question_id}" if question_id else "#questions"
    return url_for("editor.quiz", quiz_id=quiz_id) + anchor


@dataclass(frozen=True)
class _Save:
    """What became of a save that refuses to overwrite changes made since the form was
    loaded (the form's ``fingerprint``)."""

    saved: bool = False
    changed: bool = False
    invalid: ValidationFailed | None = None
    conflict: str | None = None


def _save(form, save, current_fingerprint) -> _Save:
    """Call ``save(expected=<the form's fingerprint>)`` and commit; roll back on failure."""
    try:
        changed = save(expected=form.fingerprint.data or None)
    except ValidationFailed as exc:
        db.session.rollback()
        return _Save(invalid=exc)
    except Conflict as exc:
        db.session.rollback()
        # Saving again now means "mine wins", knowingly.
        form.fingerprint.data = current_fingerprint()
        return _Save(conflict=exc.message)
    db.session.commit()
    return _Save(saved=True, changed=changed)


def _confirm_then_delete(row, delete, page_context, message: str, back: str):
    """GET: the page saying what goes with ``row`` (``page_context()``); POST: delete it."""
    if request.method == "GET":
        return render_template("quiz_editor/delete.html", tab="quizzes",
                               action_form=ActionForm(), **page_context())
    valid_or_400(ActionForm())
    delete(user(), row)
    db.session.commit()
    flash(message, "success")
    return redirect(back, 303)


def _settings_error(form: QuizSettingsForm, exc: ValidationFailed) -> None:
    """A service error next to its settings field (the title when it names none)."""
    exc.field = form.field_name_for(exc.field)
    form_error(form, exc, "title")


# --- the course's quizzes -------------------------------------------------------------------


@bp.get("/courses/<int:course_id>/quizzes")
def quizzes(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    return render_template("quiz_editor/list.html", course=course, tab="quizzes",
                           summaries=qa.course_quiz_summaries(course))


@bp.route("/courses/<int:course_id>/quizzes/new", methods=["GET", "POST"])
def new_quiz(course_id: int):
    course = authoring.get_course_for_edit(user(), course_id)
    form = NewQuizForm()
    form.module_id.choices = [SelectChoice(m.id, m.title) for m in course.modules]
    status = 200
    if request.method == "GET":
        wanted = request.args.get("module_id", type=id_arg)
        if any(m.id == wanted for m in course.modules):
            form.module_id.data = wanted
    elif course.modules and submitted(form):
        module = next(m for m in course.modules if m.id == form.module_id.data)
        try:
            quiz = qa.create_quiz_in_module(
                user(), module, key=form.key.data or "", title=form.title.data or "",
                description=form.description.data or "", pass_percent=form.pass_percent.data,
                max_attempts=form.max_attempts.data, **form.policy_fields(),
            )
        except ValidationFailed as exc:
            db.session.rollback()
            _settings_error(form, exc)
        else:
            db.session.commit()
            flash(f"Quiz “{quiz.title}” created. Now add its questions.", "success")
            return redirect(_quiz_url(quiz.id), 303)
        status = 400
    else:
        status = 400
    return render_template("quiz_editor/new.html", course=course, tab="quizzes", form=form), status


# --- one quiz --------------------------------------------------------------------------------


def _quiz_page(quiz: Quiz, course: Course, form: QuizSettingsForm, *, status: int = 200,
               conflict: str | None = None):
    return render_template(
        "quiz_editor/edit.html", quiz=quiz, course=course, tab="quizzes", form=form,
        module=db.session.get(Module, quiz.module_id), usage=qa.quiz_usage(quiz),
        action_form=ActionForm(), kinds=KIND_LABELS, summarize=answer_summary,
        conflict=conflict,
    ), status


@bp.route("/quizzes/<int:quiz_id>", methods=["GET", "POST"])
def quiz(quiz_id: int):
    quiz, course = qa.get_quiz_for_edit(user(), quiz_id)
    if request.method == "GET":
        return _quiz_page(quiz, course, QuizSettingsForm.from_quiz(quiz))
    form = QuizSettingsForm()
    outcome = _Save()
    if submitted(form):
        outcome = _save(form, lambda expected: qa.update_quiz_settings(
            user(), quiz, key=form.key.data or "", title=form.title.data or "",
            description=form.description.data or "", pass_percent=form.pass_percent.data,
            max_attempts=form.max_attempts.data, expected=expected, **form.policy_fields(),
        ), lambda: qa.quiz_fingerprint(quiz))
        if outcome.invalid is not None:
            _settings_error(form, outcome.invalid)
        elif outcome.saved:
            flash("Quiz settings saved." if outcome.changed else "Nothing changed.", "success")
            return redirect(url_for("editor.quiz", quiz_id=quiz.id), 303)
    return _quiz_page(quiz, course, form, status=409 if outcome.conflict else 400,
                      conflict=outcome.conflict)


@bp.route("/quizzes/<int:quiz_id>/delete", methods=["GET", "POST"])
def delete_quiz(quiz_id: int):
    quiz, course = qa.get_quiz_for_edit(user(), quiz_id)
    return _confirm_then_delete(
        quiz, qa.delete_quiz,
        lambda: {"course": course, "quiz": quiz, "question": None,
                 "usage": qa.quiz_usage(quiz), "lessons": qa.lessons_embedding(quiz)},
        f"Quiz “{quiz.title}” deleted.", url_for("editor.quizzes", course_id=course.id))


# --- questions --------------------------------------------------------------------------------


def _question_page(quiz: Quiz, course: Course, form: QuestionForm, rows: ChoiceRows | None, *,
                   question: Question | None = None, status: int = 200,
                   conflict: str | None = None, error: str | None = None,
                   preview: QuestionSpec | None = None, preview_error: str | None = None):
    if question is None:
        action = url_for("editor.new_question", quiz_id=quiz.id, kind=form.kind)
    else:
        action = url_for("editor.question", question_id=question.id)
    return render_template(
        "quiz_editor/question.html", quiz=quiz, course=course, tab="quizzes", form=form,
        rows=rows, question=question, kind=form.kind, kind_label=KIND_LABELS[form.kind],
        kind_help=KIND_HELP[form.kind], action=action, usage=qa.quiz_usage(quiz),
        conflict=conflict, error=error, preview=preview, preview_error=preview_error,
        number=qa.plain_number,
    ), status


def _preview(quiz: Quiz, course: Course, form: QuestionForm, rows: ChoiceRows | None,
             question: Question | None):
    """The question as typed, rendered as learners will see it; nothing is saved.

    htmx swaps in only the preview; without JavaScript the page comes back with the
    form as typed and the preview under it. What cannot be previewed yet says why.
    """
    spec, problem = None, None
    if submitted(form):
        try:
            spec = qa.check_question(form.to_spec(rows))
        except ValidationFailed as exc:
            problem = exc.message
            _question_error(form, rows, exc)
    else:
        problem = "Fix the fields marked in the form first."
    if htmx.is_partial():
        return htmx.render("quiz_editor/_question_preview.html", kind=form.kind,
                           preview=spec, preview_error=problem, number=qa.plain_number)
    return _question_page(quiz, course, form, rows, question=question, preview=spec,
                          preview_error=problem)


def _rows_for(kind: str, rows: ChoiceRows) -> ChoiceRows | None:
    return rows if kind in ("single", "multiple") else None


def _question_error(form: QuestionForm, rows: ChoiceRows | None, exc: ValidationFailed):
    """Put a service error next to its field; return it when no field fits."""
    if exc.field == "choices" and rows is not None:
        rows.errors.append(exc.message)
        return None
    target = form.field_for(exc.field)
    if target is None:
        return exc.message
    target.errors = [*target.errors, exc.message]
    return None


@bp.route("/quizzes/<int:quiz_id>/questions/new", methods=["GET", "POST"])
def new_question(quiz_id: int):
    quiz, course = qa.get_quiz_for_edit(user(), quiz_id)
    kind = request.args.get("kind", "")
    if kind not in KIND_LABELS:
        status = 400 if kind or request.method == "POST" else 200
        return render_template("quiz_editor/question_kind.html", quiz=quiz, course=course,
                               tab="quizzes", kinds=KIND_LABELS, kind_help=KIND_HELP,
                               unknown=kind), status
    form = QuestionForm.for_kind(kind)
    if request.method == "GET":
        return _question_page(quiz, course, form, _rows_for(kind, ChoiceRows.empty()))
    rows = _rows_for(kind, ChoiceRows.from_form(request.form))
    if request.form.get("preview") == "1":
        return _preview(quiz, course, form, rows, None)
    error = None
    if submitted(form):
        try:
            question = qa.add_question(user(), quiz, form.to_spec(rows))
        except ValidationFailed as exc:
            db.session.rollback()
            error = _question_error(form, rows, exc)
        else:
            db.session.commit()
            flash(f"Question {question.position} added.", "success")
            if request.form.get("then") == "another":
                return redirect(url_for("editor.new_question", quiz_id=quiz.id, kind=kind), 303)
            return redirect(_quiz_url(quiz.id, question.id), 303)
    return _question_page(quiz, course, form, rows, status=400, error=error)


@bp.route("/questions/<int:question_id>", methods=["GET", "POST"])
def question(question_id: int):
    question, quiz, course = qa.get_question_for_edit(user(), question_id)
    if request.method == "GET":
        rows = _rows_for(question.kind, ChoiceRows.from_question(question))
        form = QuestionForm.from_question(question)
        return _question_page(quiz, course, form, rows, question=question,
                              preview=_stored_spec(question))
    form = QuestionForm.for_kind(question.kind)
    rows = _rows_for(question.kind, ChoiceRows.from_form(request.form))
    if request.form.get("preview") == "1":
        return _preview(quiz, course, form, rows, question)
    outcome, error = _Save(), None
    if submitted(form):
        outcome = _save(form, lambda expected: qa.update_question(
            user(), question, form.to_spec(rows), expected=expected,
        ), lambda: qa.question_fingerprint(question))
        if outcome.invalid is not None:
            error = _question_error(form, rows, outcome.invalid)
        elif outcome.saved:
            flash(f"Question {question.position} saved." if outcome.changed
                  else "Nothing changed.", "success")
            return redirect(_quiz_url(quiz.id, question.id), 303)
    return _question_page(quiz, course, form, rows, question=question,
                          status=409 if outcome.conflict else 400, conflict=outcome.conflict,
                          error=error)


def _stored_spec(question: Question) -> QuestionSpec:
    """A saved question as plain data, for its preview."""
    choices = sorted(question.choices, key=lambda c: c.position)
    return QuestionSpec(
        kind=question.kind, prompt=question.prompt, explanation=question.explanation,
        points=question.points, choices=[(c.text, bool(c.is_correct)) for c in choices],
        accepted=sorted(a.text for a in question.accepted_answers),
        numeric_answer=question.numeric_answer, tolerance=question.tolerance,
    )


@bp.post("/questions/<int:question_id>/move")
def move_question(question_id: int):
    question, quiz, course = qa.get_question_for_edit(user(), question_id)
    form = valid_or_400(MoveForm())
    direction = form.direction.data or ""
    moved = qa.move_question(user(), question, direction)
    db.session.commit()
    if moved:
        message = f"Question moved {direction}, to position {question.position}."
    else:
        end = "first" if direction == "up" else "last"
        message = f"Question {question.position} is already {end}."
    if htmx.is_partial():
        quiz, course = qa.get_quiz_for_edit(user(), quiz.id)
        return htmx.render(
            "quiz_editor/_questions.html", quiz=quiz, course=course, action_form=ActionForm(),
            kinds=KIND_LABELS, summarize=answer_summary, list_message=message,
            focus_id=question.id, focus_direction=direction,
        )
    flash(message, "success")
    return redirect(_quiz_url(quiz.id, question.id), 303)


@bp.route("/questions/<int:question_id>/delete", methods=["GET", "POST"])
def delete_question(question_id: int):
    question, quiz, course = qa.get_question_for_edit(user(), question_id)
    return _confirm_then_delete(
        question, qa.delete_question,
        lambda: {"course": course, "quiz": quiz, "question": question,
                 "usage": qa.question_usage(question),
                 "last_in_published": len(quiz.questions) <= 1 and course.status == "published"},
        f"Question {question.position} deleted.", _quiz_url(quiz.id))
