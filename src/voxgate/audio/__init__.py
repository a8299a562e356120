"""Audio output: formats, resampling, one-shot and streaming encoders, decoding.

Every format is encoded from mono float32 samples with PyAV (FFmpeg), except WAV and raw PCM,
which need only a header and 16-bit conversion:

- :mod:`~voxgate.audio.formats`: MIME type, extension and sample rates of each format.
- :mod:`~voxgate.audio.resample`: libswresample conversion, one-shot and stateful.
- :mod:`~voxgate.audio.encode`: :func:`encode` a finished clip into a complete file.
- :mod:`~voxgate.audio.stream`: :func:`open_stream_encoder` for chunk-by-chunk HTTP streaming.
- :mod:`~voxgate.audio.decode`: :func:`decode` a file back to samples.

The audio cache lives in :mod:`voxgate.audio.cache` and is not re-exported here.
"""

from __future__ import annotations

from voxgate.audio.decode import decode
from voxgate.audio.encode import encode
from voxgate.audio.formats import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    FormatSpec,
    check_sample_rate,
    format_spec,
    parse_format,
)
from voxgate.audio.resample import RateAdapter, Resampler, resample
from voxgate.audio.stream import StreamEncoder, open_stream_encoder

__all__ = [
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "FormatSpec",
    "RateAdapter",
    "Resampler",
    "StreamEncoder",
    "check_sample_rate",
    "decode",
    "encode",
    "format_spec",
    "open_stream_encoder",
    "parse_format",
    "resample",
]
