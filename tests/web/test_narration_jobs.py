"""Narration as a background job from the lesson editor: espeak-ng synthesizes the
lesson version once, the asset and its ledger row are written, an enrolled learner can
play it, and an edited lesson needs (and gets) new narration."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from tests.factories import DEFAULT_PASSWORD, enroll, make_user
from webapp.extensions import db
from webapp.models import AudioAsset, GenerationJob, Lesson, ProviderCall
from webapp.services import authoring

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                reason="espeak-ng is not installed (apt-get install espeak-ng)")


@pytest.fixture
def lesson_id(app):
    with app.app_context():
        editor = make_user("ed@example.org", role="editor")
        course = authoring.create_course(editor, title="Sound course")
        module = authoring.add_module(editor, course, "M")
        lesson = authoring.add_lesson(editor, module, "Listen",
                                      "Hello there.\n\n## Second part\n\nMore words here.\n")
        authoring.publish(editor, course)
        db.session.commit()
        return lesson.id


def test_narrate_from_the_editor_then_listen(app, client, lesson_id, csrf_token, login):
    login(client, "ed@example.org", DEFAULT_PASSWORD)
    url = f"/edit/lessons/{lesson_id}"
    assert "has no narration yet" in client.get(url).get_data(as_text=True)
    token = csrf_token(client, url)
    response = client.post(f"{url}/narrate", data={"csrf_token": token})
    assert response.status_code == 303 and "/jobs/" in response.headers["Location"]
    # The status page says what it is about, in words.
    status_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "<h1>Narration: “Listen”</h1>" in status_page
    assert "Background job" not in status_page and "all 1 steps" not in status_page
    with app.app_context():
        job = db.session.scalar(select(GenerationJob))
        assert (job.kind, job.status, job.error) == ("narration", "succeeded", "")
        asset = db.session.scalar(select(AudioAsset))
        assert asset.lesson_version == 1 and asset.duration_ms > 0
        assert set(asset.section_offsets) == {"listen", "second-part"}
        call = db.session.scalar(select(ProviderCall))
        assert (call.kind, call.job_id, call.provider) == ("speech", job.id, "espeak")
        asset_id = asset.id
    editor_page = client.get(url).get_data(as_text=True)
    assert "Narrated (" in editor_page
    # The editor can listen to what was made, through the same protected view.
    assert f'<audio class="editor-narration" controls preload="none" src="/audio/{asset_id}"' \
        in editor_page
    audio = client.get(f"/audio/{asset_id}")
    assert audio.status_code == 200
    audio.close()
    # Asking again for the same version narrates nothing new.
    client.post(f"{url}/narrate", data={"csrf_token": token})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AudioAsset)) == 1

    learner = app.test_client()
    with app.app_context():
        user = make_user("learner@example.org")
        enroll(user, db.session.get(Lesson, lesson_id).course)
    login(learner, "learner@example.org", DEFAULT_PASSWORD)
    audio = learner.get(f"/audio/{asset_id}")
    body = audio.get_data()
    audio.close()
    assert audio.status_code == 200 and audio.headers["Content-Type"] == "audio/mpeg"
    assert len(body) > 1000

    # Saving the same text again makes no version and narrates nothing.
    same = client.post(url, data={
        "csrf_token": token, "title": "Listen", "version": "1",
        "source": "Hello there.\n\n## Second part\n\nMore words here.\n"})
    assert same.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AudioAsset)) == 1
    # A changed lesson that was narrated gets narration of its new version.
    changed = client.post(url, data={"csrf_token": token, "title": "Listen", "version": "1",
                                     "source": "Changed text.\n"})
    assert changed.status_code == 303
    assert "its new version is being narrated" in client.get(url).get_data(as_text=True)
    with app.app_context():
        versions = db.session.scalars(select(AudioAsset.lesson_version)
                                      .order_by(AudioAsset.id)).all()
        assert versions == [1, 2]
    assert "Narrated (" in client.get(url).get_data(as_text=True)


def test_narration_is_for_editors_of_the_course(app, client, lesson_id, csrf_token, login):
    make = app.app_context()
    with make:
        make_user("other@example.org", role="editor")
    login(client, "other@example.org", DEFAULT_PASSWORD)
    token = csrf_token(client, "/edit/")
    assert client.post(f"/edit/lessons/{lesson_id}/narrate",
                       data={"csrf_token": token}).status_code == 403
