"""Editor pages over HTTP: access, courses, outline (page and htmx partial), the lesson
editor with live preview, conflicts (409 with both texts), history and restore,
publishing and co-editors."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, make_user
from webapp.extensions import db
from webapp.models import (
    AuditEvent,
    Course,
    CourseEditor,
    Lesson,
    LessonRevision,
    Module,
    User,
)
from webapp.services import authoring


@pytest.fixture
def editor_client(app, client, login):
    with app.app_context():
        make_user("ed@example.org", role="editor", display_name="Ed")
    login(client, "ed@example.org", DEFAULT_PASSWORD)
    return client


@pytest.fixture
def draft(app, editor_client):
    """A draft course of ed's with one module and one lesson; returns ids."""
    with app.app_context():
        ed = db.session.scalar(select(User).where(User.email
                                                            == "ed@example.org"))
        course = authoring.create_course(ed, title="Authoring 101")
        module = authoring.add_module(ed, course, "Getting started")
        lesson = authoring.add_lesson(ed, module, "Hello", "Intro.\n\n## Step\n\nBody.\n")
        db.session.commit()
        return {"course": course.id, "module": module.id, "lesson": lesson.id}


@pytest.fixture
def token(csrf_token):
    def token_(client, path="/edit/") -> str:
        return csrf_token(client, path)

    return token_


def text(response) -> str:
    return response.get_data(as_text=True)


# --- access -----------------------------------------------------------------------------


def test_anonymous_is_sent_to_login(client, app):
    response = client.get("/edit/")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]


def test_learners_get_403(client, app, login):
    with app.app_context():
        make_user("learner@example.org")
    login(client, "learner@example.org", DEFAULT_PASSWORD)
    assert client.get("/edit/").status_code == 403
    assert client.get("/edit/courses/new").status_code == 403


def test_other_editors_get_403_until_invited(app, client, draft, login):
    with app.app_context():
        make_user("other@example.org", role="editor")
    other = app.test_client()
    login(other, "other@example.org", DEFAULT_PASSWORD)
    assert other.get(f"/edit/courses/{draft['course']}").status_code == 403
    assert other.get(f"/edit/lessons/{draft['lesson']}").status_code == 403
    assert other.get("/edit/courses/999999").status_code == 404


def test_learners_do_not_see_drafts(app, client, draft):
    assert client.get("/courses/authoring-101").status_code == 404


# --- courses ----------------------------------------------------------------------------


def test_index_empty_state_and_nav_link(editor_client):
    page = text(editor_client.get("/edit/"))
    assert "not editing any course yet" in page
    assert 'href="/edit/"' in text(editor_client.get("/dashboard"))


def test_create_course_and_validation(app, editor_client, token):
    csrf = token(editor_client, "/edit/courses/new")
    bad = editor_client.post("/edit/courses/new", data={"csrf_token": csrf, "title": "",
                                                       "level": "beginner"})
    assert bad.status_code == 400
    assert "field-error" in text(bad)
    response = editor_client.post("/edit/courses/new", data={
        "csrf_token": csrf, "title": "My course", "summary": "Short.", "level": "advanced",
        "tags": "Python, Data"})
    assert response.status_code == 303
    with app.app_context():
        course = db.session.scalar(select(Course).where(Course.title == "My course"))
        assert (course.status, course.level) == ("draft", "advanced")
        assert [t.name for t in course.tags] == ["Data", "Python"]
    page = text(editor_client.get(response.headers["Location"]))
    assert "No modules yet" in page and "Course created as a draft" in page


def test_metadata_save_and_conflict_page(app, editor_client, draft, token):
    url = f"/edit/courses/{draft['course']}"
    csrf = token(editor_client, url)
    form = {"csrf_token": csrf, "title": "Authoring 102", "summary": "", "level": "beginner",
            "tags": "", "version": "1"}
    assert editor_client.post(url, data=form).status_code == 303
    stale = editor_client.post(url, data={**form, "title": "Someone else's title"})
    assert stale.status_code == 409
    page = text(stale)
    assert "Authoring 102" in page and "Someone else&#39;s title" in page
    assert 'name="version" type="hidden" value="2"' in page


def test_publish_with_checks_then_unpublish(app, editor_client, draft, token):
    url = f"/edit/courses/{draft['course']}"
    csrf = token(editor_client, url)
    with app.app_context():
        lesson = db.session.get(Lesson, draft["lesson"])
        ed = db.session.scalar(select(User).where(User.email
                                                            == "ed@example.org"))
        authoring.save_lesson(ed, lesson, base_version=1, title="Hello",
                              source='Intro.\n\n<Quiz id="missing"/>\n')
        db.session.commit()
    refused = editor_client.post(f"{url}/publish", data={"csrf_token": csrf})
    assert refused.status_code == 400
    assert "no quiz with that id" in text(refused)
    with app.app_context():
        lesson = db.session.get(Lesson, draft["lesson"])
        ed = db.session.scalar(select(User).where(User.email
                                                            == "ed@example.org"))
        authoring.save_lesson(ed, lesson, base_version=2, title="Hello", source="Fine.\n")
        db.session.commit()
    assert editor_client.post(f"{url}/publish", data={"csrf_token": csrf}).status_code == 303
    assert editor_client.get("/courses/authoring-101").status_code == 200
    confirm = text(editor_client.get(f"{url}/unpublish"))
    assert "Unpublish “Authoring 101”?" in confirm
    assert editor_client.post(f"{url}/unpublish", data={"csrf_token": csrf}).status_code == 303
    assert editor_client.get("/courses/authoring-101").status_code == 404


def test_posts_without_csrf_are_refused(editor_client, draft):
    assert editor_client.post(f"/edit/courses/{draft['course']}/publish").status_code == 400


# --- outline --------------------------------------------------------------------------------


def test_outline_edits_full_page_and_htmx_partial(app, editor_client, draft, token):
    url = f"/edit/courses/{draft['course']}"
    csrf = token(editor_client, url)
    added = editor_client.post(f"{url}/modules", data={"csrf_token": csrf, "title": "Second"})
    assert added.status_code == 303 and added.headers["Location"].endswith("#outline")
    with app.app_context():
        second = db.session.scalar(select(Module).where(Module.title == "Second")).id
    partial = editor_client.post(f"/edit/modules/{second}/move",
                                 data={"csrf_token": csrf, "direction": "up"},
                                 headers={"HX-Request": "true"})
    assert partial.status_code == 200
    body = text(partial)
    assert body.lstrip().startswith('<section id="outline"')
    assert body.index("Second") < body.index("Getting started")
    assert "<html" not in body
    assert "HX-Request" in partial.headers["Vary"]
    renamed = editor_client.post(f"/edit/modules/{second}/rename",
                                 data={"csrf_token": csrf, "title": "Part two"})
    assert renamed.status_code == 303
    empty = editor_client.post(f"/edit/modules/{second}/rename",
                               data={"csrf_token": csrf, "title": ""})
    assert empty.status_code == 400
    lesson = editor_client.post(f"/edit/modules/{second}/lessons",
                                data={"csrf_token": csrf, "title": "New one"})
    assert lesson.status_code == 303 and "/edit/lessons/" in lesson.headers["Location"]
    with app.app_context():
        new_id = db.session.scalar(select(Lesson.id).where(Lesson.title == "New one"))
    moved = editor_client.post(f"/edit/lessons/{new_id}/move",
                               data={"csrf_token": csrf, "module_id": draft["module"]})
    assert moved.status_code == 303
    with app.app_context():
        assert db.session.get(Lesson, new_id).module_id == draft["module"]


def test_delete_needs_confirmation(app, editor_client, draft, token):
    confirm = editor_client.get(f"/edit/lessons/{draft['lesson']}/delete")
    assert confirm.status_code == 200
    assert "cannot be undone" in text(confirm)
    csrf = token(editor_client, f"/edit/lessons/{draft['lesson']}/delete")
    with app.app_context():
        assert db.session.get(Lesson, draft["lesson"]) is not None
    editor_client.post(f"/edit/lessons/{draft['lesson']}/delete", data={"csrf_token": csrf})
    editor_client.post(f"/edit/modules/{draft['module']}/delete", data={"csrf_token": csrf})
    with app.app_context():
        assert db.session.get(Lesson, draft["lesson"]) is None
        assert db.session.get(Module, draft["module"]) is None


# --- the lesson editor --------------------------------------------------------------------------


def test_lesson_editor_preview_and_findings(editor_client, draft, token):
    url = f"/edit/lessons/{draft['lesson']}"
    page = text(editor_client.get(url))
    assert 'id="preview"' in page and "hx-post" in page and "Body." in page
    csrf = token(editor_client, url)
    source = ("Hi.\n\nimport Foo from 'x'\n<Chart/>\n\n## Part\n\n"
              '<Callout kind="tip">\nT\n</Callout>\n')
    partial = editor_client.post(f"{url}/preview", data={
        "csrf_token": csrf, "title": "Hello", "source": source, "version": "1"},
        headers={"HX-Request": "true"})
    body = text(partial)
    assert partial.status_code == 200
    assert body.lstrip().startswith('<section id="preview"')
    assert "Line 3" in body and "Line 4" in body
    assert 'class="callout callout-tip"' in body
    # Without JavaScript, the Preview button renders the page with the preview, unsaved.
    no_js = editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                          "source": source, "version": "1",
                                          "preview": "Preview without saving"})
    assert no_js.status_code == 200 and "Line 3" in text(no_js)
    assert "Version 1" in text(editor_client.get(url))


def test_save_then_stale_save_conflict_page_keeps_both_texts(app, editor_client, draft, token):
    url = f"/edit/lessons/{draft['lesson']}"
    csrf = token(editor_client, url)
    saved = editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                          "source": "Theirs.\n", "version": "1"})
    assert saved.status_code == 303
    assert "Saved as version 2" in text(editor_client.get(saved.headers["Location"]))
    conflict = editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                             "source": "Mine <b>bold</b>.\n", "version": "1"})
    assert conflict.status_code == 409
    page = text(conflict)
    assert "Theirs." in page and "Mine &lt;b&gt;bold&lt;/b&gt;." in page
    assert re.search(r'name="version" type="hidden" value="2"', page)
    with app.app_context():
        assert db.session.get(Lesson, draft["lesson"]).source == "Theirs.\n"


def test_a_conflict_with_my_other_tab_explains_the_merge_and_refuses_markers(
    app, editor_client, draft, token
):
    url = f"/edit/lessons/{draft['lesson']}"
    csrf = token(editor_client, url)
    base = "Intro.\n\n## Step\n\nBody.\n"
    assert editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                         "source": base.replace("Body.", "Tab one."),
                                         "version": "1"}).status_code == 303
    conflict = editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                             "source": base.replace("Body.", "Tab two."),
                                             "version": "1"})
    assert conflict.status_code == 409
    page = text(conflict)
    assert "You saved this lesson in another tab" in page
    assert "same lines were changed on both\n    sides in 1 place" in page
    assert "Change 1</strong> (line 5 of the box)" in page
    merged = re.search(r'<textarea[^>]*id="source"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    assert "&lt;&lt;&lt;&lt;&lt;&lt;&lt; change 1: what you saved in another tab (version 2) has" \
        in merged

    # Saving the merge with its marker lines is refused, naming the lines.
    import html

    # As a browser sends it: the newline that opens a <textarea> is not part of its text.
    merged = html.unescape(merged).removeprefix("\r\n").removeprefix("\n")
    refused = editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                            "source": merged, "version": "2"})
    assert refused.status_code == 400
    assert "marker lines of a merge (lines 5, 7, 9)" in text(refused)
    with app.app_context():
        assert "Tab one." in db.session.get(Lesson, draft["lesson"]).source
    fixed = base.replace("Body.", "Tab two, merged.")
    assert editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                         "source": fixed, "version": "2"}).status_code == 303


def test_a_conflict_with_another_editor_names_them(app, editor_client, draft, token, login):
    with app.app_context():
        other = make_user("grace@example.org", role="editor", display_name="Grace")
        lesson = db.session.get(Lesson, draft["lesson"])
        owner = db.session.get(User, lesson.course.owner_id)
        authoring.invite_editor(owner, lesson.course, other.email)
        db.session.commit()
    grace = app.test_client()
    login(grace, "grace@example.org", DEFAULT_PASSWORD)
    url = f"/edit/lessons/{draft['lesson']}"
    assert grace.post(url, data={"csrf_token": token(grace, url), "title": "Hello",
                                 "source": "Grace's text.\n", "version": "1"}).status_code == 303
    conflict = editor_client.post(url, data={"csrf_token": token(editor_client, url),
                                             "title": "Hello", "source": "Mine.\n",
                                             "version": "1"})
    page = text(conflict)
    assert "Grace saved this lesson while you were editing" in page
    assert "Saved by Grace (version 2)" in page


def test_a_markdown_heading_underline_is_not_a_merge_marker(app, editor_client, draft, token):
    url = f"/edit/lessons/{draft['lesson']}"
    response = editor_client.post(url, data={
        "csrf_token": token(editor_client, url), "title": "Hello", "version": "1",
        "source": "Intro.\n\nA heading\n=======\n\nText.\n"})
    assert response.status_code == 303


def test_oversized_source_is_a_form_error(app, editor_client, draft, token):
    url = f"/edit/lessons/{draft['lesson']}"
    csrf = token(editor_client, url)
    response = editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                             "source": "x" * 200_001, "version": "1"})
    assert response.status_code == 400
    assert "the limit is 200 KB" in text(response)


def test_history_diff_and_restore(app, editor_client, draft, token):
    url = f"/edit/lessons/{draft['lesson']}"
    csrf = token(editor_client, url)
    editor_client.post(url, data={"csrf_token": csrf, "title": "Hello",
                                  "source": "Intro.\n\n## Step\n\nChanged body.\n",
                                  "version": "1"})
    history = text(editor_client.get(f"{url}/history"))
    assert "Version 2" in history and "(current)" in history and "+1" in history
    revision = text(editor_client.get(f"{url}/history/2"))
    assert 'class="diff-remove"' in revision and "Changed body." in revision
    # Lines are blocks of their own: no newline between them to show as a blank line.
    assert "</span>\n<span" not in revision
    old = editor_client.get(f"{url}/history/1")
    assert "Restore this version" in text(old)
    restored = editor_client.post(f"{url}/history/1/restore",
                                  data={"csrf_token": csrf, "version": "2"})
    assert restored.status_code == 303
    with app.app_context():
        lesson = db.session.get(Lesson, draft["lesson"])
        assert (lesson.version, lesson.source) == (3, "Intro.\n\n## Step\n\nBody.\n")
        assert db.session.scalar(select(func.count()).select_from(LessonRevision)
                                 .where(LessonRevision.lesson_id == lesson.id)) == 3
    assert editor_client.get(f"{url}/history/99").status_code == 404
    stale = editor_client.post(f"{url}/history/1/restore",
                               data={"csrf_token": csrf, "version": "2"})
    assert stale.status_code == 409


def test_course_history_page(editor_client, draft):
    page = text(editor_client.get(f"/edit/courses/{draft['course']}/history"))
    assert "Created" in page and "Authoring 101" in page


# --- co-editors ---------------------------------------------------------------------------------


def test_invite_and_remove_coeditor(app, editor_client, draft, login, token):
    with app.app_context():
        make_user("co@example.org", role="editor")
        make_user("learner@example.org")
    url = f"/edit/courses/{draft['course']}/people"
    csrf = token(editor_client, url)
    learner = editor_client.post(url, data={"csrf_token": csrf, "email": "learner@example.org"})
    nobody = editor_client.post(url, data={"csrf_token": csrf, "email": "nobody@example.org"})
    assert learner.status_code == nobody.status_code == 400 and "editor role" in text(learner)
    # A learner's address and an unknown one get the same page.
    # (The CSRF token carries the second it was signed in: it may differ between the two.)
    def same(page, email):
        return re.sub(r"[\w-]+\.[\w-]{6}\.[\w-]{27}", "TOKEN", text(page).replace(email, "X"))
    assert same(learner, "learner@example.org") == same(nobody, "nobody@example.org")
    assert editor_client.post(url, data={"csrf_token": csrf,
                                         "email": "co@example.org"}).status_code == 303
    co = app.test_client()
    login(co, "co@example.org", DEFAULT_PASSWORD)
    assert co.get(f"/edit/courses/{draft['course']}").status_code == 200
    assert "Only the owner" in text(co.get(url))
    with app.app_context():
        co_id = db.session.scalar(select(CourseEditor.user_id))
    editor_client.post(f"{url}/{co_id}/remove", data={"csrf_token": csrf})
    assert co.get(f"/edit/courses/{draft['course']}").status_code == 403
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action)))
        assert {"course.editor_add", "course.editor_remove"} <= actions


def test_quiz_embed_link_resolves_by_key(app, client, draft):
    from tests.factories import make_quiz

    with app.app_context():
        module = db.session.get(Module, draft["module"])
        quiz = make_quiz(module, key="check")
        course = db.session.get(Course, draft["course"])
        course.status, course.published_at = "published", course.created_at
        db.session.commit()
        quiz_id = quiz.id
    response = client.get("/courses/authoring-101/quizzes/check")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/quizzes/{quiz_id}")
    assert client.get("/courses/authoring-101/quizzes/nope").status_code == 404
