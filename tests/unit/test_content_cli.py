"""`tangent content export|import|rerender`, run against the session app."""

from __future__ import annotations

import functools
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import func, select, update

from tests.factories import make_course, make_user
from tests.unit.test_packages import build_zip, counts, make_rich_course, package_files, snapshot
from webapp.cli import cli
from webapp.content.render import RENDERER_VERSION
from webapp.extensions import db
from webapp.models import Course, Lesson, User
from webapp.services import authoring, packages


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, **kwargs) -> Result:
        return runner.invoke(cli, list(args), **kwargs)

    return invoke


@pytest.fixture
def editor(app_ctx) -> User:
    return make_user("ed@example.org", role="editor")


def _failed_cleanly(result: Result, code: int = 1) -> list[str]:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output.strip().splitlines()


def _course(slug: str) -> Course | None:
    db.session.expire_all()
    return db.session.scalar(select(Course).where(Course.slug == slug))


# --- export ------------------------------------------------------------------------------------


def test_export_writes_slug_zip_in_the_current_folder(run, editor, tmp_path, monkeypatch):
    course = make_rich_course(editor)
    monkeypatch.chdir(tmp_path)
    result = run("content", "export", course.slug)
    assert result.exit_code == 0, result.output
    written = tmp_path / f"{course.slug}.zip"
    data = written.read_bytes()
    assert result.output == f"Exported {course.slug} to {course.slug}.zip ({len(data):,} bytes).\n"
    assert data == packages.export_course(course)
    assert zipfile.is_zipfile(written)


def test_export_refuses_to_overwrite_without_force(run, editor, tmp_path):
    course = make_rich_course(editor)
    target = tmp_path / "out.zip"
    target.write_bytes(b"keep me")
    result = run("content", "export", course.slug, "-o", str(target))
    assert _failed_cleanly(result) == [f"Error: {target} exists; use --force to overwrite it"]
    assert target.read_bytes() == b"keep me"
    result = run("content", "export", course.slug, "--output", str(target), "--force")
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == packages.export_course(course)


def test_export_of_an_unknown_course_is_a_one_line_error(run, editor, tmp_path):
    result = run("content", "export", "no-such-course", "-o", str(tmp_path / "x.zip"))
    assert _failed_cleanly(result) == ["Error: no course with slug 'no-such-course'"]
    assert not (tmp_path / "x.zip").exists()


def test_export_to_a_missing_folder_is_a_one_line_error(run, editor, tmp_path):
    course = make_rich_course(editor)
    target = tmp_path / "missing" / "x.zip"
    [line] = _failed_cleanly(run("content", "export", course.slug, "-o", str(target)))
    assert line.startswith(f"Error: cannot write {target}:")


# --- import ------------------------------------------------------------------------------------


def test_import_creates_a_draft_owned_by_the_editor(run, editor, tmp_path):
    course = make_rich_course(editor)
    path = tmp_path / "course.zip"
    path.write_bytes(packages.export_course(course))
    result = run("content", "import", str(path), "--as", "ED@example.org")
    assert result.exit_code == 0, result.output
    copy = _course(f"{course.slug}-2")
    assert result.output == (
        f"Imported {path} as the new draft {copy.slug} (the slug {course.slug!r} was taken): "
        "3 modules, 3 lessons, 2 quizzes.\n")
    assert copy.status == "draft" and copy.owner_id == editor.id
    assert snapshot(copy.id) == snapshot(course.id)


def test_import_with_a_free_slug(run, editor, tmp_path):
    path = tmp_path / "tiny.zip"
    path.write_bytes(build_zip(package_files()))
    result = run("content", "import", str(path), "--as", editor.email)
    assert result.output == f"Imported {path} as the new draft tiny: 1 module, 1 lesson, 1 quiz.\n"


def test_an_invalid_package_prints_the_report_and_writes_nothing(run, editor, tmp_path):
    make_rich_course(editor)
    before = counts()
    path = tmp_path / "bad.zip"
    manifest = json.loads(package_files()["course.json"])
    manifest["format_version"] = 7
    path.write_bytes(build_zip(package_files(**{"course_dot_json": json.dumps(manifest),
                                                "lessons__01-one_dot_md": "nope"})))
    lines = _failed_cleanly(run("content", "import", str(path), "--as", editor.email))
    assert lines == [
        f"Error: {path}: The package is not valid (2 problems); nothing was imported.",
        "  - course.json: format_version 7 is not one this Tangent reads (it reads 1).",
        "  - lessons/01-one.md: must start with front matter (a line '---', then title, slug "
        "and minutes, then '---').",
    ]
    assert counts() == before


@pytest.mark.parametrize(("email", "message"), [
    ("nobody@example.org", "Error: no user with email 'nobody@example.org'"),
    ("learner@example.org",
     "Error: learner@example.org is a learner; imports need an editor or admin account"),
])
def test_import_needs_an_existing_editor_account(run, editor, tmp_path, email, message):
    make_user("learner@example.org")
    path = tmp_path / "tiny.zip"
    path.write_bytes(build_zip(package_files()))
    assert _failed_cleanly(run("content", "import", str(path), "--as", email)) == [message]
    assert _course("tiny") is None


def test_import_of_a_missing_file_is_a_usage_error(run, editor, tmp_path):
    result = run("content", "import", str(tmp_path / "none.zip"), "--as", editor.email)
    assert result.exit_code == 2 and "does not exist" in result.output


def test_import_replace_updates_the_draft(run, editor, tmp_path):
    draft = authoring.create_course(editor, title="Will be replaced")
    db.session.commit()
    source = make_rich_course(editor)
    path = tmp_path / "course.zip"
    path.write_bytes(packages.export_course(source))
    result = run("content", "import", str(path), "--as", editor.email,
                 "--replace", draft.slug)
    assert result.exit_code == 0, result.output
    assert result.output == (f"Replaced the draft will-be-replaced from {path}: 3 modules, "
                             "3 lessons, 2 quizzes.\n")
    assert snapshot(draft.id) == snapshot(source.id)


def test_import_replace_refuses_published_courses_and_strangers(run, editor, tmp_path):
    published = make_course("Live course", owner=editor)
    draft = authoring.create_course(editor, title="Mine")
    make_user("other@example.org", role="editor")
    db.session.commit()
    before = counts()
    path = tmp_path / "tiny.zip"
    path.write_bytes(build_zip(package_files()))
    [line] = _failed_cleanly(run("content", "import", str(path), "--as", editor.email,
                                 "--replace", published.slug))
    assert line.startswith("Error: Only a draft can be replaced") and "unpublish it first" in line
    assert _failed_cleanly(run("content", "import", str(path), "--as", "other@example.org",
                               "--replace", draft.slug)) == [
        "Error: You are not an editor of this course."]
    assert _failed_cleanly(run("content", "import", str(path), "--as", editor.email,
                               "--replace", "nope")) == ["Error: no course with slug 'nope'"]
    assert counts() == before


# --- rerender ------------------------------------------------------------------------------------


def _outdate(count: int) -> None:
    ids = db.session.scalars(select(Lesson.id).order_by(Lesson.id).limit(count)).all()
    db.session.execute(update(Lesson).where(Lesson.id.in_(ids)).values(renderer_version="old"))
    db.session.commit()


def test_rerender_rebuilds_outdated_lessons_in_batches(run, editor, monkeypatch):
    make_course(modules=2, lessons=3)  # 6 lessons
    _outdate(5)
    calls: list[int] = []
    original = authoring.rerender_lessons

    def small_batches(**kwargs):
        calls.append(kwargs["after_id"])
        return original(**kwargs, batch=2)

    monkeypatch.setattr(authoring, "rerender_lessons", small_batches)
    result = run("content", "rerender")
    assert result.exit_code == 0, result.output
    assert result.output == "Re-rendered 5 lessons.\n"
    assert len(calls) == 4 and calls[0] == 0  # three batches of 2, 2, 1, then an empty one
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Lesson.id))
                             .where(Lesson.renderer_version != RENDERER_VERSION)) == 0
    assert run("content", "rerender").output == "Re-rendered 0 lessons.\n"


def test_rerender_all(run, editor, monkeypatch):
    make_course(modules=1, lessons=3)
    monkeypatch.setattr(authoring, "rerender_lessons",
                        functools.partial(authoring.rerender_lessons, batch=1))
    assert run("content", "rerender", "--all").output == "Re-rendered 3 lessons.\n"
    assert run("content", "rerender").output == "Re-rendered 0 lessons.\n"


def test_content_help_lists_the_commands(run):
    result = run("content", "--help")
    assert result.exit_code == 0
    for name in ("export", "import", "rerender"):
        assert name in result.output


def test_readme_documents_packages():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert "## Course packages" in readme
    assert "tangent content export" in readme and "tangent content import" in readme
