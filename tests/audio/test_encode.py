"""One-shot encoding: every format decodes back to the same audio, length and rate."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.audio.decode import decode
from voxgate.audio.encode import encode
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


# format, input rate, expected output rate
CASES = [
    (AudioFormat.WAV, 22050, 22050),
    (AudioFormat.PCM, 24000, 24000),
    (AudioFormat.FLAC, 22050, 22050),
    (AudioFormat.MP3, 22050, 22050),
    (AudioFormat.MP3, 24000, 24000),
    (AudioFormat.OPUS, 22050, 48000),
    (AudioFormat.OPUS, 24000, 48000),
    (AudioFormat.AAC, 22050, 22050),
    (AudioFormat.AAC, 24000, 24000),
]


@pytest.mark.parametrize(("fmt", "rate", "out_rate"), CASES)
def test_encode_round_trips_duration_rate_and_level(fmt: AudioFormat, rate: int, out_rate: int) -> None:
    """A 1.3 s 440 Hz tone decodes to the same duration (±50 ms), the default rate, and its RMS (±10%)."""
    tone = _tone(440, rate, 1.3)
    data = encode(tone, rate, fmt)
    audio, decoded_rate = decode(data, fmt, sample_rate=out_rate)
    assert decoded_rate == out_rate
    assert len(audio) / decoded_rate == pytest.approx(1.3, abs=0.05)
    assert _rms(audio) == pytest.approx(_rms(tone), rel=0.1)
    assert _peak_hz(audio, decoded_rate) == pytest.approx(440, abs=3)


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.PCM, AudioFormat.FLAC, AudioFormat.MP3])
def test_lossless_and_gapless_formats_keep_the_exact_sample_count(fmt: AudioFormat) -> None:
    """WAV, PCM, FLAC and one-shot MP3 (LAME header) decode to exactly as many samples as went in."""
    tone = _tone(440, 22050, 0.77)
    audio, _ = decode(encode(tone, 22050, fmt), fmt, sample_rate=22050)
    assert len(audio) == len(tone)


@pytest.mark.parametrize("fmt", [AudioFormat.WAV, AudioFormat.PCM, AudioFormat.FLAC])
def test_lossless_formats_keep_samples_to_16_bit_precision(fmt: AudioFormat) -> None:
    """Lossless formats return every sample within one 16-bit step."""
    tone = _tone(440, 22050, 0.2)
    audio, _ = decode(encode(tone, 22050, fmt), fmt, sample_rate=22050)
    np.testing.assert_allclose(audio, tone, atol=2 / 32768)


@pytest.mark.parametrize(
    ("fmt", "out_rate"),
    [(AudioFormat.WAV, 16000), (AudioFormat.FLAC, 48000), (AudioFormat.MP3, 44100), (AudioFormat.AAC, 16000)],
)
def test_encode_resamples_to_a_requested_rate(fmt: AudioFormat, out_rate: int) -> None:
    """With out_rate, the file has that rate, the same duration, and a 1 kHz tone stays at 1 kHz."""
    tone = _tone(1000, 22050, 1.0)
    audio, rate = decode(encode(tone, 22050, fmt, out_rate=out_rate), fmt)
    assert rate == out_rate
    assert len(audio) / rate == pytest.approx(1.0, abs=0.05)
    assert _peak_hz(audio, rate) == pytest.approx(1000, abs=3)


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_encode_clips_out_of_range_input(fmt: AudioFormat) -> None:
    """Samples beyond ±1 are clipped, so the decoded level is that of a full-scale square-ish wave."""
    loud = _tone(440, 24000, 0.5, amplitude=4.0)
    audio, _ = decode(encode(loud, 24000, fmt), fmt, sample_rate=24000)
    clipped = np.clip(loud, -1, 1)
    assert _rms(audio) == pytest.approx(_rms(clipped), rel=0.1)
    assert np.max(np.abs(audio)) < 1.3  # lossy codecs overshoot a little, never by 4x


# What an empty clip becomes: lossless files decode to no samples; FFmpeg will not open an MP3 or
# Ogg file that has headers but no audio frame, so for those only the header is checked.
EMPTY_FILE_START = {AudioFormat.MP3: b"ID3", AudioFormat.OPUS: b"OggS", AudioFormat.AAC: b""}


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_encoding_empty_audio_gives_a_file_without_audio(fmt: AudioFormat) -> None:
    """An empty clip encodes to the format's bare header (ADTS AAC has none, so b'')."""
    data = encode(np.zeros(0, dtype=np.float32), 22050, fmt)
    if fmt in EMPTY_FILE_START:
        assert data.startswith(EMPTY_FILE_START[fmt])
        assert len(data) < 400
        assert (data == b"") is (fmt is AudioFormat.AAC)
    else:
        audio, _ = decode(data, fmt, sample_rate=22050)
        assert len(audio) == 0


def test_encode_rejects_unknown_format_names() -> None:
    """An unknown format string raises UnsupportedFormat."""
    with pytest.raises(UnsupportedFormat):
        encode(_tone(440, 22050, 0.1), 22050, "ogg")


@pytest.mark.parametrize(
    ("fmt", "rate", "out_rate"), [("opus", 22050, 24000), ("mp3", 22050, 96000), ("wav", 100, None)]
)
def test_encode_rejects_unsupported_rates(fmt: str, rate: int, out_rate: int | None) -> None:
    """A rate the format cannot carry, or an absurd input rate, raises InvalidOption('sample_rate')."""
    with pytest.raises(InvalidOption) as caught:
        encode(_tone(440, 22050, 0.1), rate, fmt, out_rate=out_rate)
    assert caught.value.field == "sample_rate"


def test_encode_rejects_multichannel_input() -> None:
    """Two-dimensional input is refused rather than misread."""
    with pytest.raises(ValueError, match="mono"):
        encode(np.zeros((2, 100), dtype=np.float32), 22050, AudioFormat.WAV)
