"""Reading plain PCM WAV with numpy alone (no codec: FFmpeg's demuxer costs ~15 ms per file).

Remote engines answer WAV once per sentence, so this is on the latency path of every remote
call. Handles what TTS servers send: 16-bit integer or 32-bit float samples, one or more channels
(mixed down), ``WAVE_FORMAT_EXTENSIBLE`` carrying either, and a streamed file whose sizes say
"unknown" (``0xFFFFFFFF`` or 0: read to the end). Anything else (24-bit, A-law, ...) is left to
:func:`voxgate.audio.decode.decode`.
"""

from __future__ import annotations

import struct

import numpy as np

from voxgate.types import Audio

__all__ = ["read_pcm_wav"]

_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


def read_pcm_wav(data: bytes) -> tuple[Audio, int] | None:
    """Mono float32 samples and their rate from a 16-bit or float32 PCM WAV file.

    Args:
        data: the whole file.

    Returns:
        The samples and rate, or ``None`` when the file is not a WAV of that kind (decode it
        with FFmpeg instead).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    fmt: tuple[int, int, int, int] | None = None  # format tag, channels, rate, bits
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack_from("<I", data, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt " and size >= 16 and body + size <= len(data):
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", data, body)
            if tag == _EXTENSIBLE and size >= 26:
                (tag,) = struct.unpack_from("<H", data, body + 24)  # first two bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            end = len(data) if size in _UNKNOWN_SIZES else min(len(data), body + size)
            return None if fmt is None else _samples(data[body:end], *fmt)
        pos = body + size + (size & 1)
    return None


def _samples(payload: bytes, tag: int, channels: int, rate: int, bits: int) -> tuple[Audio, int] | None:
    if channels < 1 or rate <= 0:
        return None
    if tag == _PCM and bits == 16:
        frame = 2 * channels
        raw = np.frombuffer(payload[: len(payload) - len(payload) % frame], "<i2")
        audio = raw.astype(np.float32) / 32768.0
    elif tag == _FLOAT and bits == 32:
        frame = 4 * channels
        audio = np.frombuffer(payload[: len(payload) - len(payload) % frame], "<f4").astype(np.float32)
    else:
        return None
    if channels > 1:
        audio = audio.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return audio, rate
