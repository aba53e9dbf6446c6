"""The protected audio view and the lesson page's player.

Access: anonymous, unenrolled, enrolled, owner, co-editor, other editor, admin.
Seeking: Range edge cases, conditional requests. Safety: a missing id and a
forbidden one look the same; path-traversal strings in every parameter and a
tampered storage name never reach a file outside the store.
"""

from __future__ import annotations

import hashlib
import os
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import select, update

from tests.factories import DEFAULT_PASSWORD
from webapp.extensions import db
from webapp.models import Course, Lesson, User
from webapp.models.jobs import AudioAsset
from webapp.providers.tts import Speech, encode_mp3, mp3_duration_ms, mp3_frames
from webapp.services import audio, authoring
from webapp.settings import ConfigError, get_settings
from webapp.web.audio.views import parse_offload

_SILENCE = encode_mp3(b"\0\0" * 22050, 22050, 1)
_FRAME = mp3_frames(_SILENCE)[1]
FRAME = _SILENCE[_FRAME.offset:_FRAME.offset + _FRAME.length]
LESSON_URL = "/courses/spoken/lessons/lesson-1-1"
VOLATILE = {"X-Request-ID", "Date"}
REFERENCE = re.compile(rb"\b[0-9a-f]{32}\b")
# A CSRF token carries the second it was signed in, so two pages rendered across
# a second boundary differ there; the token is not what this file compares.
CSRF = re.compile(rb'(name="csrf_token" value="|"X-CSRFToken": ")[^"]+')


def comparable(body: bytes) -> bytes:
    return CSRF.sub(rb"\1-", REFERENCE.sub(b"-", body))


TRAVERSAL = [
    "../../etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2e%2e/%2e%2e/etc/passwd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc%252fpasswd",
    "....//....//etc/passwd",
    "..././..././etc/passwd",
    "/etc/passwd",
    "%2Fetc%2Fpasswd",
    "//etc/passwd",
    "..\\..\\windows\\win.ini",
    "..%5C..%5Cwindows%5Cwin.ini",
    "C:\\Windows\\win.ini",
    "%00",
    "1%00",
    "1%00.mp3",
    "..%00/etc/passwd",
    "..;/etc/passwd",
    "~/.ssh/id_rsa",
    "file:///etc/passwd",
    "1/../../../../etc/passwd",
    "1/..%2F..%2F..%2Fetc%2Fpasswd",
    "ab/" + "a" * 64 + ".mp3",
    "-1",
    "0",
    "1.0",
    "0x1",
    "1e3",
    "+1",
    "%201",
    "a" * 4096,
    "9" * 4096,
    str(2**31),
    str(2**63),
]


def app_store() -> audio.AudioStore:
    """The app's private audio store (inside an app context)."""
    return audio.AudioStore.for_settings(get_settings(current_app))


class FakeSpeech:
    name = "fake"
    model = "fake-tts"
    voice = "v1"

    def synthesize(self, text: str) -> Speech:
        data = FRAME * max(2, len(text) // 8)
        return Speech(audio=data, mime_type="audio/mpeg", duration_ms=mp3_duration_ms(data),
                      characters=len(text), cost=Decimal(0), cost_source="free")


class ClosingClient(FlaskClient):
    """Reads each response whole and closes it, as a WSGI server does (files get closed)."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def _audio_app(make_app) -> Flask:
    application = make_app()
    application.test_client_class = ClosingClient
    # Until webapp/__init__.py registers the blueprint, register it here (before any request).
    if "audio" not in application.blueprints:
        from webapp.web.audio.views import bp

        application.register_blueprint(bp)
    return application


@pytest.fixture
def audio_app(_audio_app: Flask, reset_limits) -> Flask:
    reset_limits(_audio_app)
    return _audio_app


@pytest.fixture
def world(audio_app, make_user, make_course, make_learner):
    """A published course with narration of its first lesson, and one user of each kind."""
    with audio_app.app_context():
        owner = make_user("owner@example.org", role="editor")
        course = make_course("Spoken", modules=1, lessons=2, sections=3, owner=owner)
        lesson = course.modules[0].lessons[0]
        asset = audio.narrate_lesson(lesson, FakeSpeech(), app_store())
        db.session.commit()
        make_learner("enrolled@example.org", enrolled_in=course)
        make_user("stranger@example.org")
        make_user("other-editor@example.org", role="editor")
        make_user("admin@example.org", role="admin")
        co_editor = make_user("co-editor@example.org", role="editor")
        authoring.invite_editor(owner, course, co_editor.email)
        db.session.commit()
        return {
            "id": asset.id, "url": f"/audio/{asset.id}", "sha": asset.sha256,
            "data": app_store().path_of(asset).read_bytes(), "course_id": course.id,
            "lesson_id": lesson.id, "offsets": dict(asset.section_offsets),
            "storage_name": asset.storage_name,
        }


@pytest.fixture
def client_for(login):
    def client_for_(audio_app, email: str | None):
        client = audio_app.test_client()
        if email:
            response = login(client, email, DEFAULT_PASSWORD)
            assert response.status_code == 303
        return client

    return client_for_


def user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def headers_of(response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in VOLATILE}


# --- who may listen ---------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in_whether_or_not_the_asset_exists(audio_app, world, client_for):
    client = client_for(audio_app, None)
    real = client.get(world["url"])
    missing = client.get(f"/audio/{world['id'] + 1000}")
    for response in (real, missing):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next=")
        assert b"ID3" not in response.data and world["data"][:64] not in response.data
    assert client.head(world["url"]).status_code == 302


@pytest.mark.parametrize("email", ["enrolled@example.org", "owner@example.org",
                                   "co-editor@example.org", "admin@example.org"])
def test_allowed_users_get_the_file(audio_app, world, email, client_for):
    response = client_for(audio_app, email).get(world["url"])
    assert response.status_code == 200
    assert response.data == world["data"]
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["Content-Length"] == str(len(world["data"]))
    assert response.headers["Content-Disposition"] == 'inline; filename="lesson-1-1.mp3"'
    assert response.headers["Cache-Control"] == "private, max-age=3600"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["ETag"] == f'"{world["sha"]}"'
    assert response.headers["Last-Modified"].endswith(" GMT")
    assert "Expires" not in response.headers and "public" not in response.headers["Cache-Control"]


@pytest.mark.parametrize("email", ["stranger@example.org", "other-editor@example.org"])
def test_others_get_the_same_404_as_for_a_missing_asset(audio_app, world, email, client_for):
    client = client_for(audio_app, email)
    client.get("/")  # shows (and so clears) the sign-in flash message
    forbidden = client.get(world["url"])
    missing = client.get(f"/audio/{world['id'] + 1000}")
    assert forbidden.status_code == missing.status_code == 404
    # Identical but for the per-request error reference.
    assert comparable(forbidden.data) == comparable(missing.data)
    assert REFERENCE.search(forbidden.data)
    assert headers_of(forbidden) == headers_of(missing)
    assert world["data"][:64] not in forbidden.data
    assert client.head(world["url"]).status_code == 404


def test_withdrawn_course_is_heard_by_its_editors_only(audio_app, world, client_for):
    with audio_app.app_context():
        authoring.unpublish(user("owner@example.org"), db.session.get(Course, world["course_id"]))
        db.session.commit()
    assert client_for(audio_app, "enrolled@example.org").get(world["url"]).status_code == 404
    assert client_for(audio_app, "owner@example.org").get(world["url"]).status_code == 200
    assert client_for(audio_app, "admin@example.org").get(world["url"]).status_code == 200


# --- ranges and revalidation ------------------------------------------------------------------


@pytest.fixture
def listener(audio_app, world, client_for):
    return client_for(audio_app, "enrolled@example.org")


def get_range(client, url, value, **headers):
    return client.get(url, headers={"Range": value, **headers})


def test_byte_ranges_for_seeking(listener, world):
    data, url = world["data"], world["url"]
    size = len(data)
    assert size > 400

    first = get_range(listener, url, "bytes=0-99")
    assert first.status_code == 206 and first.data == data[:100]
    assert first.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert first.headers["Content-Length"] == "100"
    assert first.headers["Content-Type"] == "audio/mpeg"
    assert first.headers["Cache-Control"] == "private, max-age=3600"

    suffix = get_range(listener, url, "bytes=-100")
    assert suffix.status_code == 206 and suffix.data == data[-100:]
    assert suffix.headers["Content-Range"] == f"bytes {size - 100}-{size - 1}/{size}"

    open_ended = get_range(listener, url, "bytes=100-")
    assert open_ended.status_code == 206 and open_ended.data == data[100:]
    assert open_ended.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"

    last_byte = get_range(listener, url, f"bytes={size - 1}-{size + 5000}")
    assert last_byte.status_code == 206 and last_byte.data == data[-1:]

    whole_suffix = get_range(listener, url, f"bytes=-{size * 10}")
    assert whole_suffix.status_code == 206 and whole_suffix.data == data


@pytest.mark.parametrize("value", ["bytes=999999-", "bytes=999999-1000000"])
def test_unsatisfiable_range_is_416_with_the_size(listener, world, value):
    response = get_range(listener, world["url"], value)
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(world['data'])}"
    assert response.data == b""


@pytest.mark.parametrize("value", [
    "bytes=0-9,20-29",  # several ranges: the whole file instead of multipart
    "items=0-5",  # a unit we do not know must be ignored
    "bytes=abc",
    "bytes=5-1",
    "bytes=-0",
    "bytes",
    "",
])
def test_other_range_headers_get_the_whole_file(listener, world, value):
    response = get_range(listener, world["url"], value)
    assert response.status_code == 200 and response.data == world["data"]
    assert "Content-Range" not in response.headers


def test_conditional_requests(listener, world):
    url, etag = world["url"], f'"{world["sha"]}"'
    first = listener.get(url)
    not_modified = listener.get(url, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.data == b""
    assert not_modified.headers["ETag"] == etag
    assert not_modified.headers["Cache-Control"] == "private, max-age=3600"
    since = listener.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert since.status_code == 304
    assert listener.get(url, headers={"If-None-Match": '"other"'}).status_code == 200

    same = get_range(listener, url, "bytes=0-9", **{"If-Range": etag})
    assert same.status_code == 206 and same.data == world["data"][:10]
    changed = get_range(listener, url, "bytes=0-9", **{"If-Range": '"older-version"'})
    assert changed.status_code == 200 and changed.data == world["data"]


def test_head_has_the_headers_and_no_body(listener, world):
    response = listener.head(world["url"])
    assert response.status_code == 200 and response.data == b""
    assert response.headers["Content-Length"] == str(len(world["data"]))
    assert response.headers["Accept-Ranges"] == "bytes"


# --- offloading to the proxy --------------------------------------------------------------------


def test_x_accel_redirect_offload(audio_app, world, listener, monkeypatch, client_for):
    monkeypatch.setitem(audio_app.config, "TANGENT_AUDIO_OFFLOAD",
                        "x-accel-redirect:/protected-audio/")
    response = listener.get(world["url"])
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"/protected-audio/{world['storage_name']}"
    assert response.headers["Content-Type"] == "audio/mpeg"
    assert response.headers["Content-Disposition"] == 'inline; filename="lesson-1-1.mp3"'
    assert response.headers["Cache-Control"] == "private, max-age=3600"
    revalidated = listener.get(world["url"], headers={"If-None-Match": f'"{world["sha"]}"'})
    assert revalidated.status_code == 304 and "X-Accel-Redirect" not in revalidated.headers
    stranger = client_for(audio_app, "stranger@example.org").get(world["url"])
    assert stranger.status_code == 404 and "X-Accel-Redirect" not in stranger.headers


def test_x_sendfile_offload(audio_app, world, listener, monkeypatch):
    monkeypatch.setitem(audio_app.config, "TANGENT_AUDIO_OFFLOAD", "x-sendfile")
    response = listener.get(world["url"])
    assert response.status_code == 200 and response.data == b""
    path = Path(response.headers["X-Sendfile"])
    assert path.is_absolute() and path.read_bytes() == world["data"]
    with audio_app.app_context():
        assert path.is_relative_to(app_store().root.resolve())


def test_offload_setting_is_validated():
    assert parse_offload(None) is None and parse_offload("  ") is None
    assert parse_offload("X-Sendfile") == ("x-sendfile", "")
    assert parse_offload("x-accel-redirect:/private") == ("x-accel-redirect", "/private/")
    for bad in ("x-accel-redirect:", "x-accel-redirect:relative/", "x-accel-redirect:/a/../b/",
                "nginx", "sendfile"):
        with pytest.raises(ConfigError, match="TANGENT_AUDIO_OFFLOAD"):
            parse_offload(bad)


# --- path traversal -----------------------------------------------------------------------------


def assert_not_leaked(response) -> None:
    assert b"root:" not in response.data and b"[fonts]" not in response.data
    assert "X-Accel-Redirect" not in response.headers and "X-Sendfile" not in response.headers


@pytest.mark.parametrize("email", ["admin@example.org", "enrolled@example.org"])
def test_traversal_strings_in_the_id_are_404(audio_app, world, email, reset_limits, client_for):
    client = client_for(audio_app, email)
    for value in TRAVERSAL:
        for path in (f"/audio/{value}", f"/audio/{quote(value, safe='')}",
                     f"{world['url']}/{value}"):
            reset_limits(audio_app)
            response = client.get(path)
            assert response.status_code == 404, path[:80]
            assert_not_leaked(response)


def test_traversal_strings_in_the_query_change_nothing(audio_app, world, reset_limits, client_for):
    client = client_for(audio_app, "admin@example.org")
    missing = f"/audio/{world['id'] + 1000}"
    for value in TRAVERSAL:
        reset_limits(audio_app)
        query = {name: value for name in ("path", "file", "name", "storage_name", "id",
                                          "filename", "asset_id")}
        served = client.get(world["url"], query_string=query)
        assert served.status_code == 200 and served.data == world["data"]
        assert served.headers["Content-Disposition"] == 'inline; filename="lesson-1-1.mp3"'
        refused = client.get(missing, query_string=query)
        assert refused.status_code == 404
        assert_not_leaked(served)
        assert_not_leaked(refused)


@pytest.mark.parametrize("tampered", [
    "../../../../../../../../etc/passwd",
    "/etc/passwd",
    "../" + "a" * 62 + ".mp3",
    "{prefix}/../../../../../../etc/passwd",
    "{prefix}/{sha}.mp3/../../../../../../etc/passwd",
])
def test_tampered_storage_name_is_never_served(audio_app, world, tampered, client_for):
    name = tampered.format(prefix=world["sha"][:2], sha=world["sha"])
    with audio_app.app_context():
        db.session.execute(update(AudioAsset).where(AudioAsset.id == world["id"])
                           .values(storage_name=name))
        db.session.commit()
    response = client_for(audio_app, "admin@example.org").get(world["url"])
    assert response.status_code == 404
    assert_not_leaked(response)


def test_a_store_file_linked_outside_is_not_served(audio_app, world, client_for):
    sha = hashlib.sha256(b"linked to passwd").hexdigest()
    with audio_app.app_context():
        link = app_store().root / sha[:2] / f"{sha}.mp3"
        link.parent.mkdir(mode=0o700, exist_ok=True)
        link.unlink(missing_ok=True)
        os.symlink("/etc/passwd", link)
        db.session.execute(update(AudioAsset).where(AudioAsset.id == world["id"])
                           .values(storage_name=f"{sha[:2]}/{sha}.mp3"))
        db.session.commit()
    try:
        for offload in (None, "x-sendfile"):
            audio_app.config["TANGENT_AUDIO_OFFLOAD"] = offload
            response = client_for(audio_app, "admin@example.org").get(world["url"])
            assert response.status_code == 404
            assert_not_leaked(response)
    finally:
        audio_app.config.pop("TANGENT_AUDIO_OFFLOAD", None)
        link.unlink()


def test_missing_file_is_404(audio_app, world, client_for):
    with audio_app.app_context():
        path = app_store().path_of(db.session.get(AudioAsset, world["id"]))
    moved = path.with_suffix(".bak")
    path.rename(moved)
    try:
        response = client_for(audio_app, "admin@example.org").get(world["url"])
        assert response.status_code == 404
    finally:
        moved.rename(path)


# --- the lesson page's player -------------------------------------------------------------------


def test_enrolled_learner_gets_the_player_and_section_links(audio_app, world, client_for):
    page = client_for(audio_app, "enrolled@example.org").get(LESSON_URL).get_data(as_text=True)
    url = world["url"]
    assert f'<audio controls preload="none" src="{url}"' in page
    text = re.sub(r"<[^>]+>", "", page)
    assert "Listen to this lesson" in text and 'aria-labelledby="narration-heading"' in page
    assert f'<a href="{url}">Download the narration</a>' in page  # inside <audio>: fallback
    assert re.search(r'src="/static/js/narration\.js\?v=[0-9a-f]{12}"', page)
    for key, ms in world["offsets"].items():
        seconds = f"{ms / 1000:.1f}"
        assert f'href="{url}#t={seconds}" data-listen-at="{seconds}"' in page, key
    assert page.count("Listen from here") == len(world["offsets"])
    assert "<script>" not in page and " style=" not in page


def test_others_see_no_player(audio_app, world, client_for):
    stranger = client_for(audio_app, "stranger@example.org").get(LESSON_URL).get_data(
        as_text=True)
    assert "<audio" not in stranger and world["url"] not in stranger
    assert "once you are enrolled" in stranger
    anonymous = client_for(audio_app, None).get(LESSON_URL).get_data(as_text=True)
    assert "<audio" not in anonymous and "sign in</a> and enroll" in anonymous
    other = client_for(audio_app, "enrolled@example.org").get(
        "/courses/spoken/lessons/lesson-1-2").get_data(as_text=True)
    assert "<audio" not in other and "narration.js" not in other  # not narrated


def test_editor_hears_it_and_an_edit_retires_the_player(audio_app, world, client_for):
    owner = client_for(audio_app, "owner@example.org")
    assert f'src="{world["url"]}"' in owner.get(LESSON_URL).get_data(as_text=True)
    with audio_app.app_context():
        lesson = db.session.get(Lesson, world["lesson_id"])
        authoring.save_lesson(user("owner@example.org"), lesson, base_version=lesson.version,
                              title=lesson.title, source=lesson.source + "\n\nA new paragraph.")
        db.session.commit()
    page = owner.get(LESSON_URL).get_data(as_text=True)
    assert "<audio" not in page  # the narration is of the old text
    # The old recording itself is still served by id (history), to those allowed.
    assert owner.get(world["url"]).status_code == 200
