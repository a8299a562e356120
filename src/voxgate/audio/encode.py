"""One-shot encoding of a finished clip into a complete file of any :class:`AudioFormat`."""

from __future__ import annotations

import io

from voxgate.audio.formats import format_spec
from voxgate.audio.muxer import AvMuxer
from voxgate.audio.pcm import to_s16le, wav_header
from voxgate.audio.resample import resample
from voxgate.types import Audio, AudioFormat

__all__ = ["encode"]


def encode(audio: Audio, sample_rate: int, fmt: AudioFormat | str, *, out_rate: int | None = None) -> bytes:
    """Encode a mono clip into a complete file.

    The clip is resampled when the output rate differs from ``sample_rate``, and clipped to
    [-1, 1]. MP3 files carry a LAME header, so decoders trim the encoder delay (gapless);
    FLAC files carry their sample count and MD5.

    Args:
        audio: mono float32 samples.
        sample_rate: the rate of ``audio``.
        fmt: output format, or its name.
        out_rate: rate of the file; None picks the format's default for ``sample_rate``
            (see :meth:`voxgate.audio.formats.FormatSpec.default_rate`).

    Returns:
        The file's bytes. (An empty clip gives a valid file without audio; for AAC in ADTS,
        which has no header, that is zero bytes.)

    Raises:
        UnsupportedFormat: if ``fmt`` is not a format voxgate encodes.
        InvalidOption: ``field="sample_rate"``, if a rate is out of range or not supported by the format.
        ValueError: if ``audio`` is not one-dimensional.
    """
    spec = format_spec(fmt)
    rate = spec.choose_rate(sample_rate, out_rate)
    if audio.ndim != 1:
        raise ValueError(f"expected mono 1-D samples, got shape {audio.shape}")
    if rate != sample_rate:
        audio = resample(audio, sample_rate, rate)
    if spec.format is AudioFormat.PCM:
        return to_s16le(audio)
    if spec.format is AudioFormat.WAV:
        return wav_header(rate, len(audio)) + to_s16le(audio)
    buffer = io.BytesIO()
    muxer = AvMuxer(spec.format, rate, buffer, streaming=False)
    try:
        muxer.write(audio)
        muxer.finish()
    finally:
        muxer.close()
    return buffer.getvalue()
