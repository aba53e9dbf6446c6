"""The quiz editor: a course's quizzes by module, a quiz's settings and ordered
questions, a form per question kind, and confirmation pages for deletions.

Every page works without JavaScript: moving a question is a small form that
posts and comes back to the quiz page (post/redirect/get); with htmx it swaps
only the question list. A failed save re-renders the form (400) with what was
typed and the message next to the field at fault.
"""

from __future__ import annotations

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from webapp import htmx
from webapp.extensions import db
from webapp.models import Course, Module, Question, Quiz
from webapp.services import authoring
from webapp.services import quiz_authoring as qa
from webapp.services.exceptions import Conflict, ValidationFailed
from webapp.web.editor import bp
from webapp.web.editor.forms import ActionForm, MoveForm
from webapp.web.editor.quiz_forms import (
    KIND_HELP,
    KIND_LABELS,
    ChoiceRows,
    NewQuizForm,
    QuestionForm,
    QuizSettingsForm,
    answer_summary,
)


def _user():
    return current_user._get_current_object()


def _submitted(form) -> bool:
    """True when the form validates; a bad CSRF token is a 400 like everywhere else."""
    if form.validate_on_submit():
        return True
    if "csrf_token" in form.errors:
        abort(400, "The form expired; reload the page and try again.")
    return False


def _add_error(form, exc: ValidationFailed, default: str) -> None:
    name = exc.field if exc.field in form else default
    form[name].errors = [*form[name].errors, exc.message]


def _quiz_url(quiz_id: int, question_id: int | None = None) -> str:
    anchor = f"#question-{question_id}" if question_id else "#questions"
    return url_for("editor.quiz", quiz_id=quiz_id) + anchor


# --- the course's quizzes -------------------------------------------------------------------


@bp.get("/courses/<int:course_id>/quizzes")
def quizzes(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    return render_template("editor/quiz_list.html", course=course, tab="quizzes",
                           summaries=qa.course_quiz_summaries(course))


@bp.route("/courses/<int:course_id>/quizzes/new", methods=["GET", "POST"])
def new_quiz(course_id: int):
    course = authoring.get_course_for_edit(_user(), course_id)
    form = NewQuizForm()
    form.module_id.choices = [SelectChoice(m.id, m.title) for m in course.modules]
    status = 200
    if request.method == "GET":
        wanted = request.args.get("module_id", type=int)
        if any(m.id == wanted for m in course.modules):
            form.module_id.data = wanted
    elif course.modules and _submitted(form):
        module = next(m for m in course.modules if m.id == form.module_id.data)
        try:
            quiz = qa.create_quiz_in_module(
                _user(), module, key=form.key.data or "", title=form.title.data or "",
                description=form.description.data or "", pass_percent=form.pass_percent.data,
                max_attempts=form.max_attempts.data,
            )
        except ValidationFailed as exc:
            db.session.rollback()
            _add_error(form, exc, "title")
        else:
            db.session.commit()
            flash(f"Quiz “{quiz.title}” created. Now add its questions.", "success")
            return redirect(_quiz_url(quiz.id), 303)
        status = 400
    else:
        status = 400
    return render_template("editor/quiz_new.html", course=course, tab="quizzes", form=form), status


# --- one quiz --------------------------------------------------------------------------------


def _quiz_page(quiz: Quiz, course: Course, form: QuizSettingsForm, *, status: int = 200,
               conflict: str | None = None):
    return render_template(
        "editor/quiz_edit.html", quiz=quiz, course=course, tab="quizzes", form=form,
        module=db.session.get(Module, quiz.module_id), usage=qa.quiz_usage(quiz),
        action_form=ActionForm(), kinds=KIND_LABELS, summarize=answer_summary,
        conflict=conflict,
    ), status


@bp.route("/quizzes/<int:quiz_id>", methods=["GET", "POST"])
def quiz(quiz_id: int):
    quiz, course = qa.get_quiz_for_edit(_user(), quiz_id)
    if request.method == "GET":
        return _quiz_page(quiz, course, QuizSettingsForm.from_quiz(quiz))
    form = QuizSettingsForm()
    conflict = None
    if _submitted(form):
        try:
            changed = qa.update_quiz_settings(
                _user(), quiz, key=form.key.data or "", title=form.title.data or "",
                description=form.description.data or "", pass_percent=form.pass_percent.data,
                max_attempts=form.max_attempts.data, expected=form.fingerprint.data or None,
            )
        except ValidationFailed as exc:
            db.session.rollback()
            _add_error(form, exc, "title")
        except Conflict as exc:
            db.session.rollback()
            conflict = exc.message
            # Saving again now means "mine wins", knowingly.
            form.fingerprint.data = qa.quiz_fingerprint(quiz)
        else:
            db.session.commit()
            flash("Quiz settings saved." if changed else "Nothing changed.", "success")
            return redirect(url_for("editor.quiz", quiz_id=quiz.id), 303)
    return _quiz_page(quiz, course, form, status=409 if conflict else 400, conflict=conflict)


@bp.route("/quizzes/<int:quiz_id>/delete", methods=["GET", "POST"])
def delete_quiz(quiz_id: int):
    quiz, course = qa.get_quiz_for_edit(_user(), quiz_id)
    if request.method == "GET":
        return render_template(
            "editor/quiz_delete.html", course=course, tab="quizzes", quiz=quiz, question=None,
            usage=qa.quiz_usage(quiz), lessons=qa.lessons_embedding(quiz),
            action_form=ActionForm(),
        )
    if not _submitted(ActionForm()):
        abort(400)
    title = quiz.title
    qa.delete_quiz(_user(), quiz)
    db.session.commit()
    flash(f"Quiz “{title}” deleted.", "success")
    return redirect(url_for("editor.quizzes", course_id=course.id), 303)


# --- questions --------------------------------------------------------------------------------


def _question_page(quiz: Quiz, course: Course, form: QuestionForm, rows: ChoiceRows | None, *,
                   question: Question | None = None, status: int = 200,
                   conflict: str | None = None, error: str | None = None):
    if question is None:
        action = url_for("editor.new_question", quiz_id=quiz.id, kind=form.kind)
    else:
        action = url_for("editor.question", question_id=question.id)
    return render_template(
        "editor/quiz_question.html", quiz=quiz, course=course, tab="quizzes", form=form,
        rows=rows, question=question, kind=form.kind, kind_label=KIND_LABELS[form.kind],
        kind_help=KIND_HELP[form.kind], action=action, usage=qa.quiz_usage(quiz),
        conflict=conflict, error=error,
    ), status


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
    quiz, course = qa.get_quiz_for_edit(_user(), quiz_id)
    kind = request.args.get("kind", "")
    if kind not in KIND_LABELS:
        status = 400 if kind or request.method == "POST" else 200
        return render_template("editor/quiz_question_kind.html", quiz=quiz, course=course,
                               tab="quizzes", kinds=KIND_LABELS, kind_help=KIND_HELP,
                               unknown=kind), status
    form = QuestionForm.for_kind(kind)
    if request.method == "GET":
        return _question_page(quiz, course, form, _rows_for(kind, ChoiceRows.empty()))
    rows = _rows_for(kind, ChoiceRows.from_form(request.form))
    error = None
    if _submitted(form):
        try:
            question = qa.add_question(_user(), quiz, form.to_spec(rows))
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
    question, quiz, course = qa.get_question_for_edit(_user(), question_id)
    if request.method == "GET":
        rows = _rows_for(question.kind, ChoiceRows.from_question(question))
        return _question_page(quiz, course, QuestionForm.from_question(question), rows,
                              question=question)
    form = QuestionForm.for_kind(question.kind)
    rows = _rows_for(question.kind, ChoiceRows.from_form(request.form))
    conflict = error = None
    if _submitted(form):
        try:
            changed = qa.update_question(_user(), question, form.to_spec(rows),
                                         expected=form.fingerprint.data or None)
        except ValidationFailed as exc:
            db.session.rollback()
            error = _question_error(form, rows, exc)
        except Conflict as exc:
            db.session.rollback()
            conflict = exc.message
            form.fingerprint.data = qa.question_fingerprint(question)
        else:
            db.session.commit()
            flash(f"Question {question.position} saved." if changed else "Nothing changed.",
                  "success")
            return redirect(_quiz_url(quiz.id, question.id), 303)
    return _question_page(quiz, course, form, rows, question=question,
                          status=409 if conflict else 400, conflict=conflict, error=error)


@bp.post("/questions/<int:question_id>/move")
def move_question(question_id: int):
    question, quiz, course = qa.get_question_for_edit(_user(), question_id)
    form = MoveForm()
    if not _submitted(form):
        abort(400)
    direction = form.direction.data or ""
    moved = qa.move_question(_user(), question, direction)
    db.session.commit()
    if moved:
        message = f"Question moved {direction}, to position {question.position}."
    else:
        end = "first" if direction == "up" else "last"
        message = f"Question {question.position} is already {end}."
    if htmx.is_partial():
        quiz, course = qa.get_quiz_for_edit(_user(), quiz.id)
        return htmx.vary(make_response(render_template(
            "editor/_quiz_questions.html", quiz=quiz, course=course, action_form=ActionForm(),
            kinds=KIND_LABELS, summarize=answer_summary, list_message=message,
            focus_id=question.id,
            focus_direction=direction,
        )))
    flash(message, "success")
    return redirect(_quiz_url(quiz.id, question.id), 303)


@bp.route("/questions/<int:question_id>/delete", methods=["GET", "POST"])
def delete_question(question_id: int):
    question, quiz, course = qa.get_question_for_edit(_user(), question_id)
    if request.method == "GET":
        last_in_published = len(quiz.questions) <= 1 and course.status == "published"
        return render_template(
            "editor/quiz_delete.html", course=course, tab="quizzes", quiz=quiz,
            question=question, usage=qa.question_usage(question),
            last_in_published=last_in_published, action_form=ActionForm(),
        )
    if not _submitted(ActionForm()):
        abort(400)
    position = question.position
    qa.delete_question(_user(), question)
    db.session.commit()
    flash(f"Question {position} deleted.", "success")
    return redirect(_quiz_url(quiz.id), 303)
