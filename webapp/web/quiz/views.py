"""Quizzes: intro, attempts (all at once or one question at a time), feedback, results,
and the public certificate pages.

Answers live only in the attempt form until it is submitted: in "one question
at a time" mode the other questions' answers ride along as hidden fields, and
Previous/Next post the whole form back to the attempt page (htmx swaps just the
form). Nothing is written before "Submit answers", so there is no draft state
to keep consistent, and a stray tab or a double click cannot lose or mix answers.
The same holds for the confirmation shown when questions are left blank: it
carries every answer as hidden fields, to submit anyway or to go back.

What a learner may see follows the quiz's policy (``services.quizzes``): "Check
answer" only in practice quizzes; per-question feedback on the result page only
once the policy releases it.
"""

from __future__ import annotations

from decimal import Decimal

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from werkzeug.datastructures import MultiDict

from webapp import htmx
from webapp.extensions import db
from webapp.models import Answer, Attempt, Course, Question, Quiz
from webapp.services import quizzes
from webapp.services.exceptions import Conflict, PermissionDenied, ValidationFailed
from webapp.services.progress import get_enrollment
from webapp.web.edge import id_arg
from webapp.web.question_text import question_inline
from webapp.web.quiz import bp
from webapp.web.quiz.forms import answer_for, answers_from_form, display_order


def course_url(course: Course) -> str:
    return url_for("learn.course", slug=course.slug)


# --- the quiz intro and starting an attempt ------------------------------------------


@bp.get("/quizzes/<int:quiz_id>")
def show(quiz_id: int):
    quiz, course = quizzes.get_published_quiz(quiz_id)
    return _render_show(quiz, course)


def _render_show(quiz: Quiz, course: Course, *, error: str | None = None, status: int = 200):
    record = None
    enrolled = False
    if current_user.is_authenticated:
        enrolled = get_enrollment(current_user, course.id) is not None
        record = quizzes.quiz_record(current_user, quiz)
    can_start = enrolled and record is not None and (
        record.open_attempt is not None
        or quiz.max_attempts is None
        or record.attempts_used < quiz.max_attempts
    )
    return render_template(
        "quiz/show.html", quiz=quiz, course=course, course_url=course_url(course),
        record=record, enrolled=enrolled, can_start=can_start, error=error,
    ), status


@bp.get("/courses/<course_slug>/quizzes/<key>")
def by_key(course_slug: str, key: str):
    """Where ``<Quiz id="key"/>`` in a lesson links to (a relative link from the lesson)."""
    quiz = quizzes.get_published_quiz_by_key(course_slug, key)
    return redirect(url_for(".show", quiz_id=quiz.id), 303)


@bp.post("/quizzes/<int:quiz_id>/start")
@login_required
def start(quiz_id: int):
    quiz, course = quizzes.get_published_quiz(quiz_id)
    try:
        attempt = quizzes.start_attempt(current_user, quiz)
    except PermissionDenied as exc:
        db.session.rollback()
        return _render_show(quiz, course, error=exc.message, status=exc.status)
    db.session.commit()
    one = "1" if request.form.get("one") == "1" else None
    return htmx.redirect(url_for(".attempt", attempt_id=attempt.id, one=one))


# --- taking an attempt --------------------------------------------------------------------


@bp.route("/attempts/<int:attempt_id>", methods=["GET", "POST"])
@login_required
def attempt(attempt_id: int):
    """The attempt form. POST only re-renders it (Previous/Next, switching modes)."""
    attempt = quizzes.get_attempt(current_user, attempt_id)
    if attempt.status == "submitted":
        return htmx.redirect(url_for(".result", attempt_id=attempt.id))
    answers = request.form if request.method == "POST" else MultiDict()
    return _render_attempt(attempt, answers, focus=request.method == "POST")


@bp.post("/questions/<int:question_id>/check")
@login_required
def check(question_id: int):
    """Immediate feedback for one question of a practice quiz: a partial for htmx, else
    the whole attempt page. A graded quiz refuses (403, with the reason)."""
    attempt_id = request.form.get("attempt_id", type=id_arg)
    if attempt_id is None:
        raise ValidationFailed("This answer is not part of an attempt.")
    graded, error = None, None
    try:
        graded = quizzes.check_answer(current_user, attempt_id, question_id,
                                      answer_for(request.form, question_id))
    except Conflict as exc:
        flash(exc.message, "info")
        return htmx.redirect(url_for(".result", attempt_id=attempt_id))
    except ValidationFailed as exc:
        error = exc.message
    status = 400 if error else 200
    if htmx.is_partial():
        return htmx.render("quiz/_feedback.html", status_code=status, question_id=question_id,
                           graded=graded, error=error)
    attempt = quizzes.get_attempt(current_user, attempt_id)
    return _render_attempt(
        attempt, request.form, status=status, partial=False,
        feedback={question_id: graded} if graded else {},
        errors={f"q{question_id}": error} if error else {},
        focus_question=question_id,
    )


@bp.post("/attempts/<int:attempt_id>/submit")
@login_required
def submit(attempt_id: int):
    result_url = url_for(".result", attempt_id=attempt_id)
    try:
        answers = answers_from_form(request.form)
        quizzes.submit_attempt(current_user, attempt_id, answers,
                               allow_unanswered=request.form.get("unanswered") == "submit")
    except quizzes.UnansweredQuestions as exc:
        db.session.rollback()
        return _render_confirm(quizzes.get_attempt(current_user, attempt_id), exc)
    except Conflict:
        db.session.rollback()
        flash("This attempt was already submitted, so it was not recorded again. "
              "Here is its result.", "info")
        return htmx.redirect(result_url)
    except ValidationFailed as exc:
        db.session.rollback()
        attempt = quizzes.get_attempt(current_user, attempt_id)
        field = exc.field or ""
        question_id = int(field[1:]) if field[1:].isdigit() else None
        return _render_attempt(
            attempt, request.form, status=400, partial=False,
            errors={field: exc.message} if question_id else {},
            message="Nothing was submitted yet: "
                    + ("please fix the answer marked below." if question_id else exc.message),
            focus_question=question_id,
        )
    db.session.commit()
    return htmx.redirect(result_url)


def _render_confirm(attempt: Attempt, unanswered: quizzes.UnansweredQuestions):
    """"You left questions 2 and 5 unanswered": submit anyway, or go back with every
    answer kept (they travel as hidden fields, as in one-question mode)."""
    quiz = quizzes.get_quiz(attempt.quiz_id)
    questions = list(quiz.questions)
    blank = [(n, questions[n - 1]) for n in unanswered.numbers]
    one = request.args.get("one") == "1"
    first_number, first = blank[0]
    back_url = url_for(".attempt", attempt_id=attempt.id, one="1" if one else None)
    return render_template(
        "quiz/confirm.html", quiz=quiz, attempt=attempt, questions=questions, blank=blank,
        answers=request.form, one=one, first_number=first_number,
        back_url=f"{back_url}#question-{first.id}",
        submit_url=url_for(".submit", attempt_id=attempt.id, one="1" if one else None),
        message=unanswered.message,
    )


def _render_attempt(
    attempt: Attempt,
    answers: MultiDict,
    *,
    status: int = 200,
    partial: bool | None = None,
    feedback: dict[int, quizzes.Graded] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    focus_question: int | None = None,
    focus: bool = False,
):
    quiz = quizzes.get_quiz(attempt.quiz_id)
    questions = list(quiz.questions)
    one = request.args.get("one") == "1"
    step = request.form.get("goto", type=id_arg) or request.form.get("n", type=id_arg) or 1
    if focus_question is not None:
        step = next((i for i, q in enumerate(questions, 1) if q.id == focus_question), step)
    step = min(max(step, 1), len(questions))
    context = {
        "quiz": quiz,
        "attempt": attempt,
        "practice": quiz.mode == "practice",
        "questions": questions,
        "orders": {q.id: display_order(q, attempt.id) for q in questions},
        "answers": answers,
        "feedback": feedback or {},
        "errors": errors or {},
        "message": message,
        "one": one,
        "step": step,
        # After Previous/Next, move keyboard focus to the question now shown.
        "focus": one and (focus or focus_question is not None),
    }
    partial_template = None if partial is False else "quiz/_attempt_form.html"
    return htmx.render("quiz/attempt.html", partial_template, status_code=status, **context)


# --- results ---------------------------------------------------------------------------------


@bp.get("/attempts/<int:attempt_id>/result")
@login_required
def result(attempt_id: int):
    attempt = quizzes.get_attempt(current_user, attempt_id)
    if attempt.status != "submitted":
        return htmx.redirect(url_for(".attempt", attempt_id=attempt.id))
    outcome = quizzes.get_attempt_result(current_user, attempt_id)
    quiz = outcome.quiz
    course = quizzes.quiz_course(quiz)
    return render_template(
        "quiz/result.html", outcome=outcome, attempt=outcome.attempt, quiz=quiz,
        course=course, course_url=course_url(course), record=outcome.record,
        answers=outcome.answers, points=quizzes.plain_points,
        given={q.id: answer_text(q, outcome.answers.get(q.id)) for q in quiz.questions},
        certificate=quizzes.certificate_for(current_user, quiz.course_id),
    )


def answer_text(question: Question, answer: Answer | None) -> Markup | None:
    """The learner's answer as they would say it (choices rendered like on the attempt
    page), or None when they gave none."""
    if answer is None:
        return None
    if question.kind == "short_text":
        return escape(answer.text_answer) if answer.text_answer else None
    if question.kind == "numeric":
        if answer.numeric_answer is None:
            return None
        return escape(_plain_number(answer.numeric_answer))
    texts = {c.id: c.text for c in question.choices}
    chosen = [question_inline(texts[s.choice_id]) for s in answer.selections
              if s.choice_id in texts]
    if not chosen:
        return None
    return escape(" → " if question.kind == "ordering" else ", ").join(chosen)


def _plain_number(number: Decimal) -> str:
    return f"{number.normalize():f}"


# --- certificates (public) ---------------------------------------------------------------------


@bp.get("/certificates/<code>")
def certificate(code: str):
    """The public verification page: what the certificate says, nothing more about anyone."""
    certificate = quizzes.get_certificate_by_code(code)
    response = make_response(render_template(
        "certificates/show.html", certificate=certificate,
        verify_url=url_for(".certificate", code=certificate.code, _external=True),
    ))
    # Shared on purpose, but not meant to be found by searching for a name.
    response.headers["X-Robots-Tag"] = "noindex"
    return response
