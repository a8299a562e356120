"""PyAV glue: one encoder plus muxer writing a compressed format into a file object.

Used by both one-shot encoding (into a seekable :class:`io.BytesIO`, so MP3 gets its gapless
LAME header and FLAC its sample count and MD5) and streaming (into a :class:`ByteSink`, which is
not seekable, so muxers write everything in order and never go back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import av
from av.audio.stream import AudioStream

from voxgate.audio.pcm import sanitize, to_s16
from voxgate.types import Audio, AudioFormat

__all__ = ["AAC_PRIMING_SAMPLES", "AV_CODECS", "LAME_DELAY_SAMPLES", "AvCodec", "AvMuxer", "ByteSink"]

AAC_PRIMING_SAMPLES = 1024
"""Samples of encoder delay FFmpeg's AAC encoder puts before the audio (ADTS cannot say so)."""

LAME_DELAY_SAMPLES = 576 + 529
"""LAME's encoder delay plus the MP3 decoder delay; a decoder skips it only given a LAME header."""


@dataclass(frozen=True, slots=True)
class AvCodec:
    """How PyAV writes one format.

    Attributes:
        container: FFmpeg muxer name.
        codec: FFmpeg encoder name.
        sample_format: sample format handed to the encoder (no conversion inside PyAV).
        bit_rate: target bits per second for lossy codecs, 0 for lossless ones.
        max_bits_per_sample: cap on ``bit_rate / sample_rate`` (AAC allows 6 bits per sample per channel).
        stream_options: muxer options for streaming output.
    """

    container: str
    codec: str
    sample_format: str
    bit_rate: int = 0
    max_bits_per_sample: int = 0
    stream_options: dict[str, str] = field(default_factory=dict)

    def bit_rate_for(self, sample_rate: int) -> int:
        """Target bit rate at a sample rate.

        Args:
            sample_rate: samples per second of the encoded audio.

        Returns:
            Bits per second, 0 for the codec's default.
        """
        if self.max_bits_per_sample:
            return min(self.bit_rate, self.max_bits_per_sample * sample_rate)
        return self.bit_rate


AV_CODECS: dict[AudioFormat, AvCodec] = {
    AudioFormat.FLAC: AvCodec("flac", "flac", "s16"),
    AudioFormat.MP3: AvCodec("mp3", "libmp3lame", "fltp", bit_rate=64000),
    # Ogg pages are flushed every 100 ms instead of every second, so a stream's audio leaves at once.
    AudioFormat.OPUS: AvCodec(
        "ogg", "libopus", "flt", bit_rate=48000, stream_options={"page_duration": "100000"}
    ),
    AudioFormat.AAC: AvCodec("adts", "aac", "fltp", bit_rate=64000, max_bits_per_sample=6),
    # G.711 through FFmpeg's own codecs and raw muxers (one byte per sample, no header).
    AudioFormat.MULAW: AvCodec("mulaw", "pcm_mulaw", "s16", bit_rate=128000, max_bits_per_sample=8),
    AudioFormat.ALAW: AvCodec("alaw", "pcm_alaw", "s16", bit_rate=128000, max_bits_per_sample=8),
}
"""The formats written with PyAV (WAV and PCM need no codec)."""


class ByteSink:
    """A write-only, non-seekable file object that holds written bytes until drained."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> int:
        """Append bytes (called by FFmpeg's I/O layer).

        Args:
            data: bytes the muxer wrote.

        Returns:
            The number of bytes taken.
        """
        self._buffer += data
        return len(data)

    def drain(self) -> bytes:
        """Take everything written since the last drain.

        Returns:
            The bytes, possibly empty.
        """
        out = bytes(self._buffer)
        self._buffer.clear()
        return out


class AvMuxer:
    """An open PyAV output of one format at one sample rate.

    Not thread-safe; use one per output.

    Args:
        fmt: a format in :data:`AV_CODECS`.
        sample_rate: the rate of the audio to be written (must be one the codec takes).
        file: the file object to write into.
        streaming: apply the codec's streaming muxer options.
    """

    def __init__(self, fmt: AudioFormat, sample_rate: int, file: Any, *, streaming: bool) -> None:
        codec = AV_CODECS[fmt]
        self._codec = codec
        self._rate = sample_rate
        self._time_base = Fraction(1, sample_rate)
        self._pts = 0
        self._open = True
        options = {"flush_packets": "1", **codec.stream_options} if streaming else {}
        self._container = av.open(file, mode="w", format=codec.container, container_options=options)
        try:
            self._stream = self._add_stream(codec, sample_rate)
            # Write the header now, so a stream's first bytes leave with its first feed.
            self._container.start_encoding()
        except BaseException:
            self._container.close()
            raise

    def _add_stream(self, codec: AvCodec, sample_rate: int) -> AudioStream:
        stream = self._container.add_stream(codec.codec, rate=sample_rate, layout="mono")
        if not isinstance(stream, AudioStream):  # pragma: no cover - every codec above is audio
            raise TypeError(f"{codec.codec} is not an audio codec")
        stream.format = codec.sample_format
        bit_rate = codec.bit_rate_for(sample_rate)
        if bit_rate:
            stream.bit_rate = bit_rate
        return stream

    def write(self, audio: Audio) -> None:
        """Encode and mux samples (clipped to [-1, 1] first).

        Args:
            audio: mono samples at the muxer's rate.
        """
        if len(audio) == 0:
            return
        data = to_s16(audio) if self._codec.sample_format == "s16" else sanitize(audio)
        frame = av.AudioFrame.from_ndarray(
            data.reshape(1, -1), format=self._codec.sample_format, layout="mono"
        )
        frame.sample_rate = self._rate
        frame.time_base = self._time_base
        frame.pts = self._pts
        self._pts += len(data)
        self._container.mux(self._stream.encode(frame))

    def finish(self) -> None:
        """Flush the encoder, write the trailer and close the output."""
        if not self._open:
            return
        self._container.mux(self._stream.encode(None))
        self.close()

    def close(self) -> None:
        """Close the output without flushing the encoder (idempotent)."""
        if self._open:
            self._open = False
            self._container.close()
