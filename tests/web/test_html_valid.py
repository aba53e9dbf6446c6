"""Pages are valid HTML by the W3C Nu Html Checker (the npm package ``vnu-jar``).

The test signs in as each role, crawls the main pages that role sees (full pages
and the htmx partials they include), writes them to files and runs the checker
on all of them in one batch, since the JVM's start-up is most of the cost.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import GenerationJob, Lesson, LessonProposal, OutgoingMail, Quiz
from webapp.models.base import utcnow
from webapp.providers.text import LESSON_SCHEMA, ScaffoldProvider
from webapp.services import account_tokens, quizzes

ROOT = Path(__file__).resolve().parents[2]
NOT_FOUND = ("/no-such-page", "/reset-password/nosuchtoken")
VNU_VERSION = "26.9.27"
VNU_JAR = Path(os.environ.get("VNU_JAR") or
               ROOT / ".venv/vnu/node_modules/vnu-jar/build/dist/vnu.jar")


@pytest.fixture(scope="module")
def vnu() -> list[str]:
    """The checker's command line, or skip saying how to install it."""
    java = shutil.which("java")
    if not VNU_JAR.is_file() or not java:
        reason = (f"the Nu Html Checker is not installed: npm install --no-save --prefix "
                  f".venv/vnu vnu-jar@{VNU_VERSION} (needs Java); .ci/run installs it")
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return [java, "-Xss4m", "-jar", str(VNU_JAR), "--format", "json", "--errors-only"]


def _world(app, make_user, make_course, enroll) -> dict:
    with app.app_context():
        editor = make_user("html-editor@example.org", role="editor")
        make_user("html-admin@example.org", role="admin")
        learner = make_user("html-learner@example.org")
        course = make_course(owner=editor, quiz=True)
        enroll(learner, course)
        lesson = db.session.scalars(select(Lesson).where(Lesson.course_id == course.id)).first()
        quiz = db.session.scalars(select(Quiz).where(Quiz.module_id == lesson.module_id)).first()
        attempt = quizzes.start_attempt(learner, quiz)
        # A second quiz with code in its question, practice, already taken: the result page.
        code_quiz = quizzes.create_quiz(
            None, course.modules[1], key="code", title="Code", mode="practice",
            questions=[quizzes.QuestionSpec(
                "single", "What does `len(x)` give?\n\n```python\nx = [1, 2]\n```",
                explanation="`len` counts.", choices=[("`2`", True), ("`1`", False)])])
        taken = quizzes.start_attempt(learner, code_quiz)
        quizzes.submit_attempt(learner, taken.id, {}, allow_unanswered=True)
        # An AI rewrite of the lesson waiting for review, from the offline scaffold.
        job = GenerationJob(kind="lesson_regeneration", subject_key=f"regenerate:{lesson.id}:1",
                            status="succeeded", finished_at=utcnow(), step_index=2,
                            step_count=2, params={"lesson_id": lesson.id, "version": 1},
                            lesson_id=lesson.id, course_id=course.id, requester_id=editor.id)
        db.session.add(job)
        db.session.flush()
        source = ScaffoldProvider().complete_json("lesson", {
            "topic": course.title, "level": "beginner", "course_title": course.title,
            "module_title": "M", "lesson_title": lesson.title, "lesson_goal": "a rewrite",
        }, LESSON_SCHEMA).data["markdown"]
        proposal = LessonProposal(lesson_id=lesson.id, job_id=job.id, base_version=1,
                                  title=lesson.title, source=source, provider="scaffold",
                                  model="scaffold-1", requested_by_id=editor.id)
        db.session.add(proposal)
        # A second device, so the sessions page has a "Sign out" form to check.
        from webapp.services.sessions import start_session

        start_session(learner, user_agent="Mozilla/5.0 (Windows NT 10.0) Firefox/133.0",
                      ip="192.0.2.7")
        other_lesson = db.session.scalars(select(Lesson).where(
            Lesson.course_id == course.id, Lesson.id != lesson.id)).first()
        # Mailed links, and the mail log with a sent and a failed message.
        tokens = {purpose: account_tokens.issue_token(learner, purpose, new_email=new_email)
                  for purpose, new_email in (("reset", None), ("verify", None),
                                             ("email_change", "moved@example.org"))}
        db.session.add_all([OutgoingMail(
            recipient="html-learner@example.org", subject=f"Message {status}",
            template="password_changed", text_body="t", html_body="<p>h</p>", status=status,
            attempts=1, last_error="554 No such mailbox" if status == "failed" else None)
            for status in ("sent", "failed", "queued")])
        db.session.commit()
        return {"course": course.slug, "course_id": course.id, "lesson": lesson.slug,
                "lesson_id": lesson.id, "quiz_id": quiz.id, "attempt_id": attempt.id,
                "job_id": job.id, "proposal_id": proposal.id, "other_lesson_id": other_lesson.id,
                "code_quiz_id": code_quiz.id, "taken_id": taken.id,
                "question_id": code_quiz.questions[0].id, "tokens": tokens,
                "learner_id": learner.id}


def _pages(w: dict) -> dict[str | None, list[str | tuple[str, str]]]:
    learn = [f"/courses/{w['course']}", f"/courses/{w['course']}/lessons/{w['lesson']}",
             f"/courses/{w['course']}/lessons/{w['lesson']}?focus=1", "/dashboard",
             f"/quizzes/{w['quiz_id']}", f"/attempts/{w['attempt_id']}", "/account/",
             f"/quizzes/{w['code_quiz_id']}", f"/attempts/{w['taken_id']}/result",
             # Submitting with every question blank: the confirmation page.
             ("POST", f"/attempts/{w['attempt_id']}/submit"),
             f"/confirm-email/{w['tokens']['email_change']}",
             f"/courses/{w['course']}/verify-first",
             "/account/sessions", "/account/notifications", "/account/data",
             "/account/delete"]
    return {
        None: ["/", "/courses/", "/login", "/register", f"/courses/{w['course']}",
               "/no-such-page", "/forgot-password", f"/reset-password/{w['tokens']['reset']}",
               f"/verify-email/{w['tokens']['verify']}", "/reset-password/nosuchtoken",
               ("POST", "/forgot-password", {"email": "html-learner@example.org"}),
               ("POST", "/register", {"email": "new@example.org",
                                      "password": "lantern orchard velvet 73"})],
        "html-learner@example.org": learn,
        "html-editor@example.org": [
            "/edit/", f"/edit/courses/{w['course_id']}", f"/edit/lessons/{w['lesson_id']}",
            f"/edit/lessons/{w['lesson_id']}/history", f"/edit/courses/{w['course_id']}/quizzes",
            f"/edit/quizzes/{w['quiz_id']}", f"/edit/quizzes/{w['code_quiz_id']}",
            f"/edit/questions/{w['question_id']}",
            f"/edit/quizzes/{w['code_quiz_id']}/questions/new?kind=multiple",
            f"/edit/courses/{w['course_id']}/quizzes/new",
            f"/edit/courses/{w['course_id']}/people",
            f"/edit/courses/{w['course_id']}/package", f"/edit/courses/{w['course_id']}/history",
            f"/edit/courses/{w['course_id']}/branches",
            "/edit/drafts", "/edit/drafts/new", "/edit/import", "/edit/courses/new",
            f"/edit/lessons/{w['lesson_id']}/regenerate",
            f"/edit/lessons/{w['other_lesson_id']}/regenerate",
            f"/edit/lessons/{w['other_lesson_id']}",
            f"/edit/proposals/{w['proposal_id']}", f"/edit/proposals/{w['proposal_id']}/edit",
            f"/edit/proposals/{w['proposal_id']}/discard", f"/jobs/{w['job_id']}"],
        "html-admin@example.org": [
            "/admin/jobs", "/admin/costs", "/admin/mail", "/admin",
            f"/admin/users?q={w['course'][:1]}",
            f"/admin/users/{w['learner_id']}", f"/admin/users/{w['learner_id']}/role",
            f"/admin/users/{w['learner_id']}/suspend", f"/admin/users/{w['learner_id']}/ban",
            f"/admin/users/{w['learner_id']}/reactivate",
            f"/admin/users/{w['learner_id']}/reset-link",
            f"/admin/users/{w['learner_id']}/export",
            f"/admin/users/{w['learner_id']}/close", "/admin/audit",
            "/admin/audit?action=user.create", "/admin/security", "/admin/settings",
            f"/admin/jobs/{w['job_id']}/retry"],
    }


def test_main_pages_of_every_role_are_valid_html(app, vnu, tmp_path, login, make_user,
                                                 make_course, enroll, csrf_token):
    world = _world(app, make_user, make_course, enroll)
    files: dict[str, str] = {}
    for email, paths in _pages(world).items():
        client = app.test_client()
        if email:
            assert login(client, email, DEFAULT_PASSWORD).status_code in (302, 303)
        for path in paths:
            if isinstance(path, tuple):
                data = path[2] if len(path) > 2 else {}
                path = path[1]
                token_page = "/account/" if email else "/login"
                response = client.post(path, data={**data, "csrf_token": csrf_token(
                    client, token_page)})
            else:
                response = client.get(path)
            assert response.status_code == (404 if path in NOT_FOUND else 200), (
                email, path, response.status_code)
            name = f"page{len(files):03d}.html"
            (tmp_path / name).write_bytes(response.data)
            files[name] = f"{email or 'anonymous'} {path}"
    result = subprocess.run([*vnu, *sorted(str(tmp_path / n) for n in files)],
                            capture_output=True, text=True, timeout=300, check=False)
    messages = json.loads(result.stderr or result.stdout)["messages"]
    errors = [f"{files[Path(m['url']).name]}:{m.get('lastLine')}: {m['message']}"
              for m in messages if m.get("type") == "error"]
    assert errors == [], f"{len(errors)} errors:\n" + "\n".join(errors[:200])
