"""Questions and answers pages: a course's question list (sorts, search, keyset pages),
asking (with "similar questions" while the title is typed), the question page with its
answers, votes, accepting, editing with revisions, soft delete and restore.

Every action is a real form post that redirects back (303); htmx requests get the
fragment instead (the vote widget swaps itself, "similar questions" fills its box).
Posting views check e-mail verification and the posting rate before the service writes.
"""

from __future__ import annotations

import time

from flask import abort, current_app, flash, render_template, request, url_for
from flask_login import current_user, login_required
from limits import parse

from webapp import htmx
from webapp.extensions import db, limiter
from webapp.models import QaAnswer, QaQuestion, User
from webapp.services import accounts
from webapp.services.community import access, qa, rules
from webapp.services.exceptions import RateLimited, ValidationFailed
from webapp.settings import get_settings
from webapp.web.edge import id_arg
from webapp.web.forms import submitted
from webapp.web.posting import check_posting_rate, mail_context
from webapp.web.qa import bp
from webapp.web.qa.forms import AnswerForm, AskForm, EditQuestionForm

SORT_LABELS = {"votes": "Most votes", "newest": "Newest", "unanswered": "Unanswered"}
VOTES_PER_MINUTE = parse("120 per minute")


def _user() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _may_post(user: User) -> None:
    """What every posting view checks before writing: a confirmed address (when the site
    asks for one) and the posting rate."""
    accounts.require_verified(
        user, required=get_settings(current_app).email_verification == "required")
    check_posting_rate(user)


def _check_vote_rate(user: User) -> None:
    # Votes are not posts (they do not spend the posting budget) but are bounded too.
    key = (current_app.config["RATELIMIT_KEY_PREFIX"], "qa-vote", str(user.id))
    if not limiter.limiter.hit(VOTES_PER_MINUTE, *key):
        stats = limiter.limiter.get_window_stats(VOTES_PER_MINUTE, *key)
        wait = max(1, int(stats.reset_time - time.time()) + 1)
        raise RateLimited(f"You are voting faster than this site allows. Try again in "
                          f"{wait} seconds.", retry_after=wait)


def _field_error(form, exc: ValidationFailed) -> None:
    target = getattr(form, exc.field, None) if exc.field else None
    if target is None:
        target = form.body
    target.errors = [*target.errors, exc.message]


def _question_url(question_id: int, anchor: str | None = None) -> str:
    url = url_for("qa.question", question_id=question_id)
    return f"{url}#{anchor}" if anchor else url


# --- lists ------------------------------------------------------------------------------


@bp.get("/courses/<slug>/questions")
@login_required
def course_questions(slug: str):
    user = _user()
    course = qa.get_course_by_slug(user, slug)
    sort = request.args.get("sort", qa.DEFAULT_SORT)
    if sort not in qa.SORTS:
        sort = qa.DEFAULT_SORT
    query = " ".join(request.args.get("q", "").split())[:qa.QUERY_MAX]
    lesson_id = request.args.get("lesson", type=id_arg)
    removed = request.args.get("show") == "removed"
    page = qa.list_questions(user, course, sort=sort, query=query, lesson_id=lesson_id,
                             after=request.args.get("after"), removed=removed)
    lessons = dict(qa.course_lessons(course)) if lesson_id is not None else {}
    return render_template(
        "qa/list.html", course=course, listing=page, sort=sort, sorts=SORT_LABELS, q=query,
        lesson_id=lesson_id if lesson_id in lessons else None,
        lesson_title=lessons.get(lesson_id), removed=removed,
        staff=access.is_staff(user, course), member=access.is_member(user, course))


@bp.get("/courses/<slug>/questions/similar")
@login_required
def similar(slug: str):
    """Questions like the title being typed: a fragment for htmx; without JavaScript the
    search results page."""
    user = _user()
    course = qa.get_course_by_slug(user, slug)
    title = request.args.get("title", "")
    if not htmx.is_partial():
        return htmx.redirect(url_for("qa.course_questions", slug=course.slug, q=title[:100]))
    htmx.plain_fragment()
    return htmx.render("qa/_similar.html", course=course,
                       similar=qa.similar_questions(user, course, title))


# --- asking -----------------------------------------------------------------------------


@bp.route("/courses/<slug>/questions/ask", methods=["GET", "POST"])
@login_required
def ask(slug: str):
    user = _user()
    course = qa.get_course_by_slug(user, slug)
    access.require_member(user, course)
    form = AskForm()
    lessons = qa.course_lessons(course)
    form.lesson.choices = [("", "The whole course"), *lessons]
    status = 200
    section = None
    if request.method == "GET":
        lesson_id = request.args.get("lesson", type=id_arg)
        if lesson_id is not None and lesson_id in dict(lessons):
            form.lesson.data = lesson_id
            _lesson, section = qa.resolve_place(course, lesson_id,
                                                request.args.get("section"))
            form.section.data = section.key if section else ""
    elif submitted(form):
        try:
            _may_post(user)
            question = qa.ask_question(user, course, title=form.title.data,
                                       body=form.body.data, lesson_id=form.lesson.data,
                                       section_key=form.section.data or None)
        except ValidationFailed as exc:
            db.session.rollback()
            _field_error(form, exc)
            status = 400
        else:
            question_id, held = question.id, question.status == "hidden"
            db.session.commit()
            if held:
                flash(rules.HELD_MESSAGE, "info")
            else:
                flash("Your question is posted.", "success")
            return htmx.redirect(_question_url(question_id))
    else:
        status = 400
    if section is None and form.lesson.data and form.section.data:
        try:
            section = qa.resolve_place(course, form.lesson.data, form.section.data)[1]
        except ValidationFailed:
            section = None
    return render_template("qa/ask.html", course=course, form=form, section=section), status


# --- the question page --------------------------------------------------------------------


def _question_page(question_id: int, *, answer_form: AnswerForm | None = None,
                   status: int = 200):
    user = _user()
    view = qa.question_page(user, question_id, after=request.args.get("after"))
    return render_template("qa/question.html", view=view, course=view.course,
                           question=view.question,
                           answer_form=answer_form or AnswerForm(formdata=None)), status


@bp.get("/questions/<int:question_id>")
@login_required
def question(question_id: int):
    return _question_page(question_id)


@bp.post("/questions/<int:question_id>/answers")
@login_required
def answer(question_id: int):
    user = _user()
    question = qa.get_question(question_id)
    form = AnswerForm()
    if not submitted(form):
        return _question_page(question_id, answer_form=form, status=400)
    try:
        _may_post(user)
        new = qa.answer_question(user, question, body=form.body.data,
                                 mail_context=mail_context())
    except ValidationFailed as exc:
        db.session.rollback()
        _field_error(form, exc)
        return _question_page(question_id, answer_form=form, status=400)
    answer_id, held = new.id, new.status == "hidden"
    db.session.commit()
    if held:
        flash(rules.HELD_MESSAGE, "info")
    else:
        flash("Your answer is posted.", "success")
    return htmx.redirect(_question_url(question_id, f"answer-{answer_id}"))


# --- votes ------------------------------------------------------------------------------


def _vote_value() -> int:
    raw = request.form.get("value", "")
    if raw not in ("1", "-1", "0"):
        abort(400, "A vote is 1, -1 or 0.")
    return int(raw)


def _vote(target: QaQuestion | QaAnswer, kind: str, question_id: int):
    user = _user()
    value = _vote_value()
    accounts.require_verified(
        user, required=get_settings(current_app).email_verification == "required")
    _check_vote_rate(user)
    result = qa.vote(user, target, value)
    db.session.commit()
    anchor = "question" if kind == "question" else f"answer-{target.id}"
    return htmx.partial_or_redirect(
        "qa/_vote.html", _question_url(question_id, anchor), kind=kind, target_id=target.id,
        score=result.score, my_vote=result.value, may_vote=True)


@bp.post("/questions/<int:question_id>/vote")
@login_required
def vote_question(question_id: int):
    return _vote(qa.get_question(question_id), "question", question_id)


@bp.post("/answers/<int:answer_id>/vote")
@login_required
def vote_answer(answer_id: int):
    target = qa.get_answer(answer_id)
    return _vote(target, "answer", target.question_id)


# --- accepting ----------------------------------------------------------------------------


def _on_answer(answer_id: int, act, message: str):
    """Do ``act`` to the answer, commit, and go back to it on its question's page."""
    target = qa.get_answer(answer_id)
    question_id = target.question_id
    act(target)
    db.session.commit()
    flash(message, "success")
    return htmx.redirect(_question_url(question_id, f"answer-{answer_id}"))


@bp.post("/answers/<int:answer_id>/accept")
@login_required
def accept(answer_id: int):
    return _on_answer(answer_id, lambda target: qa.accept_answer(
        _user(), target, mail_context=mail_context()), "Answer accepted.")


@bp.post("/questions/<int:question_id>/unaccept")
@login_required
def unaccept(question_id: int):
    qa.unaccept_answer(_user(), qa.get_question(question_id))
    db.session.commit()
    flash("The answer is no longer marked as accepted.", "success")
    return htmx.redirect(_question_url(question_id))


# --- editing, revisions -------------------------------------------------------------------


@bp.route("/questions/<int:question_id>/edit", methods=["GET", "POST"])
@login_required
def edit_question(question_id: int):
    user = _user()
    question = qa.get_question(question_id)
    _question, course = qa.editable(user, question)
    form = EditQuestionForm(obj=question if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if submitted(form):
            try:
                check_posting_rate(user)
                qa.edit_question(user, question, title=form.title.data, body=form.body.data)
            except ValidationFailed as exc:
                db.session.rollback()
                _field_error(form, exc)
                status = 400
            else:
                db.session.commit()
                flash("Your changes are saved.", "success")
                return htmx.redirect(_question_url(question_id))
        else:
            status = 400
    return render_template("qa/edit.html", course=course, question=question,
                           answer=None, form=form), status


@bp.route("/answers/<int:answer_id>/edit", methods=["GET", "POST"])
@login_required
def edit_answer(answer_id: int):
    user = _user()
    target = qa.get_answer(answer_id)
    question_id = target.question_id
    question, course = qa.editable(user, target)
    form = AnswerForm(obj=target if request.method == "GET" else None)
    status = 200
    if request.method == "POST":
        if submitted(form):
            try:
                check_posting_rate(user)
                qa.edit_answer(user, target, body=form.body.data)
            except ValidationFailed as exc:
                db.session.rollback()
                _field_error(form, exc)
                status = 400
            else:
                db.session.commit()
                flash("Your changes are saved.", "success")
                return htmx.redirect(_question_url(question_id, f"answer-{answer_id}"))
        else:
            status = 400
    return render_template("qa/edit.html", course=course, question=question,
                           answer=target, form=form), status


@bp.get("/questions/<int:question_id>/revisions")
@login_required
def question_revisions(question_id: int):
    page = qa.revisions(_user(), qa.get_question(question_id),
                        after=request.args.get("after"))
    return render_template("qa/revisions.html", page=page)


@bp.get("/answers/<int:answer_id>/revisions")
@login_required
def answer_revisions(answer_id: int):
    page = qa.revisions(_user(), qa.get_answer(answer_id), after=request.args.get("after"))
    return render_template("qa/revisions.html", page=page)


# --- delete and restore --------------------------------------------------------------------


@bp.post("/questions/<int:question_id>/delete")
@login_required
def delete_question(question_id: int):
    question = qa.get_question(question_id)
    qa.delete_post(_user(), question)
    slug = access.get_course(question.course_id).slug
    db.session.commit()
    flash("The question is deleted.", "success")
    return htmx.redirect(url_for("qa.course_questions", slug=slug))


@bp.post("/answers/<int:answer_id>/delete")
@login_required
def delete_answer(answer_id: int):
    return _on_answer(answer_id, lambda target: qa.delete_post(_user(), target),
                      "The answer is deleted.")


@bp.post("/questions/<int:question_id>/restore")
@login_required
def restore_question(question_id: int):
    qa.restore_post(_user(), qa.get_question(question_id))
    db.session.commit()
    flash("The question is visible again.", "success")
    return htmx.redirect(_question_url(question_id))


@bp.post("/answers/<int:answer_id>/restore")
@login_required
def restore_answer(answer_id: int):
    return _on_answer(answer_id, lambda target: qa.restore_post(_user(), target),
                      "The answer is visible again.")
