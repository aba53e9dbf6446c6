"""Narration and the private audio store: idempotent synthesis per lesson version,
exact section offsets, private files, who may listen, and the legacy audio import."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from decimal import Decimal
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import func, select

from tests.factories import enroll, make_course, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Lesson, LessonRevision
from webapp.models.base import utcnow
from webapp.models.jobs import AudioAsset, GenerationJob, ProviderCall
from webapp.providers.tts import (
    EspeakProvider,
    Speech,
    encode_mp3,
    mp3_duration_ms,
    mp3_frames,
)
from webapp.services import audio, audio_access, authoring, courses
from webapp.services.exceptions import NotFound, ValidationFailed
from webapp.settings import get_settings

ESPEAK = shutil.which("espeak-ng")
_SILENCE = encode_mp3(b"\0\0" * 22050, 22050, 1)
_FIRST = mp3_frames(_SILENCE)[1]
FRAME = _SILENCE[_FIRST.offset:_FIRST.offset + _FIRST.length]  # 576 samples at 22050 Hz


def app_store() -> audio.AudioStore:
    """The app's private audio store (inside an app context)."""
    return audio.AudioStore.for_settings(get_settings(current_app))


class CountingProvider:
    """A speech provider that makes one MP3 frame per 20 characters and counts its calls."""

    name = "fake"
    model = "fake-tts"

    def __init__(self, voice: str = "v1", price_per_char: Decimal = Decimal("0.000002")):
        self.voice = voice
        self.price = price_per_char
        self.calls: list[str] = []

    def synthesize(self, text: str) -> Speech:
        self.calls.append(text)
        data = FRAME * max(1, len(text) // 20)
        return Speech(audio=data, mime_type="audio/mpeg", duration_ms=mp3_duration_ms(data),
                      characters=len(text), cost=self.price * len(text),
                      cost_source="configured")


def first_lesson(course) -> Lesson:
    return course.modules[0].lessons[0]


@pytest.fixture
def editor(app_ctx):
    return make_user(role="editor")


@pytest.fixture
def course(editor):
    return make_course("Narrated", modules=1, lessons=2, sections=3, owner=editor)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- lesson text ------------------------------------------------------------------------------


def test_narration_text_reads_prose_and_announces_code(course):
    lesson = first_lesson(course)
    text, starts = audio.narration_text(lesson)
    keys = [s.key for s in lesson.sections]
    assert list(starts) == keys
    assert text.startswith("Lesson 1.1.\nAn introduction to lesson 1.1.")
    assert "Step 2." in text and "What step 3 of lesson 1.1 is about." in text
    assert audio.CODE_OMITTED in text and "print" not in text and "<" not in text
    for key, offset in starts.items():
        title = next(s.title for s in lesson.sections if s.key == key)
        if key != keys[0]:
            assert text[offset:].startswith(title)


def test_html_to_speech_text_handles_what_lessons_contain():
    html = (
        '<h2 id="a">Heading</h2><p>Text with a note<sup class="footnote-ref"><a href="#fn1">[1]'
        "</a></sup> and <code>x = 1</code>.</p>"
        '<div class="highlight"><pre><code><span>secret()</span></code></pre></div>'
        '<aside class="callout callout-tip" role="note" aria-label="Tip"><p>Be kind.</p></aside>'
        '<figure class="figure"><img src="/x.png" alt="A chart"><figcaption>Sales</figcaption>'
        "</figure><ul><li>one</li><li>two</li></ul><script>alert(1)</script>"
        '<section class="footnotes"><ol><li><p>The note. <a class="footnote-backref">↩︎</a></p>'
        "</li></ol></section><p>&amp; done</p>"
    )
    assert audio.html_to_speech_text(html).split("\n") == [
        "Heading.", "Text with a note and x = 1.", audio.CODE_OMITTED, "Tip: Be kind.",
        "A chart.", "Sales.", "one.", "two.", "The note.", "& done.",
    ]


# --- narration --------------------------------------------------------------------------------


def test_narrate_lesson_stores_a_private_file_and_records_it(course):
    lesson = first_lesson(course)
    provider = CountingProvider()
    asset = audio.narrate_lesson(lesson, provider, app_store())
    db.session.commit()

    assert len(provider.calls) == len(lesson.sections)  # one synthesis per section
    path = app_store().path_of(asset)
    data = path.read_bytes()
    root = app_store().root
    assert path == (root / asset.storage_name).resolve()
    assert asset.storage_name == f"{asset.sha256[:2]}/{asset.sha256}.mp3"
    assert hashlib.sha256(data).hexdigest() == asset.sha256 and len(data) == asset.size_bytes
    assert mode(path) == 0o600 and mode(path.parent) == 0o700 and mode(root) == 0o700
    assert not list(root.glob(".incoming-*"))
    assert "static" not in path.parts
    assert asset.mime_type == "audio/mpeg" and asset.provider == "fake"
    assert asset.voice == "fake:v1" and asset.lesson_version == lesson.version
    assert asset.duration_ms == mp3_duration_ms(data) > 0

    # Offsets: one per section, increasing, each where that section's audio starts.
    offsets = asset.section_offsets
    assert list(offsets) == [s.key for s in lesson.sections]
    values = list(offsets.values())
    assert values[0] == 0 and values == sorted(values) and len(set(values)) == len(values)
    frames_before = 0
    for key, text in zip(offsets, provider.calls, strict=True):
        assert offsets[key] == round(frames_before * 576 / 22050 * 1000)
        frames_before += max(1, len(text) // 20)

    characters = sum(len(t) for t in provider.calls)
    call = db.session.scalar(select(ProviderCall))
    assert call.call_key == f"narration:{lesson.id}:{lesson.version}:fake:v1"
    assert call.kind == "speech" and call.provider == "fake" and call.model == "fake-tts"
    assert call.characters == characters and call.course_id == course.id
    assert call.cost == asset.cost == Decimal("0.000002") * characters
    assert call.cost_source == "configured" and call.job_id is None
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "audio.narrate"))
    assert audit.target_id == lesson.id and audit.delta["asset_id"] == asset.id


def test_unchanged_text_is_not_synthesized_again(course):
    lesson = first_lesson(course)
    provider = CountingProvider()
    first = audio.narrate_lesson(lesson, provider, app_store())
    db.session.commit()
    calls = len(provider.calls)
    again = audio.narrate_lesson(lesson, provider, app_store())
    assert again.id == first.id and len(provider.calls) == calls
    assert db.session.scalar(select(func.count(ProviderCall.id))) == 1
    assert audio.latest_asset(lesson).id == first.id
    # Another voice is another narration.
    other = audio.narrate_lesson(lesson, CountingProvider(voice="v2"), app_store())
    assert other.id != first.id and other.voice == "fake:v2"
    assert audio.latest_asset(lesson, "fake:v1").id == first.id


def test_a_changed_lesson_gets_new_narration(course, editor):
    lesson = first_lesson(course)
    provider = CountingProvider()
    old = audio.narrate_lesson(lesson, provider, app_store())
    db.session.commit()
    authoring.save_lesson(editor, lesson, base_version=lesson.version, title=lesson.title,
                          source=lesson.source + "\n\n## A new step\n\nSomething new to hear.")
    db.session.commit()
    assert audio.latest_asset(lesson) is None  # the old narration is for the old text
    calls = len(provider.calls)
    new = audio.narrate_lesson(lesson, provider, app_store())
    db.session.commit()
    assert len(provider.calls) == calls + len(lesson.sections)
    assert new.id != old.id and new.lesson_version == old.lesson_version + 1
    assert "a-new-step" in new.section_offsets and new.sha256 != old.sha256
    assert audio.latest_asset(lesson).id == new.id
    assert db.session.get(AudioAsset, old.id) is not None  # history kept


def test_a_concurrent_narration_of_the_same_version_wins_cleanly(course, monkeypatch):
    lesson = first_lesson(course)
    winner = audio.narrate_lesson(lesson, CountingProvider(), app_store())
    db.session.commit()
    # This process looked before the other one committed: it synthesizes too, and
    # then the unique constraint, not a crash, decides.
    real, looks = audio_access.find_asset, []

    def existing_after_the_first_look(*args):
        looks.append(args)
        return None if len(looks) == 1 else real(*args)

    monkeypatch.setattr(audio_access, "find_asset", existing_after_the_first_look)
    provider = CountingProvider()
    again = audio.narrate_lesson(lesson, provider, app_store())
    assert provider.calls and again.id == winner.id
    db.session.commit()
    assert db.session.scalar(select(func.count(AudioAsset.id))) == 1
    assert db.session.scalar(select(func.count(ProviderCall.id))) == 1


def test_narration_cost_is_added_to_the_job(course):
    lesson = first_lesson(course)
    job = GenerationJob(kind="narration", subject_key=f"narration:{lesson.id}:{lesson.version}",
                        status="running", started_at=utcnow(), course_id=course.id,
                        lesson_id=lesson.id, cost=Decimal("0.5"))
    db.session.add(job)
    db.session.flush()
    asset = audio.narrate_lesson(lesson, CountingProvider(), app_store(), job=job)
    db.session.commit()
    call = db.session.scalar(select(ProviderCall))
    assert call.job_id == job.id and call.job_kind == "narration"
    assert job.cost == Decimal("0.5") + asset.cost > Decimal("0.5")


def test_provider_failure_leaves_nothing_behind(course):
    class Failing(CountingProvider):
        def synthesize(self, text):
            if len(self.calls) == 1:
                from webapp.providers.tts import SpeechError

                raise SpeechError("the service is down")
            return super().synthesize(text)

    from webapp.providers.tts import SpeechError

    with pytest.raises(SpeechError):
        audio.narrate_lesson(first_lesson(course), Failing(), app_store())
    db.session.rollback()
    assert db.session.scalar(select(func.count(AudioAsset.id))) == 0
    assert db.session.scalar(select(func.count(ProviderCall.id))) == 0


def test_a_lesson_without_sections_has_nothing_to_narrate(course):
    lesson = first_lesson(course)
    for section in list(lesson.sections):
        db.session.delete(section)
    db.session.flush()
    db.session.expire(lesson, ["sections"])
    with pytest.raises(ValidationFailed, match="no text"):
        audio.narrate_lesson(lesson, CountingProvider(), app_store())


@pytest.mark.skipif(ESPEAK is None, reason="espeak-ng is not installed (apt-get install "
                                            "espeak-ng)")
def test_espeak_narrates_a_real_lesson(editor):
    course = make_course("Spoken", modules=1, lessons=1, sections=2, owner=editor)
    lesson = first_lesson(course)
    asset = audio.narrate_lesson(lesson, EspeakProvider(binary=ESPEAK), app_store())
    db.session.commit()
    data = app_store().path_of(asset).read_bytes()
    assert mp3_frames(data) and asset.duration_ms > 2000 and asset.voice == "espeak:en-us"
    second = lesson.sections[1].key
    assert 0 < asset.section_offsets[second] < asset.duration_ms
    assert asset.cost == 0 and db.session.scalar(select(ProviderCall)).cost_source == "free"


# --- the store --------------------------------------------------------------------------------


def test_write_audio_is_content_addressed_and_atomic(app_ctx):
    name, sha = app_store().write(FRAME * 3)
    again, same = app_store().write(FRAME * 3)
    assert (name, sha) == (again, same)
    assert (app_store().root / name).read_bytes() == FRAME * 3
    assert not list(app_store().root.glob(".incoming-*"))


@pytest.mark.parametrize("storage_name", [
    "../../etc/passwd",
    "/etc/passwd",
    "ab/../../../etc/passwd",
    "..",
    "",
    "ab/" + "a" * 64 + ".mp3",  # prefix does not match the hash
    "AB/AB" + "a" * 62 + ".mp3",
    "ab/ab" + "a" * 62 + ".exe",
    "ab/ab" + "a" * 62 + ".mp3\n",
    "ab/ab" + "a" * 62 + ".mp3/../../x",
    "ab\\ab" + "a" * 62 + ".mp3",
    "ab/ab" + "a" * 62 + ".mp3\x00.txt",
])
def test_asset_path_refuses_names_that_are_not_content_names(course, storage_name):
    asset = audio.narrate_lesson(first_lesson(course), CountingProvider(), app_store())
    asset.storage_name = storage_name
    with pytest.raises(NotFound):
        app_store().path_of(asset)


def test_asset_path_refuses_links_out_of_the_store_and_missing_files(course, tmp_path):
    asset = audio.narrate_lesson(first_lesson(course), CountingProvider(), app_store())
    outside = tmp_path / "secret.mp3"
    outside.write_bytes(b"secret")
    sha = hashlib.sha256(b"linked").hexdigest()
    link = app_store().root / sha[:2] / f"{sha}.mp3"
    link.parent.mkdir(mode=0o700, exist_ok=True)
    link.unlink(missing_ok=True)
    os.symlink(outside, link)
    try:
        asset.storage_name = f"{sha[:2]}/{sha}.mp3"
        with pytest.raises(NotFound):
            app_store().path_of(asset)
    finally:
        link.unlink()
    missing = hashlib.sha256(b"never written").hexdigest()
    asset.storage_name = f"{missing[:2]}/{missing}.mp3"
    with pytest.raises(NotFound):
        app_store().path_of(asset)


# --- who may listen ---------------------------------------------------------------------------


def test_who_may_listen(course, editor):
    asset = audio.narrate_lesson(first_lesson(course), CountingProvider(), app_store())
    db.session.commit()
    learner, stranger = make_user(), make_user()
    enroll(learner, course)
    admin = make_user(role="admin")
    other_editor = make_user(role="editor")
    co_editor = make_user(role="editor")
    authoring.invite_editor(editor, course, co_editor.email)
    db.session.commit()

    assert audio.can_listen(learner, asset)
    assert audio.can_listen(editor, asset) and audio.can_listen(co_editor, asset)
    assert audio.can_listen(admin, asset)
    assert not audio.can_listen(stranger, asset)
    assert not audio.can_listen(other_editor, asset)
    assert not audio.can_listen(None, asset)

    from webapp.services import accounts

    accounts.set_status(learner, "suspended", actor=None)
    db.session.commit()
    assert not audio.can_listen(learner, asset)
    accounts.set_status(learner, "active", actor=None)
    authoring.unpublish(editor, course)
    db.session.commit()
    assert not audio.can_listen(learner, asset)  # enrolled, but the course is withdrawn
    assert audio.can_listen(editor, asset) and audio.can_listen(admin, asset)

    with pytest.raises(NotFound):
        audio.get_asset_for(learner, asset.id)
    for missing in (0, -1, asset.id + 1000, 2**31, 10**30):
        with pytest.raises(NotFound):
            audio.get_asset_for(admin, missing)


# --- legacy public audio ----------------------------------------------------------------------


@pytest.fixture
def legacy(editor, tmp_path):
    """A course imported from an old system whose lessons link public /audio/ files."""
    course = make_course("Legacy", modules=1, lessons=0, owner=editor, publish=False)
    module = course.modules[0]
    one = courses.add_lesson_unchecked(None, module, "Welcome", (
        "Listen to [the intro](/audio/intro.mp3) first.\n\n"
        "## Part two\n\n![chart audio](/audio/sub/part%202.mp3 \"Part 2\")\n\n"
        "Also <audio src=\"/audio/intro.mp3\"> and a [missing one](/audio/gone.mp3).\n\n"
        "Not ours: https://old.example.com/audio/intro.mp3 and /static/audio/intro.mp3.\n\n"
        "Sneaky: [x](/audio/%2e%2e/secret.mp3) [y](/audio/sub/%2E%2E/%2e%2e/secret.mp3).\n"
    ))
    two = courses.add_lesson_unchecked(None, module, "Again",
                                       "Once more: [intro](/audio/intro.mp3).\n")
    courses.add_lesson_unchecked(None, module, "Plain", "Nothing to hear here.\n")
    db.session.commit()
    folder = tmp_path / "public-audio"
    (folder / "sub").mkdir(parents=True)
    (folder / "intro.mp3").write_bytes(FRAME * 40)
    (folder / "sub" / "part 2.mp3").write_bytes(FRAME * 10)
    (folder / "unused.ogg").write_bytes(b"OggS-not-linked")
    (tmp_path / "secret.mp3").write_bytes(b"outside the folder")
    return {"course": course, "one": one, "two": two, "folder": folder}


def test_import_public_dry_run_changes_nothing(legacy):
    one, folder = legacy["one"], legacy["folder"]
    source, version = one.source, one.version
    before = sorted(app_store().root.rglob("*")) if app_store().root.exists() else []
    report = audio.import_public_audio(folder, app_store(), dry_run=True)
    db.session.rollback()
    assert report.dry_run and report.lessons_changed == 2
    assert sorted((r.lesson_slug, r.name) for r in report.imported) == [
        ("again", "intro.mp3"), ("welcome", "intro.mp3"), ("welcome", "sub/part%202.mp3")]
    assert {r.name: r.problem for r in report.problems} == {
        "gone.mp3": "not found in the folder, left as it is",
        "%2e%2e/secret.mp3": "unsafe name, left as it is",
        "sub/%2E%2E/%2e%2e/secret.mp3": "unsafe name, left as it is",
    }
    assert report.unreferenced == ["unused.ogg"]
    db.session.refresh(one)
    assert (one.source, one.version) == (source, version)
    assert db.session.scalar(select(func.count(AudioAsset.id))) == 0
    after = sorted(app_store().root.rglob("*")) if app_store().root.exists() else []
    assert after == before and (folder / "intro.mp3").exists()


def test_import_public_moves_files_and_rewrites_links(legacy):
    one, two, folder = legacy["one"], legacy["two"], legacy["folder"]
    version = one.version
    report = audio.import_public_audio(folder, app_store())
    db.session.commit()
    removed = audio.remove_imported_files(report)
    assert sorted(p.name for p in removed) == ["intro.mp3", "part 2.mp3"]
    assert not (folder / "intro.mp3").exists() and not (folder / "sub" / "part 2.mp3").exists()
    assert (folder / "unused.ogg").exists()  # not linked from any lesson: left there

    assets = {(a.lesson_id, a.voice): a for a in db.session.scalars(select(AudioAsset))}
    intro = assets[(one.id, "imported:intro.mp3")]
    part = assets[(one.id, "imported:sub/part 2.mp3")]
    intro_two = assets[(two.id, "imported:intro.mp3")]
    assert len(assets) == 3
    assert intro.storage_name == intro_two.storage_name  # one file, two lessons
    assert app_store().path_of(intro).read_bytes() == FRAME * 40
    assert mode(app_store().path_of(part)) == 0o600
    assert intro.provider == "imported" and intro.mime_type == "audio/mpeg"
    assert intro.duration_ms == mp3_duration_ms(FRAME * 40)

    db.session.refresh(one)
    assert one.version == version + 1 == intro.lesson_version
    assert f"[the intro](/audio/{intro.id})" in one.source
    assert f'![chart audio](/audio/{part.id} "Part 2")' in one.source
    assert f'<audio src="/audio/{intro.id}">' in one.source
    assert "(/audio/gone.mp3)" in one.source and "(/audio/%2e%2e/secret.mp3)" in one.source
    assert "https://old.example.com/audio/intro.mp3" in one.source
    assert "/static/audio/intro.mp3" in one.source
    assert f'href="/audio/{intro.id}"' in one.sections[0].html
    assert f"(/audio/{intro_two.id})" in db.session.get(Lesson, two.id).source
    revision = db.session.scalar(select(LessonRevision).where(
        LessonRevision.lesson_id == one.id, LessonRevision.version == one.version))
    assert revision.kind == "import"
    assert db.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "lesson.import_audio")) == 2
    # Imported recordings are not the lesson's narration.
    assert audio.latest_asset(one) is None
    # A second run finds nothing left to do.
    again = audio.import_public_audio(folder, app_store())
    assert again.imported == [] and again.lessons_changed == 0


def test_import_public_needs_a_folder(app_ctx, tmp_path):
    with pytest.raises(ValidationFailed, match="not a folder"):
        audio.import_public_audio(tmp_path / "nope", app_store())


# --- the command line -------------------------------------------------------------------------


@pytest.fixture
def run(app):
    from webapp.cli import cli

    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, list(args))


def test_cli_narrate_without_a_provider_says_how_to_get_one(run, course, monkeypatch):
    from webapp.providers import tts

    monkeypatch.setattr(tts, "make_speech_provider", lambda _settings: None)
    result = run("audio", "narrate", course.slug)
    assert result.exit_code == 1
    assert "No speech provider: install espeak-ng (apt-get install espeak-ng)" in result.output
    assert "TANGENT_TTS_PROVIDER=openai" in result.output


def test_cli_narrate_makes_what_is_missing_once(run, course, monkeypatch):
    from webapp.providers import tts

    provider = CountingProvider()
    monkeypatch.setattr(tts, "make_speech_provider", lambda _settings: provider)
    first = run("audio", "narrate", course.slug, "--lesson", "lesson-1-2")
    assert first.exit_code == 0, first.output
    assert "lesson-1-2: narrated version 1 with fake:v1" in first.output
    assert "Narrated 1 lesson; 0 up to date." in first.output
    calls = len(provider.calls)
    second = run("audio", "narrate", course.slug)
    assert second.exit_code == 0, second.output
    assert "lesson-1-1: narrated" in second.output and "lesson-1-2: up to date" in second.output
    assert "Narrated 1 lesson; 1 up to date." in second.output
    assert len(provider.calls) > calls
    db.session.expire_all()
    assert db.session.scalar(select(func.count(AudioAsset.id))) == 2

    missing = run("audio", "narrate", course.slug, "--lesson", "nope")
    assert missing.exit_code == 1 and "has no lesson 'nope'" in missing.output
    unknown = run("audio", "narrate", "no-such-course")
    assert unknown.exit_code == 1 and "no course with slug" in unknown.output


def test_cli_narrate_reports_provider_errors(run, course, monkeypatch):
    from webapp.providers import tts

    class Broken(CountingProvider):
        def synthesize(self, text):
            raise tts.SpeechError("the speech service answered 401: bad key")

    monkeypatch.setattr(tts, "make_speech_provider", lambda _settings: Broken())
    result = run("audio", "narrate", course.slug)
    assert result.exit_code == 1
    assert "lesson-1-1: the speech service answered 401: bad key" in result.output

    def misconfigured(_settings):
        raise tts.ConfigError("TANGENT_TTS_PROVIDER: espeak, but espeak-ng is not installed")

    monkeypatch.setattr(tts, "make_speech_provider", misconfigured)
    result = run("audio", "narrate", course.slug)
    assert result.exit_code == 1 and "espeak-ng is not installed" in result.output


def test_cli_import_public(run, legacy):
    folder = legacy["folder"]
    dry = run("audio", "import-public", str(folder), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "legacy/welcome: /audio/intro.mp3 would be imported" in dry.output
    assert "legacy/welcome: /audio/gone.mp3: not found in the folder" in dry.output
    assert "Dry run: 2 lessons and 2 files would change; nothing was changed." in dry.output
    assert f"Left 1 audio file in {folder} that no lesson links to." in dry.output
    assert (folder / "intro.mp3").exists()

    done = run("audio", "import-public", str(folder))
    assert done.exit_code == 0, done.output
    assert "Moved 2 files into the private audio store; rewrote 2 lessons." in done.output
    assert not (folder / "intro.mp3").exists()
    db.session.expire_all()
    ids = set(db.session.scalars(select(AudioAsset.id)))
    assert len(ids) == 3 and all(f"-> /audio/{i}" in done.output for i in ids)

    missing = run("audio", "import-public", str(folder / "nope"))
    assert missing.exit_code == 2 and "does not exist" in missing.output
