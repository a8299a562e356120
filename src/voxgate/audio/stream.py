"""Streaming encoders: audio goes in a chunk (a sentence) at a time, file bytes come out as they exist.

Every encoder satisfies :class:`StreamEncoder`; :func:`open_stream_encoder` picks one by format.
The concatenation of everything one encoder returns (from every :meth:`~StreamEncoder.feed` and
the final :meth:`~StreamEncoder.finish`) is a valid file of its format, so it can be sent as an
HTTP chunked body as it is produced, and cached afterwards.

Chunks may come at different sample rates (a 24 kHz engine, then a 22.05 kHz fallback engine);
each is resampled to the stream's one rate, fixed when the stream opens.

Streams differ from one-shot files only where a format needs to seek back, which a stream cannot:
WAV sizes read "unknown" (0xFFFFFFFF; players read to the end), MP3 has no LAME header (players
keep the encoder delay, ~50 ms of leading silence), FLAC's header lacks the sample count and MD5.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

from voxgate.audio.formats import format_spec
from voxgate.audio.muxer import AvMuxer, ByteSink
from voxgate.audio.pcm import to_s16le, wav_header
from voxgate.audio.resample import RateAdapter
from voxgate.types import Audio, AudioFormat

__all__ = [
    "AvStreamEncoder",
    "PcmStreamEncoder",
    "StreamEncoder",
    "WavStreamEncoder",
    "open_stream_encoder",
]


@runtime_checkable
class StreamEncoder(Protocol):
    """Turns a sequence of audio chunks into the bytes of one file, incrementally.

    Implementations are not thread-safe: one stream, one encoder, one caller at a time, with one
    exception: :meth:`close` may be called from any thread at any time, even while :meth:`feed`
    or :meth:`finish` runs in another (a stream whose client left is closed by the event loop
    while a worker thread encodes its last piece); the encoder is then released when that call
    returns.
    """

    @property
    def format(self) -> AudioFormat:
        """The format of the bytes produced."""
        ...

    @property
    def sample_rate(self) -> int:
        """The rate of the encoded audio."""
        ...

    def feed(self, chunk: Audio, sample_rate: int) -> bytes:
        """Encode the next chunk.

        Args:
            chunk: mono float32 samples (clipped to [-1, 1] before encoding).
            sample_rate: the rate of ``chunk``; resampled to :attr:`sample_rate` if different.

        Returns:
            The bytes of the file that are ready so far, possibly ``b""``.

        Raises:
            InvalidOption: ``field="sample_rate"``, if ``sample_rate`` is out of range.
            RuntimeError: after :meth:`finish` or :meth:`close`.
        """
        ...

    def finish(self) -> bytes:
        """End the stream and release the encoder.

        Returns:
            The file's remaining bytes.

        Raises:
            RuntimeError: after :meth:`close`, or when called twice.
        """
        ...

    def close(self) -> None:
        """Abandon the stream (client went away) and release the encoder; idempotent, any thread."""
        ...


class _BaseStreamEncoder(ABC):
    """State and resampling shared by the encoders; subclasses write resampled audio."""

    def __init__(self, fmt: AudioFormat, sample_rate: int) -> None:
        self._format = fmt
        self._adapter = RateAdapter(sample_rate)
        self._done = False
        self._lock = threading.Lock()  # guards the three flags only; never held while encoding
        self._busy = False  # a feed() or finish() is encoding
        self._release_after = False  # close() came while busy: release when that call returns

    @property
    def format(self) -> AudioFormat:
        """The format of the bytes produced."""
        return self._format

    @property
    def sample_rate(self) -> int:
        """The rate of the encoded audio."""
        return self._adapter.out_rate

    def feed(self, chunk: Audio, sample_rate: int) -> bytes:
        """Encode the next chunk (see :meth:`StreamEncoder.feed`).

        Args:
            chunk: mono float32 samples.
            sample_rate: the rate of ``chunk``.

        Returns:
            The bytes ready so far.

        Raises:
            InvalidOption: ``field="sample_rate"``, if ``sample_rate`` is out of range.
            RuntimeError: after :meth:`finish` or :meth:`close`.
            ValueError: if ``chunk`` is not one-dimensional.
        """
        if chunk.ndim != 1:
            raise ValueError(f"expected mono 1-D samples, got shape {chunk.shape}")
        self._enter("feed")
        try:
            return self._write(self._adapter.convert(chunk, sample_rate))
        finally:
            self._leave()

    def finish(self) -> bytes:
        """End the stream (see :meth:`StreamEncoder.finish`).

        Returns:
            The file's remaining bytes.

        Raises:
            RuntimeError: after :meth:`close`, or when called twice.
        """
        self._enter("finish")
        try:
            return self._write(self._adapter.flush()) + self._end()
        finally:
            self._leave()
            self.close()

    def close(self) -> None:
        """Abandon the stream and release the encoder; idempotent, safe from any thread.

        While a :meth:`feed` or :meth:`finish` runs in another thread, the release waits for it
        to return (this call does not block).
        """
        with self._lock:
            self._done = True
            if self._busy:
                self._release_after = True
                return
        self._release()

    def _enter(self, method: str) -> None:
        with self._lock:
            if self._done:
                raise RuntimeError(f"{type(self).__name__}.{method}() after the stream ended")
            self._busy = True

    def _leave(self) -> None:
        with self._lock:
            self._busy = False
            release, self._release_after = self._release_after, False
        if release:
            self._release()

    def _release(self) -> None:
        """Free the encoder's resources (called once nothing encodes; may be called again)."""
        return  # numpy-only encoders hold nothing to free

    @abstractmethod
    def _write(self, audio: Audio) -> bytes:
        """Encode audio already at the stream's rate; return the bytes ready so far."""

    def _end(self) -> bytes:
        """Return the bytes that close the file (after the last :meth:`_write`)."""
        return b""


class PcmStreamEncoder(_BaseStreamEncoder):
    """Raw 16-bit little-endian mono PCM: every sample goes out as soon as it is fed.

    Args:
        sample_rate: the rate of the stream.
    """

    def __init__(self, sample_rate: int) -> None:
        super().__init__(AudioFormat.PCM, sample_rate)

    def _write(self, audio: Audio) -> bytes:
        return to_s16le(audio)


class WavStreamEncoder(_BaseStreamEncoder):
    """16-bit mono WAV whose header (sent with the first bytes) declares an unknown length.

    Args:
        sample_rate: the rate of the stream.
    """

    def __init__(self, sample_rate: int) -> None:
        super().__init__(AudioFormat.WAV, sample_rate)
        self._header: bytes | None = wav_header(sample_rate, None)

    def _write(self, audio: Audio) -> bytes:
        header, self._header = self._header, None
        return (header or b"") + to_s16le(audio)


class AvStreamEncoder(_BaseStreamEncoder):
    """FLAC, MP3, Opus (Ogg) or AAC (ADTS) through PyAV, drained after every chunk.

    Args:
        fmt: one of the compressed formats.
        sample_rate: the rate of the stream (one the format supports).
    """

    def __init__(self, fmt: AudioFormat, sample_rate: int) -> None:
        super().__init__(fmt, sample_rate)
        self._sink = ByteSink()
        self._muxer = AvMuxer(fmt, sample_rate, self._sink, streaming=True)

    def _release(self) -> None:
        self._muxer.close()  # idempotent; frees the PyAV container and its codec

    def _write(self, audio: Audio) -> bytes:
        self._muxer.write(audio)
        return self._sink.drain()

    def _end(self) -> bytes:
        self._muxer.finish()
        return self._sink.drain()


def open_stream_encoder(
    fmt: AudioFormat | str, sample_rate: int, out_rate: int | None = None
) -> StreamEncoder:
    """Open a streaming encoder.

    Args:
        fmt: output format, or its name.
        sample_rate: the rate the audio is expected at (the first engine's); picks the default
            output rate. Chunks at other rates are still accepted.
        out_rate: rate of the stream; None picks the format's default for ``sample_rate``.

    Returns:
        A fresh encoder; call :meth:`~StreamEncoder.finish` or :meth:`~StreamEncoder.close` when done.

    Raises:
        UnsupportedFormat: if ``fmt`` is not a format voxgate encodes.
        InvalidOption: ``field="sample_rate"``, if a rate is out of range or not supported by the format.
    """
    spec = format_spec(fmt)
    rate = spec.choose_rate(sample_rate, out_rate)
    if spec.format is AudioFormat.PCM:
        return PcmStreamEncoder(rate)
    if spec.format is AudioFormat.WAV:
        return WavStreamEncoder(rate)
    return AvStreamEncoder(spec.format, rate)
