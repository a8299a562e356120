"""Sample-level helpers: cleaning float input, 16-bit conversion, and the WAV header.

WAV and raw PCM need no codec, so they are written here with numpy and :mod:`struct` alone.
"""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

from voxgate.types import Audio

__all__ = ["STREAMING_WAV_SIZE", "from_s16le", "sanitize", "to_s16", "to_s16le", "wav_header"]

STREAMING_WAV_SIZE = 0xFFFFFFFF
"""RIFF and data chunk size written when the length is unknown (a stream); players read to EOF."""

_S16_SCALE = 32767.0
_WAV_HEADER_BYTES = 44


def sanitize(audio: Audio) -> Audio:
    """Make samples safe to encode: mono float32, finite, clipped to [-1, 1].

    NaN becomes silence and infinities become full scale, so a misbehaving engine yields a
    click rather than an encoder error.

    Args:
        audio: mono samples (any float dtype is accepted).

    Returns:
        A contiguous float32 array (a new one; the input is not modified).

    Raises:
        ValueError: if ``audio`` is not one-dimensional.
    """
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim != 1:
        raise ValueError(f"expected mono 1-D samples, got shape {samples.shape}")
    out = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(out, -1.0, 1.0, out=out)
    return out


def to_s16(audio: Audio) -> NDArray[np.int16]:
    """Convert float samples to 16-bit integers, rounding to nearest.

    Args:
        audio: mono samples; cleaned by :func:`sanitize` (so clipped to [-1, 1]) first.

    Returns:
        Little-endian int16 samples, full scale at +-32767.
    """
    scaled = sanitize(audio)
    scaled *= _S16_SCALE
    np.rint(scaled, out=scaled)
    return scaled.astype("<i2")


def to_s16le(audio: Audio) -> bytes:
    """Convert float samples to 16-bit little-endian PCM bytes.

    Args:
        audio: mono samples; clipped to [-1, 1] first.

    Returns:
        ``2 * len(audio)`` bytes.
    """
    return to_s16(audio).tobytes()


def from_s16le(data: bytes) -> Audio:
    """Convert 16-bit little-endian PCM bytes to float samples.

    Args:
        data: raw PCM; a trailing odd byte is ignored.

    Returns:
        Mono float32 samples in [-1, 1).
    """
    usable = len(data) - len(data) % 2
    ints = np.frombuffer(data[:usable], dtype="<i2")
    return ints.astype(np.float32) / np.float32(32768.0)


def wav_header(sample_rate: int, n_samples: int | None) -> bytes:
    """Build the 44-byte header of a mono 16-bit PCM WAV file.

    Args:
        sample_rate: samples per second.
        n_samples: number of samples that follow, or None for a stream of unknown length
            (sizes are then :data:`STREAMING_WAV_SIZE`, as streaming servers write them; so too
            when the data would overflow the 32-bit size fields).

    Returns:
        The header bytes.
    """
    if n_samples is None or 2 * n_samples + _WAV_HEADER_BYTES - 8 > STREAMING_WAV_SIZE:
        riff_size = data_size = STREAMING_WAV_SIZE
    else:
        data_size = 2 * n_samples
        riff_size = _WAV_HEADER_BYTES - 8 + data_size
    block_align = 2
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", riff_size),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * block_align, block_align, 16),
            b"data",
            struct.pack("<I", data_size),
        )
    )
