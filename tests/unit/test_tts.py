"""Speech providers: espeak-ng for real, the OpenAI-compatible endpoint against a fake
server over HTTP, and the MP3 frame helpers that join and time their output."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from tests.fake_openai import Reply, error_reply, fake_openai_server
from webapp.providers import tts
from webapp.providers.tts import (
    EspeakProvider,
    OpenAISpeechProvider,
    SpeechError,
    TransientSpeechError,
    encode_mp3,
    join_mp3,
    make_speech_provider,
    mp3_duration_ms,
    mp3_frames,
    split_text,
)
from webapp.settings import ConfigError, Settings

ESPEAK = shutil.which("espeak-ng")
needs_espeak = pytest.mark.skipif(
    ESPEAK is None, reason="espeak-ng is not installed (apt-get install espeak-ng)")


def silence_mp3(seconds: float = 0.5, rate: int = 22050) -> bytes:
    """Real MP3 made by the same encoder the espeak provider uses."""
    return encode_mp3(b"\0\0" * int(rate * seconds), rate, 1)


def is_mp3(data: bytes) -> bool:
    return data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)


# --- MP3 frames -----------------------------------------------------------------------------


def test_frames_give_the_duration_and_skip_tags():
    audio = silence_mp3(1.0)
    frames = mp3_frames(audio)
    assert frames and all(f.sample_rate == 22050 and f.samples == 576 for f in frames)
    assert 1000 <= mp3_duration_ms(audio) <= 1150  # the encoder pads to whole frames
    # An ID3v2 tag in front, an ID3v1 tag behind and a Xing header frame change nothing.
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x05" + b"TIT2\x00"
    first = audio[frames[0].offset:frames[0].offset + frames[0].length]
    xing = first[:4] + b"\0" * 9 + b"Xing" + b"\0" * (len(first) - 17)
    tagged = id3 + xing + audio + b"TAG" + b"\0" * 125
    assert mp3_duration_ms(tagged) == mp3_duration_ms(audio)
    assert join_mp3([tagged]) == audio


def test_joined_audio_lasts_as_long_as_its_parts():
    one, two = silence_mp3(0.4), silence_mp3(0.7)
    joined = join_mp3([one, two])
    assert len(mp3_frames(joined)) == len(mp3_frames(one)) + len(mp3_frames(two))
    assert abs(mp3_duration_ms(joined) - mp3_duration_ms(one) - mp3_duration_ms(two)) <= 1


def test_not_mp3_has_no_frames_and_cannot_be_joined():
    for junk in (b"", b"RIFF....WAVEfmt ", b'{"error": "nope"}', b"\xff\xff\xff\xff" * 10):
        assert mp3_frames(junk) == [] and mp3_duration_ms(junk) == 0
    with pytest.raises(SpeechError):
        join_mp3([silence_mp3(0.2), b"<html>"])


def test_split_text_keeps_pieces_under_the_limit_and_loses_nothing():
    text = " ".join(f"Sentence number {n} is here." for n in range(400))
    pieces = split_text(text, 500)
    assert len(pieces) > 1 and all(len(piece) <= 500 for piece in pieces)
    assert " ".join(pieces).split() == text.split()
    assert all(piece.endswith(".") for piece in pieces)  # cut at sentence ends
    assert split_text("x" * 1200, 500) == ["x" * 500, "x" * 500, "x" * 200]
    assert split_text("   ", 500) == []


# --- espeak-ng ------------------------------------------------------------------------------


@needs_espeak
def test_espeak_reads_text_into_mp3():
    speech = EspeakProvider(binary=ESPEAK, voice="en-us").synthesize(
        "Hello. This lesson is read aloud by espeak.")
    assert speech.mime_type == "audio/mpeg" and is_mp3(speech.audio)
    assert mp3_frames(speech.audio)
    assert 1000 < speech.duration_ms < 10_000
    assert speech.duration_ms == mp3_duration_ms(speech.audio)
    assert speech.characters == len("Hello. This lesson is read aloud by espeak.")
    assert speech.cost == Decimal(0) and speech.cost_source == "free"
    # Compact: mono 48 kbit/s is about 6 KB a second.
    assert len(speech.audio) < 8 * speech.duration_ms


@needs_espeak
def test_espeak_takes_text_on_stdin_never_as_options_or_markup():
    provider = EspeakProvider(binary=ESPEAK)
    for text in ("--help", "-v xx; rm -rf /", "<speak><audio src='x'/></speak>", "$(id) `id`"):
        speech = provider.synthesize(text)
        assert speech.duration_ms > 0


@needs_espeak
def test_espeak_unknown_voice_and_empty_text_are_errors():
    with pytest.raises(SpeechError, match="voice does not exist"):
        EspeakProvider(binary=ESPEAK, voice="zz-nope").synthesize("Hello")
    with pytest.raises(SpeechError, match="no text"):
        EspeakProvider(binary=ESPEAK).synthesize("  \n ")


def test_espeak_failures_are_reported(tmp_path):
    fake = tmp_path / "fake-espeak"
    fake.write_text("#!/bin/sh\necho 'broken' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(SpeechError, match=r"exit status 3\): broken"):
        EspeakProvider(binary=str(fake)).synthesize("Hello")
    slow = tmp_path / "slow-espeak"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    with pytest.raises(TransientSpeechError, match="longer than"):
        EspeakProvider(binary=str(slow), timeout=0.2).synthesize("Hello")
    not_wav = tmp_path / "not-wav"
    not_wav.write_text("#!/bin/sh\necho hello\n")
    not_wav.chmod(0o755)
    with pytest.raises(SpeechError, match="WAV"):
        EspeakProvider(binary=str(not_wav)).synthesize("Hello")
    with pytest.raises(SpeechError, match="cannot run"):
        EspeakProvider(binary=str(tmp_path / "missing")).synthesize("Hello")


@pytest.mark.parametrize("voice", ["-x", "--stdout", "en us", "a;b", "", "x" * 61, "en\n"])
def test_voices_that_could_be_options_are_refused(voice):
    with pytest.raises(ConfigError, match="TANGENT_TTS_VOICE"):
        EspeakProvider(binary="/bin/true", voice=voice)


# --- OpenAI-compatible speech ---------------------------------------------------------------


def mp3_reply(seconds: float = 0.5, **kwargs) -> Reply:
    return Reply(body=silence_mp3(seconds), headers={"Content-Type": "audio/mpeg"}, **kwargs)


def openai(server, **kwargs) -> tuple[OpenAISpeechProvider, list[float]]:
    waits: list[float] = []
    kwargs.setdefault("api_key", "sk-secret-test-key")
    provider = OpenAISpeechProvider(base_url=server.url, model="tts-fake", voice="nova",
                                    sleep=waits.append, timeout=5, **kwargs)
    return provider, waits


def test_openai_speech_posts_the_text_and_prices_it():
    with fake_openai_server() as server:
        server.push(mp3_reply(0.5))
        provider, waits = openai(server, price_per_million=Decimal("15"))
        speech = provider.synthesize("Read this aloud, please.")
    (request,) = server.requests
    assert request.method == "POST" and request.path == "/v1/audio/speech"
    assert request.headers["authorization"] == "Bearer sk-secret-test-key"
    assert request.json() == {"model": "tts-fake", "voice": "nova",
                              "input": "Read this aloud, please.", "response_format": "mp3"}
    assert speech.mime_type == "audio/mpeg" and mp3_frames(speech.audio)
    assert speech.duration_ms == mp3_duration_ms(silence_mp3(0.5))
    assert speech.characters == 24
    assert speech.cost == Decimal("0.000360") and speech.cost_source == "configured"
    assert waits == []


def test_openai_speech_without_a_key_sends_no_authorization():
    with fake_openai_server() as server:
        server.push(mp3_reply())
        provider, _ = openai(server, api_key=None)
        provider.synthesize("Hi")
    assert "authorization" not in server.requests[0].headers


def test_openai_long_text_is_sent_in_pieces_and_joined():
    text = " ".join(f"This is sentence {n} of a long lesson." for n in range(300))
    assert len(text) > tts.OPENAI_MAX_INPUT * 2
    with fake_openai_server() as server:
        server.always(mp3_reply(0.3))
        provider, _ = openai(server, price_per_million=Decimal(1))
        speech = provider.synthesize(text)
    inputs = [r.json()["input"] for r in server.requests]
    assert len(inputs) == 3 and all(len(i) <= tts.OPENAI_MAX_INPUT for i in inputs)
    assert " ".join(inputs).split() == text.split()
    assert speech.duration_ms == pytest.approx(3 * mp3_duration_ms(silence_mp3(0.3)), abs=2)
    assert speech.characters == sum(len(i) for i in inputs)


def test_openai_retries_rate_limits_honouring_retry_after():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    with fake_openai_server() as server:
        server.push(error_reply(429, "slow down", headers={"Retry-After": "7"}),
                    error_reply(503, "busy", headers={"Retry-After": later}),
                    error_reply(500, "oops"),
                    mp3_reply())
        provider, waits = openai(server)
        speech = provider.synthesize("Hello")
    assert len(server.requests) == 4 and mp3_frames(speech.audio)
    assert waits[0] == 7.0
    assert 25 <= waits[1] <= 30
    assert waits[2] == 4.0  # no Retry-After: backing off 1, 2, 4 … seconds


def test_openai_gives_up_after_the_retries():
    with fake_openai_server() as server:
        server.always(error_reply(503, "down", headers={"Retry-After": "3600"}))
        provider, waits = openai(server, max_retries=2)
        with pytest.raises(TransientSpeechError, match="answered 503, after 3 tries") as caught:
            provider.synthesize("Hello")
    assert len(server.requests) == 3
    assert waits == [tts.MAX_RETRY_WAIT, tts.MAX_RETRY_WAIT]
    assert "sk-secret" not in str(caught.value)


def test_openai_client_errors_are_not_retried_and_keep_the_message():
    with fake_openai_server() as server:
        server.always(error_reply(401, "Incorrect API key provided: sk-se****key"))
        provider, waits = openai(server)
        with pytest.raises(SpeechError, match="answered 401: Incorrect API key") as caught:
            provider.synthesize("Hello")
    assert not isinstance(caught.value, TransientSpeechError)
    assert len(server.requests) == 1 and waits == []
    assert "sk-secret-test-key" not in str(caught.value)


def test_openai_answer_that_is_not_mp3_is_an_error():
    with fake_openai_server() as server:
        server.push(Reply(body={"ok": True}))
        provider, _ = openai(server)
        with pytest.raises(SpeechError, match="did not return MP3"):
            provider.synthesize("Hello")


def test_openai_unreachable_server_is_retried_then_transient():
    with fake_openai_server() as server:
        url = server.url
    provider = OpenAISpeechProvider(base_url=url, api_key=None, model="m", max_retries=1,
                                    sleep=lambda _s: None, timeout=2)
    with pytest.raises(TransientSpeechError, match="could not reach"):
        provider.synthesize("Hello")


# --- choosing a provider --------------------------------------------------------------------


def settings(**kwargs) -> Settings:
    return Settings(**kwargs)


def test_make_speech_provider_follows_the_settings(monkeypatch):
    assert make_speech_provider(settings(tts_provider="none")) is None
    monkeypatch.setattr(tts.shutil, "which", lambda _name: "/usr/bin/espeak-ng")
    auto = make_speech_provider(settings(tts_provider="auto"))
    assert isinstance(auto, EspeakProvider) and auto.voice == tts.DEFAULT_ESPEAK_VOICE
    voiced = make_speech_provider(settings(tts_provider="espeak", tts_voice="en-gb"))
    assert voiced.voice == "en-gb" and voiced.binary == "/usr/bin/espeak-ng"
    remote = make_speech_provider(settings(
        tts_provider="openai", tts_base_url="http://127.0.0.1:9/v1", tts_api_key="k",
        tts_model="tts-1", tts_voice="", tts_price=Decimal("15"), ai_max_retries=5))
    assert isinstance(remote, OpenAISpeechProvider)
    assert remote.url == "http://127.0.0.1:9/v1/audio/speech" and remote.voice == "alloy"
    assert remote.model == "tts-1" and remote.max_retries == 5
    assert remote.cost_of(1_000_000) == Decimal("15")

    monkeypatch.setattr(tts.shutil, "which", lambda _name: None)
    assert make_speech_provider(settings(tts_provider="auto")) is None
    with pytest.raises(ConfigError, match="apt-get install espeak-ng"):
        make_speech_provider(settings(tts_provider="espeak"))
    with pytest.raises(ConfigError, match="TANGENT_TTS_VOICE"):
        make_speech_provider(settings(tts_provider="openai", tts_voice="-rf"))
