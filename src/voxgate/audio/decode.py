"""Decoding voxgate's own output back to samples (tests, and jobs that join encoded segments)."""

from __future__ import annotations

import io

import av
import numpy as np

from voxgate.audio.formats import check_sample_rate, format_spec
from voxgate.audio.muxer import AAC_PRIMING_SAMPLES, LAME_DELAY_SAMPLES
from voxgate.audio.pcm import from_s16le
from voxgate.errors import InvalidInput, InvalidOption
from voxgate.types import Audio, AudioFormat

__all__ = ["decode"]

_DEMUXERS = {
    AudioFormat.WAV: "wav",
    AudioFormat.FLAC: "flac",
    AudioFormat.MP3: "mp3",
    AudioFormat.OPUS: "ogg",
    AudioFormat.AAC: "aac",
    AudioFormat.MULAW: "mulaw",
    AudioFormat.ALAW: "alaw",
}


def _has_signature(fmt: AudioFormat, data: bytes) -> bool:
    """Check the file's magic bytes (FFmpeg, told the format, accepts garbage as empty audio)."""
    if fmt is AudioFormat.WAV:
        return data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    if fmt is AudioFormat.FLAC:
        return data[:4] == b"fLaC"
    if fmt is AudioFormat.OPUS:
        return data[:4] == b"OggS"
    if fmt is AudioFormat.MP3 and data[:3] == b"ID3":
        return True
    # MP3 frame sync is 11 set bits, ADTS sync 12.
    mask = 0xFFF0 if fmt is AudioFormat.AAC else 0xFFE0
    return len(data) >= 2 and (data[0] << 8 | data[1]) & mask == mask


def decode(data: bytes, fmt: AudioFormat | str, *, sample_rate: int | None = None) -> tuple[Audio, int]:
    """Decode a file of a known format to mono float32 samples.

    Encoder delay that the file cannot describe is removed, assuming the file came from
    voxgate's encoders: the 1024 priming samples of FFmpeg's AAC encoder (ADTS has no field for
    them), and LAME's 1105-sample delay for an MP3 without a LAME header (a streamed MP3; a
    one-shot MP3 has the header and FFmpeg trims it itself). What remains is the original audio
    plus, for MP3 streams and AAC, up to one codec frame of trailing silence. Several channels
    are mixed down to one.

    Args:
        data: the whole file.
        fmt: its format, or the format's name.
        sample_rate: the rate of raw PCM, mu-law or A-law (which do not say); ignored for the
            other formats.

    Returns:
        The samples and their rate.

    Raises:
        UnsupportedFormat: if ``fmt`` is not a format voxgate encodes.
        InvalidOption: ``field="sample_rate"``, if raw audio is given without a valid ``sample_rate``.
        InvalidInput: ``field="audio"``, if the data cannot be decoded as ``fmt``.
    """
    spec = format_spec(fmt)
    options: dict[str, str] = {}
    if spec.raw:
        if sample_rate is None:
            raise InvalidOption(
                "sample_rate", f"raw {spec.format.value} does not carry its sample rate; give it"
            )
        check_sample_rate(sample_rate)
        if spec.format is AudioFormat.PCM:
            return from_s16le(data), sample_rate
        options = {"sample_rate": str(sample_rate), "ch_layout": "mono"}
    elif not _has_signature(spec.format, data):
        raise InvalidInput("audio", f"the data does not start like a {spec.format.value} file")
    frames: list[av.AudioFrame] = []
    try:
        with av.open(io.BytesIO(data), mode="r", format=_DEMUXERS[spec.format], options=options) as container:
            if not container.streams.audio:
                raise InvalidInput("audio", f"no audio stream in the {spec.format.value} data")
            stream = container.streams.audio[0]
            to_mono = av.AudioResampler(format="flt", layout="mono")
            for frame in container.decode(stream):
                frames.extend(to_mono.resample(frame))
            frames.extend(to_mono.resample(None))
            rate = stream.codec_context.sample_rate
            trimmed_by_demuxer = bool(stream.start_time)
    except (av.FFmpegError, ValueError) as exc:
        raise InvalidInput("audio", f"cannot decode {spec.format.value} data: {exc}") from exc
    parts = [frame.to_ndarray().reshape(-1) for frame in frames if frame is not None]
    audio = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    skip = 0
    if spec.format is AudioFormat.AAC:
        skip = AAC_PRIMING_SAMPLES
    elif spec.format is AudioFormat.MP3 and not trimmed_by_demuxer:
        skip = LAME_DELAY_SAMPLES
    return audio[skip:], rate
