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

__all__ = ["PcmWavReader", "read_pcm_wav"]

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


class PcmWavReader:
    """Reads a 16-bit or float32 PCM WAV while its bytes arrive (a remote's streamed answer).

    Feed it the bytes as they come: nothing comes out until the header has arrived, then every
    whole frame fed so far. A declared ``data`` size is honoured (bytes after it are ignored); a
    streamed file's "unknown" size means "to the end".

    Attributes:
        sample_rate: the file's rate, once the header has arrived.
        unsupported: the header arrived and is not a WAV of that kind (decode the whole file
            with FFmpeg instead).
    """

    def __init__(self) -> None:
        self._head = bytearray()
        self._pending = b""
        self._fmt: tuple[int, int, int, int] | None = None
        self._left: int | None = None  # data bytes still to come, when the size is declared
        self.sample_rate: int | None = None
        self.unsupported = False

    def feed(self, data: bytes) -> Audio:
        """The samples ``data`` completes (mono float32; empty until the header is in)."""
        if self.unsupported:
            return np.zeros(0, dtype=np.float32)
        if self._fmt is None or self.sample_rate is None:
            self._head += data
            payload = self._parse_head()
            if payload is None:
                return np.zeros(0, dtype=np.float32)
            data = payload
        if self._left is not None:
            data = data[: self._left]
            self._left -= len(data)
        tag, channels, rate, bits = self._fmt or (0, 0, 0, 0)
        frame = channels * bits // 8
        data = self._pending + data
        whole = len(data) - len(data) % frame
        self._pending = data[whole:]
        decoded = _samples(data[:whole], tag, channels, rate, bits)
        return decoded[0] if decoded is not None else np.zeros(0, dtype=np.float32)

    def _parse_head(self) -> bytes | None:
        """The data bytes after the header once it is complete, else ``None`` (need more)."""
        head = bytes(self._head)
        if len(head) < 12:
            return None
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            self.unsupported = True
            return None
        pos = 12
        while pos + 8 <= len(head):
            chunk_id = head[pos : pos + 4]
            (size,) = struct.unpack_from("<I", head, pos + 4)
            body = pos + 8
            if chunk_id == b"data":
                if self._fmt is None or not _supported(*self._fmt):
                    self.unsupported = True
                    return None
                self.sample_rate = self._fmt[2]
                self._left = None if size in _UNKNOWN_SIZES else size
                self._head.clear()
                return head[body:]
            if body + size > len(head):
                return None  # this chunk is not all here yet
            if chunk_id == b"fmt " and size >= 16:
                tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, body)
                if tag == _EXTENSIBLE and size >= 26:
                    (tag,) = struct.unpack_from("<H", head, body + 24)
                self._fmt = (tag, channels, rate, bits)
            pos = body + size + (size & 1)
        return None


def _supported(tag: int, channels: int, rate: int, bits: int) -> bool:
    return channels >= 1 and rate > 0 and ((tag == _PCM and bits == 16) or (tag == _FLOAT and bits == 32))
