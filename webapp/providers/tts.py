"""Speech providers: text in, compact MP3 out.

Two back ends behind one small interface (``SpeechProvider``):

- ``EspeakProvider`` runs the local ``espeak-ng`` program (no network, no cost)
  and encodes its WAV output to MP3 with ``lameenc`` (LAME bindings shipped as
  wheels, so no ffmpeg is needed).
- ``OpenAISpeechProvider`` calls an OpenAI-compatible ``POST {base}/audio/speech``
  asking for MP3, retrying rate limits and server errors.

MP3 is a sequence of self-contained frames, so pieces made separately can be
joined by concatenating their frames (``join_mp3``); durations are counted from
the frames themselves (``mp3_duration_ms``), so offsets into a joined file are
exact.
"""

from __future__ import annotations

import logging
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx

from webapp.settings import ConfigError, Settings

log = logging.getLogger(__name__)

MP3_MIME = "audio/mpeg"
DEFAULT_ESPEAK_VOICE = "en-us"
DEFAULT_OPENAI_VOICE = "alloy"
# Mono speech at 48 kbit/s: about 360 KB a minute, clear enough for a voice.
MP3_BITRATE_KBPS = 48
# LAME's quality knob: 2 is near-best, 7 is fast; 5 is plenty for speech.
MP3_QUALITY = 5
# The OpenAI speech endpoint takes at most 4096 characters per request.
OPENAI_MAX_INPUT = 4096
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 60.0
_MONEY_STEP = Decimal("1E-10")  # the ledger keeps ten decimal places
# A voice name goes on a command line: letters, digits and a few separators, and
# never a leading "-" (it would be read as an option).
_VOICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+./:-]{0,59}")


class SpeechError(RuntimeError):
    """The provider could not turn the text into audio; the message says why (no secrets)."""


class TransientSpeechError(SpeechError):
    """Rate limited, a server error, a timeout or the network, after the retries: a job
    may try again later."""


@dataclass(frozen=True)
class Speech:
    """Encoded audio for one piece of text, and what making it cost."""

    audio: bytes
    mime_type: str
    duration_ms: int
    characters: int
    cost: Decimal
    # "reported" by the provider, "configured" from TANGENT_TTS_PRICE, or "free".
    cost_source: str


class SpeechProvider(Protocol):
    name: str
    voice: str
    model: str

    def synthesize(self, text: str) -> Speech:
        """MP3 audio of ``text`` read aloud; raises ``SpeechError``."""
        ...


# --- MP3 frames -----------------------------------------------------------------------------

# Bit rates in kbit/s by (MPEG version 1 or 2/2.5, layer), indexed by the header's 4 bits.
_BITRATES = {
    (1, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}
_VERSIONS = {0: 25, 2: 2, 3: 1}  # header bits -> MPEG 2.5, 2, 1 (1 is reserved)


@dataclass(frozen=True)
class Mp3Frame:
    offset: int
    length: int
    samples: int
    sample_rate: int


def _frame_at(data: bytes, pos: int) -> Mp3Frame | None:
    """The MPEG audio frame starting at ``pos``, or None if there is none (or it is cut)."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    b1, b2 = data[pos + 1], data[pos + 2]
    version = _VERSIONS.get((b1 >> 3) & 3)
    layer = 4 - ((b1 >> 1) & 3)
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    # Reserved values, and free-format streams (bit rate index 0), are not audio we accept.
    if version is None or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _BITRATES[(1 if version == 1 else 2, layer)][bitrate_index] * 1000
    rate = _SAMPLE_RATES[version][rate_index]
    if layer == 1:
        length, samples = (12 * bitrate // rate + padding) * 4, 384
    elif layer == 2 or version == 1:
        length, samples = 144 * bitrate // rate + padding, 1152
    else:
        length, samples = 72 * bitrate // rate + padding, 576
    if pos + length > len(data):
        return None
    return Mp3Frame(pos, length, samples, rate)


def _after_id3v2(data: bytes) -> int:
    """Where the audio starts, after any ID3v2 tags."""
    pos = 0
    while data[pos:pos + 3] == b"ID3" and pos + 10 <= len(data):
        size = 0
        for byte in data[pos + 6:pos + 10]:
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if data[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return pos


def _is_tag_frame(data: bytes, frame: Mp3Frame) -> bool:
    """A Xing/Info/VBRI header frame: metadata for players, not sound."""
    head = data[frame.offset + 4:frame.offset + min(frame.length, 64)]
    return b"Xing" in head or b"Info" in head or b"VBRI" in head


def mp3_frames(data: bytes) -> list[Mp3Frame]:
    """The audio frames of an MP3 file, without tags (ID3, Xing/Info) or trailing junk.

    The frames must run back to back from the first one; whatever follows the
    last complete frame (an ID3v1 or APE tag, a cut frame) is left out.
    """
    pos = _after_id3v2(data)
    frames: list[Mp3Frame] = []
    while (frame := _frame_at(data, pos)) is not None:
        frames.append(frame)
        pos += frame.length
    if frames and _is_tag_frame(data, frames[0]):
        frames.pop(0)
    return frames


def mp3_seconds(data: bytes) -> Decimal:
    """Playing time of an MP3 file in seconds, counted from its frames (0 if none)."""
    return sum((Decimal(f.samples) / f.sample_rate for f in mp3_frames(data)), Decimal(0))


def to_ms(seconds: Decimal) -> int:
    return int((seconds * 1000).to_integral_value(ROUND_HALF_UP))


def mp3_duration_ms(data: bytes) -> int:
    """Playing time of an MP3 file in whole milliseconds (0 if it has no frames)."""
    return to_ms(mp3_seconds(data))


def join_mp3(parts: list[bytes]) -> bytes:
    """One MP3 stream made of the parts' audio frames, in order (tags dropped)."""
    out = bytearray()
    for part in parts:
        frames = mp3_frames(part)
        if not frames:
            raise SpeechError("a piece of audio to join is not MP3")
        out += part[frames[0].offset:frames[-1].offset + frames[-1].length]
    return bytes(out)


# --- espeak-ng ------------------------------------------------------------------------------


def _check_voice(voice: str, variable: str = "TANGENT_TTS_VOICE") -> str:
    if not _VOICE_RE.fullmatch(voice):
        raise ConfigError(f"{variable}: expected a voice name such as en-us or alloy "
                          f"(letters, digits, + . / : _ -), got {voice!r}")
    return voice


def _wav_pcm(wav: bytes) -> tuple[bytes, int, int]:
    """(16-bit PCM, sample rate, channels) from a RIFF/WAVE file."""
    if wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise SpeechError("espeak-ng did not produce a WAV file")
    pos, fmt = 12, None
    while pos + 8 <= len(wav):
        chunk, size = wav[pos:pos + 4], int.from_bytes(wav[pos + 4:pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt " and body + 16 <= len(wav):
            fmt = struct.unpack_from("<HHIIHH", wav, body)
        elif chunk == b"data":
            if fmt is None:
                break
            encoding, channels, rate, _byte_rate, _align, bits = fmt
            if encoding != 1 or bits != 16 or channels not in (1, 2):
                raise SpeechError(f"espeak-ng produced unsupported WAV audio "
                                  f"(format {encoding}, {bits} bits, {channels} channels)")
            # Writing to a pipe, espeak-ng cannot go back to fill in the sizes, so the
            # header says "huge": the samples run to the end of the output.
            pcm = wav[body:min(len(wav), body + size)]
            frame = 2 * channels
            return pcm[:len(pcm) - len(pcm) % frame], rate, channels
        pos = body + size + (size & 1)
    raise SpeechError("espeak-ng produced a WAV file without audio")


def encode_mp3(pcm: bytes, sample_rate: int, channels: int) -> bytes:
    """Encode 16-bit little-endian PCM to constant-bit-rate MP3 with LAME."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_BITRATE_KBPS)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(channels)
    encoder.set_quality(MP3_QUALITY)
    return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


class EspeakProvider:
    """Local speech with ``espeak-ng``: robotic but free, private and offline."""

    name = "espeak"
    model = "espeak-ng"

    def __init__(self, *, binary: str, voice: str = DEFAULT_ESPEAK_VOICE,
                 timeout: float | None = None) -> None:
        self.binary = binary
        self.voice = _check_voice(voice)
        self.timeout = timeout

    def synthesize(self, text: str) -> Speech:
        text = text.strip()
        if not text:
            raise SpeechError("there is no text to read aloud")
        # espeak-ng is far faster than real time; allow a minute plus ~1 s per 100 characters.
        timeout = self.timeout if self.timeout is not None else 60 + len(text) / 100
        try:
            # No shell, fixed arguments; the text goes on stdin (-b 1: it is UTF-8), and
            # SSML is off, so nothing in a lesson is interpreted as markup or an option.
            done = subprocess.run(  # noqa: S603
                [self.binary, "--stdout", "-b", "1", "-v", self.voice],
                input=text.encode("utf-8"), capture_output=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise TransientSpeechError(f"espeak-ng took longer than {timeout:.0f} seconds") \
                from None
        except OSError as exc:
            raise SpeechError(f"cannot run espeak-ng: {exc.strerror or exc}") from None
        if done.returncode != 0:
            detail = done.stderr.decode("utf-8", "replace").strip()[:200]
            raise SpeechError(f"espeak-ng failed (exit status {done.returncode}): {detail}")
        pcm, rate, channels = _wav_pcm(done.stdout)
        if not pcm:
            raise SpeechError(f"espeak-ng produced no sound (is the voice {self.voice!r} "
                              "installed? espeak-ng --voices lists them)")
        audio = encode_mp3(pcm, rate, channels)
        return Speech(audio=audio, mime_type=MP3_MIME, duration_ms=mp3_duration_ms(audio),
                      characters=len(text), cost=Decimal(0), cost_source="free")


# --- OpenAI-compatible /audio/speech ------------------------------------------------------


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at paragraph, sentence or word ends."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n"), *(window.rfind(p) + 1 for p in (". ", "! ", "? ")))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _retry_wait(response: httpx.Response | None, attempt: int) -> float:
    """Seconds to wait before the next try: the server's Retry-After, else backing off."""
    raw = response.headers.get("Retry-After", "").strip() if response is not None else ""
    wait: float | None = None
    if raw.isdigit():
        wait = float(raw)
    elif raw:
        try:
            wait = (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            wait = None
    if wait is None:
        wait = float(2 ** attempt)
    return min(max(wait, 0.0), MAX_RETRY_WAIT)


class OpenAISpeechProvider:
    """An OpenAI-compatible speech endpoint (OpenAI itself, or a local server)."""

    name = "openai"

    def __init__(
        self, *, base_url: str, api_key: str | None, model: str,
        voice: str = DEFAULT_OPENAI_VOICE, price_per_million: Decimal = Decimal(0),
        timeout: float = 60, max_retries: int = 3,
        sleep: Callable[[float], None] = time.sleep, client: httpx.Client | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/audio/speech"
        self.api_key = api_key
        self.model = model
        self.voice = _check_voice(voice)
        self.price = price_per_million
        self.timeout = timeout
        self.max_retries = max_retries
        self.sleep = sleep
        self.client = client

    def cost_of(self, characters: int) -> Decimal:
        return (self.price * characters / 1_000_000).quantize(_MONEY_STEP, ROUND_HALF_UP)

    def synthesize(self, text: str) -> Speech:
        pieces = split_text(text, OPENAI_MAX_INPUT)
        if not pieces:
            raise SpeechError("there is no text to read aloud")
        if self.client is not None:
            parts = [self._speak(self.client, piece) for piece in pieces]
        else:
            with httpx.Client(timeout=self.timeout) as client:
                parts = [self._speak(client, piece) for piece in pieces]
        audio = parts[0] if len(parts) == 1 else join_mp3(parts)
        characters = sum(len(piece) for piece in pieces)
        return Speech(audio=audio, mime_type=MP3_MIME, duration_ms=mp3_duration_ms(audio),
                      characters=characters, cost=self.cost_of(characters),
                      cost_source="configured")

    def _speak(self, client: httpx.Client, text: str) -> bytes:
        headers = {"Accept": "audio/mpeg"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {"model": self.model, "voice": self.voice, "input": text,
                "response_format": "mp3"}
        attempt = 0
        while True:
            response = None
            try:
                response = client.post(self.url, json=body, headers=headers,
                                       timeout=self.timeout)
            except httpx.TransportError as exc:
                problem = f"could not reach the speech service ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    break
                problem = f"the speech service answered {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    raise SpeechError(f"{problem}{_error_detail(response)}")
            if attempt >= self.max_retries:
                raise TransientSpeechError(f"{problem}, after {attempt + 1} tries")
            wait = _retry_wait(response, attempt)
            log.warning("speech request failed (%s); retrying in %.1f s", problem, wait)
            self.sleep(wait)
            attempt += 1
        audio = response.content
        if not mp3_frames(audio):
            raise SpeechError("the speech service did not return MP3 audio "
                              f"(Content-Type {response.headers.get('Content-Type', '?')})")
        return audio


def _error_detail(response: httpx.Response) -> str:
    """The service's own error message, if it sent one in the usual JSON shape."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return ""
    return f": {str(message)[:200]}" if message else ""


# --- choosing one ---------------------------------------------------------------------------


def make_speech_provider(settings: Settings) -> SpeechProvider | None:
    """The configured provider; None when narration is off (or "auto" finds no espeak-ng).

    Asking for espeak explicitly when it is not installed is a configuration error.
    """
    choice = settings.tts_provider
    if choice == "none":
        return None
    if choice in ("auto", "espeak"):
        binary = shutil.which("espeak-ng")
        if binary is None:
            if choice == "espeak":
                raise ConfigError("TANGENT_TTS_PROVIDER: espeak, but espeak-ng is not installed "
                                  "(apt-get install espeak-ng)")
            return None
        return EspeakProvider(binary=binary, voice=settings.tts_voice or DEFAULT_ESPEAK_VOICE)
    return OpenAISpeechProvider(
        base_url=settings.tts_base_url, api_key=settings.tts_api_key, model=settings.tts_model,
        voice=settings.tts_voice or DEFAULT_OPENAI_VOICE, price_per_million=settings.tts_price,
        timeout=settings.ai_timeout, max_retries=settings.ai_max_retries,
    )
