"""Streaming encoders: bytes flow per chunk, mixed input rates work, and the whole is a valid file."""

from __future__ import annotations

import struct
import threading
import time

import numpy as np
import pytest

from voxgate.audio.decode import decode
from voxgate.audio.stream import StreamEncoder, open_stream_encoder
from voxgate.errors import InvalidOption, UnsupportedFormat
from voxgate.types import Audio, AudioFormat


def _tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> Audio:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))


def _peak_hz(audio: Audio, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.argmax(spectrum) * rate / len(audio))


# A sentence from the primary engine, two from a fallback at another rate, one more from the primary.
CHUNKS = [(0.6, 24000), (0.45, 22050), (0.5, 22050), (0.55, 24000)]
TOTAL_SECONDS = sum(seconds for seconds, _ in CHUNKS)

# format, expected stream rate when opened for 24 kHz
FORMATS = [
    (AudioFormat.WAV, 24000),
    (AudioFormat.PCM, 24000),
    (AudioFormat.FLAC, 24000),
    (AudioFormat.MP3, 24000),
    (AudioFormat.OPUS, 48000),
    (AudioFormat.AAC, 24000),
]


def _stream(encoder: StreamEncoder) -> list[bytes]:
    parts = [encoder.feed(_tone(440, rate, seconds), rate) for seconds, rate in CHUNKS]
    parts.append(encoder.finish())
    return parts


@pytest.mark.parametrize(("fmt", "stream_rate"), FORMATS)
def test_stream_of_mixed_rates_decodes_as_one_file(fmt: AudioFormat, stream_rate: int) -> None:
    """Chunks at 24 and 22.05 kHz join into one valid file at the stream rate, total duration ±50 ms."""
    encoder = open_stream_encoder(fmt, 24000)
    assert isinstance(encoder, StreamEncoder)
    assert (encoder.format, encoder.sample_rate) == (fmt, stream_rate)
    audio, rate = decode(b"".join(_stream(encoder)), fmt, sample_rate=stream_rate)
    assert rate == stream_rate
    assert len(audio) / rate == pytest.approx(TOTAL_SECONDS, abs=0.05)
    assert _rms(audio) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    assert _peak_hz(audio, rate) == pytest.approx(440, abs=3)


@pytest.mark.parametrize(("fmt", "stream_rate"), FORMATS)
def test_stream_keeps_each_chunk_in_its_place(fmt: AudioFormat, stream_rate: int) -> None:
    """Tone and silence chunks at different rates decode with tone and silence where they were."""
    encoder = open_stream_encoder(fmt, 24000)
    data = encoder.feed(_tone(1000, 24000, 0.5), 24000)
    data += encoder.feed(np.zeros(11025, dtype=np.float32), 22050)
    data += encoder.feed(_tone(1000, 22050, 0.5), 22050)
    data += encoder.finish()
    audio, rate = decode(data, fmt, sample_rate=stream_rate)
    half, margin = rate // 2, rate // 20
    tone1, silence, tone2 = (
        audio[margin : half - margin],
        audio[half + margin : 2 * half - margin],
        audio[2 * half + margin : 3 * half - margin],
    )
    assert _rms(tone1) > 0.3
    assert _rms(tone2) > 0.3
    assert _rms(silence) < 0.01
    assert _peak_hz(tone1, rate) == pytest.approx(1000, abs=10)
    assert _peak_hz(tone2, rate) == pytest.approx(1000, abs=10)


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.PCM, AudioFormat.MP3, AudioFormat.OPUS])
def test_first_bytes_leave_after_the_first_chunk(fmt: AudioFormat) -> None:
    """After one 0.5 s chunk, most of its audio is already out as bytes, before finish()."""
    encoder = open_stream_encoder(fmt, 22050)
    first = encoder.feed(_tone(440, 22050, 0.5), 22050)
    encoder.close()
    # raw formats: all of it; MP3 at 64 kbit/s and Opus at 48 kbit/s: at least 60% of 0.5 s worth
    minimum = {AudioFormat.WAV: 22050, AudioFormat.PCM: 22050, AudioFormat.MP3: 2400, AudioFormat.OPUS: 1800}
    assert len(first) >= minimum[fmt]


def test_wav_stream_header_declares_unknown_length() -> None:
    """A streamed WAV starts with a header whose RIFF and data sizes are 0xFFFFFFFF."""
    encoder = open_stream_encoder(AudioFormat.WAV, 22050)
    first = encoder.feed(_tone(440, 22050, 0.1), 22050)
    rest = encoder.feed(_tone(440, 22050, 0.1), 22050) + encoder.finish()
    assert first[:4] == b"RIFF"
    assert first[36:40] == b"data"
    assert struct.unpack("<I", first[4:8])[0] == 0xFFFFFFFF
    assert struct.unpack("<I", first[40:44])[0] == 0xFFFFFFFF
    assert len(first) == 44 + 2 * 2205
    assert len(rest) == 2 * 2205  # the header is sent once


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_stream_without_chunks_gives_a_bare_file(fmt: AudioFormat) -> None:
    """A stream finished without audio is the format's bare header (lossless ones decode to nothing)."""
    data = open_stream_encoder(fmt, 22050).finish()
    bare_start = {AudioFormat.MP3: b"ID3", AudioFormat.OPUS: b"OggS", AudioFormat.AAC: b""}
    if fmt in bare_start:  # FFmpeg will not open an MP3/Ogg without frames; ADTS has no header
        assert data.startswith(bare_start[fmt])
        assert len(data) < 400
        assert (data == b"") is (fmt is AudioFormat.AAC)
    else:
        audio, _ = decode(data, fmt, sample_rate=22050)
        assert len(audio) == 0


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.FLAC])
def test_stream_header_is_ready_before_any_audio(fmt: AudioFormat) -> None:
    """Formats with a header emit it with the first feed even when that chunk is empty."""
    encoder = open_stream_encoder(fmt, 22050)
    first = encoder.feed(np.zeros(0, dtype=np.float32), 22050)
    encoder.close()
    assert first[:4] in {b"RIFF", b"ID3\x04", b"OggS", b"fLaC"}


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_stream_refuses_use_after_finish_and_close_is_idempotent(fmt: AudioFormat) -> None:
    """feed() and finish() after the stream ended raise RuntimeError; close() may be repeated."""
    encoder = open_stream_encoder(fmt, 22050)
    encoder.feed(_tone(440, 22050, 0.1), 22050)
    encoder.finish()
    with pytest.raises(RuntimeError):
        encoder.feed(_tone(440, 22050, 0.1), 22050)
    with pytest.raises(RuntimeError):
        encoder.finish()
    encoder.close()
    encoder.close()


def test_closed_stream_refuses_feed() -> None:
    """An abandoned stream (client went away) refuses further audio."""
    encoder = open_stream_encoder(AudioFormat.MP3, 22050)
    encoder.feed(_tone(440, 22050, 0.2), 22050)
    encoder.close()
    with pytest.raises(RuntimeError):
        encoder.feed(_tone(440, 22050, 0.2), 22050)


def test_stream_output_rate_can_be_chosen() -> None:
    """open_stream_encoder(out_rate=...) fixes the stream's rate regardless of the input rate."""
    encoder = open_stream_encoder("mp3", 22050, out_rate=44100)
    data = encoder.feed(_tone(1000, 22050, 1.0), 22050) + encoder.finish()
    audio, rate = decode(data, "mp3")
    assert rate == 44100
    assert _peak_hz(audio, rate) == pytest.approx(1000, abs=3)


def test_stream_rejects_unknown_format_and_bad_rates() -> None:
    """Unknown formats raise UnsupportedFormat; unsupported or absurd rates raise InvalidOption."""
    with pytest.raises(UnsupportedFormat):
        open_stream_encoder("m4a", 22050)
    with pytest.raises(InvalidOption):
        open_stream_encoder("opus", 22050, out_rate=22050)
    encoder = open_stream_encoder("wav", 22050)
    with pytest.raises(InvalidOption):
        encoder.feed(_tone(440, 22050, 0.1), 0)


@pytest.mark.parametrize("fmt", [AudioFormat.MP3, AudioFormat.OPUS, AudioFormat.WAV])
def test_close_from_another_thread_while_a_feed_encodes_is_safe(fmt: AudioFormat) -> None:
    """Closed by the event loop while a thread encodes: the feed ends cleanly, then the stream closes."""
    encoder = open_stream_encoder(fmt, 22050)
    outcome: list[object] = []

    def feed() -> None:
        try:
            outcome.append(encoder.feed(_tone(440, 22050, 30.0), 22050))
        except RuntimeError as exc:  # close() won the race: refused before any encoding
            outcome.append(exc)

    thread = threading.Thread(target=feed)
    thread.start()
    time.sleep(0.005)
    encoder.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], bytes | RuntimeError)
    with pytest.raises(RuntimeError):
        encoder.finish()
    encoder.close()
