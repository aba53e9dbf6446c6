"""Export and import pages over HTTP: download, import as a new draft, the problem
report (400, nothing written), replacing a draft, and who may do what."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from sqlalchemy import select

from tests.factories import DEFAULT_PASSWORD, enroll, make_user
from tests.unit.test_packages import (
    build_zip,
    counts,
    make_rich_course,
    members,
    package_files,
    snapshot,
)
from webapp.extensions import db
from webapp.models import Course, Lesson, SectionProgress, User
from webapp.services import authoring, packages, progress


def text(response) -> str:
    return response.get_data(as_text=True)


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


@pytest.fixture
def editor_client(app, client, login):
    with app.app_context():
        make_user("ed@example.org", role="editor", display_name="Ed")
    login(client, "ed@example.org", DEFAULT_PASSWORD)
    return client


@pytest.fixture
def course_id(app, editor_client) -> int:
    """A draft course of ed's with lessons and quizzes of every kind."""
    with app.app_context():
        return make_rich_course(_user("ed@example.org")).id


@pytest.fixture
def _upload(csrf_token):
    def _upload_(client, url: str, data: bytes, *, form_page: str = "/edit/import",
                filename: str = "course.zip"):
        token = csrf_token(client, form_page)
        return client.post(url, data={"csrf_token": token,
                                      "package": (io.BytesIO(data), filename)},
                           content_type="multipart/form-data")

    return _upload_


# --- the package page and export -----------------------------------------------------------


def test_package_page_of_a_draft_offers_export_and_replace(editor_client, course_id):
    response = editor_client.get(f"/edit/courses/{course_id}/package")
    assert response.status_code == 200
    page = text(response)
    assert f'href="/edit/courses/{course_id}/export.zip"' in page
    assert "Export as zip" in page
    assert f'action="/edit/courses/{course_id}/import"' in page
    assert 'enctype="multipart/form-data"' in page and 'type="file"' in page
    assert 'aria-current="page">Export and import<' in page


def test_package_page_of_a_published_course_explains_why_replace_is_off(
    app, editor_client, course_id
):
    with app.app_context():
        course = db.session.get(Course, course_id)
        authoring.publish(_user("ed@example.org"), course)
        db.session.commit()
    page = text(editor_client.get(f"/edit/courses/{course_id}/package"))
    assert "Export as zip" in page
    assert 'type="file"' not in page
    assert "unpublish it first" in page
    assert f'href="/edit/courses/{course_id}/unpublish"' in page


def test_export_downloads_the_course_as_a_zip(app, editor_client, course_id):
    response = editor_client.get(f"/edit/courses/{course_id}/export.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    with app.app_context():
        course = db.session.get(Course, course_id)
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="{course.slug}.zip"')
        assert response.data == packages.export_course(course)
    assert "no-store" in response.headers["Cache-Control"]
    package = packages.read_package(response.data)
    assert [len(m.lessons) for m in package.modules] == [2, 1, 0]


# --- import as a new draft -----------------------------------------------------------------


def test_import_page_has_an_upload_form(editor_client):
    page = text(editor_client.get("/edit/import"))
    assert 'action="/edit/import"' in page and 'enctype="multipart/form-data"' in page
    assert 'name="package"' in page and 'accept=".zip,application/zip"' in page


def test_import_creates_a_draft_and_redirects_to_it(app, editor_client, course_id, _upload):
    data = editor_client.get(f"/edit/courses/{course_id}/export.zip").data
    response = _upload(editor_client, "/edit/import", data)
    assert response.status_code == 303
    with app.app_context():
        new = db.session.scalar(select(Course).where(Course.id != course_id))
        original = db.session.get(Course, course_id)
        assert response.headers["Location"].endswith(f"/edit/courses/{new.id}")
        assert new.status == "draft" and new.owner_id == _user("ed@example.org").id
        assert new.slug == f"{original.slug}-2"
        assert snapshot(new.id) == snapshot(course_id)
    page = text(editor_client.get(response.headers["Location"]))
    assert "Imported “Packages in practice” as a new draft." in page
    assert f"because “{original.slug}” is taken" in page


def test_import_keeps_a_free_slug(app, editor_client, _upload):
    response = _upload(editor_client, "/edit/import", build_zip(package_files()))
    assert response.status_code == 303
    page = text(editor_client.get(response.headers["Location"]))
    assert "Imported “Tiny” as a new draft." in page and "is taken" not in page
    with app.app_context():
        assert db.session.scalar(select(Course.slug)) == "tiny"


def test_an_invalid_package_gets_a_report_and_nothing_is_written(app, editor_client,
                                                                 course_id, _upload):
    files = package_files(**{"lessons__01-one_dot_md": "no front matter <b>here</b>",
                             "notes_dot_txt": "stray"})
    manifest = json.loads(files["course.json"])
    manifest["level"] = "expert"
    files["course.json"] = json.dumps(manifest)
    with app.app_context():
        before = counts()
    response = _upload(editor_client, "/edit/import", build_zip(files))
    assert response.status_code == 400
    page = text(response)
    assert "The package could not be imported" in page
    assert "The package is not valid (3 problems); nothing was imported." in page
    for problem in ("notes.txt: not part of a course package",
                    "course.json: level must be one of beginner, intermediate, advanced.",
                    "lessons/01-one.md: must start with front matter"):
        assert problem in page, problem
    assert page.count("<li>") >= 3
    assert 'href="/edit/import"' in page
    with app.app_context():
        assert counts() == before


def test_not_a_zip_is_reported(editor_client, _upload):
    response = _upload(editor_client, "/edit/import", b"hello", filename="notes.zip")
    assert response.status_code == 400
    assert "This is not a zip file, or it is damaged." in text(response)


def test_import_without_a_file_is_a_form_error(editor_client, csrf_token):
    token = csrf_token(editor_client, "/edit/import")
    response = editor_client.post("/edit/import", data={"csrf_token": token},
                                  content_type="multipart/form-data")
    assert response.status_code == 400
    assert "Choose a .zip file exported from Tangent." in text(response)


def test_import_needs_a_csrf_token(app, editor_client):
    response = editor_client.post("/edit/import", data={
        "package": (io.BytesIO(build_zip(package_files())), "course.zip")},
        content_type="multipart/form-data")
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(Course.id)) is None


# --- replacing a draft ---------------------------------------------------------------------


def _changed_package(data: bytes) -> bytes:
    """The export with the second lesson's text changed and the third lesson removed."""
    files = members(data)
    manifest = json.loads(files["course.json"])
    manifest["modules"][1]["lessons"] = []
    files["course.json"] = json.dumps(manifest).encode()
    del files["lessons/03-checking-in.md"]
    files["lessons/02-averages.md"] += b"\n## One more thing\n\nAdded in the package.\n"
    return build_zip(files)


def test_replace_keeps_a_learners_progress_on_an_unchanged_lesson(app, editor_client,
                                                                   course_id, _upload):
    with app.app_context():
        ed = _user("ed@example.org")
        course = db.session.get(Course, course_id)
        authoring.publish(ed, course)
        db.session.commit()
        learner = make_user("learner@example.org")
        enroll(learner, course)
        unchanged = db.session.scalar(select(Lesson).where(Lesson.slug == "setting-up"))
        section_ids = [s.id for s in unchanged.sections]
        for section_id in section_ids:
            progress.complete_section(learner, section_id)
        db.session.commit()
        authoring.unpublish(ed, course)
        db.session.commit()
        unchanged_id = unchanged.id
    data = _changed_package(editor_client.get(f"/edit/courses/{course_id}/export.zip").data)

    response = _upload(editor_client, f"/edit/courses/{course_id}/import", data,
                       form_page=f"/edit/courses/{course_id}/package")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/edit/courses/{course_id}")
    assert "The draft now matches the package." in text(
        editor_client.get(response.headers["Location"]))
    with app.app_context():
        lessons = db.session.scalars(select(Lesson).where(Lesson.course_id == course_id)
                                     .order_by(Lesson.position)).all()
        assert [x.slug for x in lessons] == ["setting-up", "averages"]
        assert lessons[0].id == unchanged_id
        assert [s.id for s in lessons[0].sections] == section_ids
        done = set(db.session.scalars(select(SectionProgress.section_id)))
        assert set(section_ids) <= done
        assert lessons[1].sections[-1].title == "One more thing"


def test_replace_with_an_invalid_package_changes_nothing(app, editor_client, course_id, _upload):
    with app.app_context():
        before, shot = counts(), snapshot(course_id)
    response = _upload(editor_client, f"/edit/courses/{course_id}/import",
                       build_zip(package_files(**{"quizzes__q_dot_json": "{"})),
                       form_page=f"/edit/courses/{course_id}/package")
    assert response.status_code == 400
    page = text(response)
    assert "quizzes/q.json: not valid JSON" in page
    assert f'href="/edit/courses/{course_id}/package"' in page
    with app.app_context():
        assert counts() == before and snapshot(course_id) == shot


def test_a_published_course_cannot_be_replaced(app, editor_client, course_id, _upload):
    with app.app_context():
        authoring.publish(_user("ed@example.org"), db.session.get(Course, course_id))
        db.session.commit()
        before, shot = counts(), snapshot(course_id)
    response = _upload(editor_client, f"/edit/courses/{course_id}/import",
                       build_zip(package_files()),
                       form_page=f"/edit/courses/{course_id}/package")
    assert response.status_code == 400
    assert "unpublish it first" in text(response)
    with app.app_context():
        assert counts() == before and snapshot(course_id) == shot


# --- who may ---------------------------------------------------------------------------------


def _paths(course_id: int) -> list[tuple[str, str]]:
    return [("get", f"/edit/courses/{course_id}/package"),
            ("get", f"/edit/courses/{course_id}/export.zip"),
            ("post", f"/edit/courses/{course_id}/import")]


def test_learners_get_403(app, client, course_id, csrf_token, login):
    with app.app_context():
        make_user("learner@example.org")
    learner = app.test_client()
    login(learner, "learner@example.org", DEFAULT_PASSWORD)
    token = csrf_token(learner, "/account/")
    for method, path in [*_paths(course_id), ("get", "/edit/import"), ("post", "/edit/import")]:
        response = getattr(learner, method)(path, data={"csrf_token": token})
        assert response.status_code == 403, path


def test_editors_who_do_not_edit_the_course_get_403(app, course_id, login, _upload):
    with app.app_context():
        make_user("other@example.org", role="editor")
        before = counts()
    other = app.test_client()
    login(other, "other@example.org", DEFAULT_PASSWORD)
    assert other.get(f"/edit/courses/{course_id}/package").status_code == 403
    assert other.get(f"/edit/courses/{course_id}/export.zip").status_code == 403
    response = _upload(other, f"/edit/courses/{course_id}/import", build_zip(package_files()))
    assert response.status_code == 403
    assert other.get("/edit/courses/999999/package").status_code == 404
    with app.app_context():
        assert counts() == before


def test_co_editors_may_export_and_replace(app, course_id, login, _upload):
    with app.app_context():
        ed = _user("ed@example.org")
        co = make_user("co@example.org", role="editor")
        authoring.invite_editor(ed, db.session.get(Course, course_id), co.email)
        db.session.commit()
    co_client = app.test_client()
    login(co_client, "co@example.org", DEFAULT_PASSWORD)
    data = co_client.get(f"/edit/courses/{course_id}/export.zip").data
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "course.json" in zf.namelist()
    response = _upload(co_client, f"/edit/courses/{course_id}/import", data)
    assert response.status_code == 303
