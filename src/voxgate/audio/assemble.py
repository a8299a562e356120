"""Join sentence chunks into one clip: a common sample rate and natural pauses between them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from voxgate.audio.resample import resample
from voxgate.types import Audio, AudioChunk

SENTENCE_PAUSE_S = 0.2
PARAGRAPH_PAUSE_S = 0.6


def assemble(
    pieces: Sequence[Sequence[AudioChunk]],
    sample_rate: int,
    *,
    paragraph_ends: Sequence[bool] | None = None,
    sentence_pause_s: float = SENTENCE_PAUSE_S,
    paragraph_pause_s: float = PARAGRAPH_PAUSE_S,
    pauses_before: Sequence[float | None] | None = None,
    trailing_s: float = 0.0,
    starts: list[float] | None = None,
) -> Audio:
    """Concatenate the chunks of each piece (segment), resampled to ``sample_rate``.

    Args:
        pieces: per segment, the chunks an engine returned for it (engines may differ in rate).
        sample_rate: the output rate.
        paragraph_ends: per segment, whether a paragraph ends after it (longer pause).
        sentence_pause_s: silence between sentences.
        paragraph_pause_s: silence after a paragraph.
        pauses_before: per segment, exact silence before it (SSML breaks) instead of the usual
            pause; ``None`` entries keep the usual one (none before the first segment).
        trailing_s: exact silence after the last segment.
        starts: if given, each chunk's start in the result (seconds) is appended to it, in
            order (for word timestamps).

    Returns:
        Mono float32 audio.
    """
    out: list[Audio] = []
    flat = [(i, chunk) for i, piece in enumerate(pieces) for chunk in piece]
    lead = pauses_before[0] if pauses_before and flat and flat[0][0] == 0 else None
    if lead:
        out.append(np.zeros(round(lead * sample_rate), dtype=np.float32))
    at = len(out[0]) if out else 0
    for n, (segment_index, chunk) in enumerate(flat):
        if starts is not None:
            starts.append(at / sample_rate)
        audio = chunk.audio
        if chunk.sample_rate != sample_rate:
            audio = resample(audio, chunk.sample_rate, sample_rate)
        out.append(audio.astype(np.float32, copy=False))
        at += len(audio)
        if n < len(flat) - 1:
            last_of_segment = flat[n + 1][0] != segment_index
            paragraph = bool(paragraph_ends and last_of_segment and paragraph_ends[segment_index])
            pause = paragraph_pause_s if paragraph else sentence_pause_s
            exact = pauses_before[flat[n + 1][0]] if pauses_before and last_of_segment else None
            if exact is not None:
                out.append(np.zeros(round(exact * sample_rate), dtype=np.float32))
            else:
                out.append(np.zeros(int(pause * sample_rate), dtype=np.float32))
            at += len(out[-1])
    if trailing_s > 0:
        out.append(np.zeros(round(trailing_s * sample_rate), dtype=np.float32))
    if not out:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(out)
