"""Sample cleaning, 16-bit conversion and the WAV header."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from voxgate.audio.pcm import STREAMING_WAV_SIZE, from_s16le, sanitize, to_s16le, wav_header


def test_sanitize_clips_and_replaces_non_finite_values() -> None:
    """Out-of-range samples are clipped to ±1, NaN becomes 0 and infinities become ±1."""
    audio = np.array([0.5, 1.5, -3.0, np.nan, np.inf, -np.inf], dtype=np.float32)
    np.testing.assert_array_equal(sanitize(audio), [0.5, 1.0, -1.0, 0.0, 1.0, -1.0])
    assert np.isnan(audio[3])  # the input is left alone


def test_sanitize_rejects_multichannel_arrays() -> None:
    """A 2-D array is a programming error, not silently flattened."""
    with pytest.raises(ValueError, match="mono"):
        sanitize(np.zeros((2, 10), dtype=np.float32))


def test_s16_conversion_clips_rounds_and_round_trips() -> None:
    """Float input is clipped before conversion, full scale maps to ±32767, and decoding inverts it."""
    audio = np.array([0.0, 1.0, -1.0, 2.0, -2.0, 0.25], dtype=np.float32)
    data = to_s16le(audio)
    ints = np.frombuffer(data, dtype="<i2")
    np.testing.assert_array_equal(ints, [0, 32767, -32767, 32767, -32767, 8192])
    np.testing.assert_allclose(from_s16le(data), np.clip(audio, -1, 1), atol=1 / 16384)


def test_wav_header_of_known_length_has_exact_sizes() -> None:
    """A one-shot header states the RIFF and data sizes and the mono 16-bit format."""
    header = wav_header(22050, 1000)
    assert len(header) == 44
    assert header[:4] == b"RIFF"
    assert header[8:16] == b"WAVEfmt "
    assert header[36:40] == b"data"
    assert struct.unpack("<I", header[4:8])[0] == 36 + 2000
    assert struct.unpack("<I", header[40:44])[0] == 2000
    _, fmt_tag, channels, rate, byte_rate, align, bits = struct.unpack("<IHHIIHH", header[16:36])
    assert (fmt_tag, channels, rate, byte_rate, align, bits) == (1, 1, 22050, 44100, 2, 16)


@pytest.mark.parametrize("n_samples", [None, 2**31])
def test_wav_header_of_unknown_or_huge_length_says_unknown(n_samples: int | None) -> None:
    """A streaming (or over-4-GiB) header uses the 0xFFFFFFFF 'unknown' size for RIFF and data."""
    header = wav_header(24000, n_samples)
    assert struct.unpack("<I", header[4:8])[0] == STREAMING_WAV_SIZE
    assert struct.unpack("<I", header[40:44])[0] == STREAMING_WAV_SIZE
