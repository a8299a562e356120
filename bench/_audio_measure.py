"""Measurements on finished audio for the voice-control bench: silences, speech span, loudness, F0.

Pure numpy on mono float samples in [-1, 1]; no model, no I/O, so they are unit-tested on
synthetic signals (``bench/test_voice_control_helpers.py``).
"""

from __future__ import annotations

import math

import numpy as np

from voxgate.types import Audio

SILENCE_THRESHOLD = 1e-3
"""A sample quieter than this (about −60 dBFS) counts as silence."""


def longest_silence_s(audio: Audio, rate: int, threshold: float = SILENCE_THRESHOLD) -> float:
    """The longest run of quiet samples between two loud ones (leading and trailing silence excluded).

    Args:
        audio: mono samples.
        rate: their sample rate in Hz.
        threshold: the loudest a silent sample may be.

    Returns:
        Seconds; 0 when fewer than two samples are loud.
    """
    loud = np.flatnonzero(np.abs(audio) >= threshold)
    if len(loud) < 2:
        return 0.0
    return float(np.max(np.diff(loud)) - 1) / rate


def speech_span_s(audio: Audio, rate: int, threshold: float = SILENCE_THRESHOLD) -> float:
    """Seconds from the first loud sample to the last (leading and trailing silence trimmed)."""
    loud = np.flatnonzero(np.abs(audio) >= threshold)
    if len(loud) == 0:
        return 0.0
    return float(loud[-1] - loud[0] + 1) / rate


def rms(audio: Audio) -> float:
    """Root mean square of the samples (0 for an empty clip)."""
    if audio.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(audio.astype(np.float64)))))


def peak(audio: Audio) -> float:
    """The largest absolute sample (0 for an empty clip)."""
    return float(np.max(np.abs(audio))) if audio.size else 0.0


def median_f0(
    audio: Audio, rate: int, *, fmin: float = 60.0, fmax: float = 500.0, frame_s: float = 0.04
) -> float:
    """Median F0 of the voiced frames, by normalised autocorrelation.

    A frame (``frame_s`` long, half-overlapping) counts as voiced when its RMS is at least 10 %
    of the clip's loudest frame's (so a gain does not change which frames count) and its
    autocorrelation peak in the ``fmin``..``fmax`` lag range reaches 0.4 of its energy. The lag
    is refined by a parabola through the peak, so the estimate is not quantised to whole samples.

    Args:
        audio: mono samples.
        rate: sample rate in Hz.
        fmin: lowest F0 searched.
        fmax: highest F0 searched.
        frame_s: analysis frame length.

    Returns:
        Hz; NaN when no frame is voiced.
    """
    frame = int(frame_s * rate)
    hop = max(1, frame // 2)
    lo, hi = max(1, int(rate / fmax)), int(rate / fmin)
    if len(audio) < frame or hi >= frame:
        return math.nan
    starts = range(0, len(audio) - frame + 1, hop)
    energies = [rms(audio[s : s + frame]) for s in starts]
    floor = 0.1 * max(energies)
    found: list[float] = []
    for start, energy in zip(starts, energies, strict=True):
        if energy < floor or energy == 0.0:
            continue
        x = audio[start : start + frame].astype(np.float64)
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[frame - 1 :]
        if ac[0] <= 0:
            continue
        lag = lo + int(np.argmax(ac[lo : hi + 1]))
        if ac[lag] < 0.4 * ac[0]:
            continue
        shift = 0.0
        if 0 < lag < len(ac) - 1:
            a, b, c = ac[lag - 1], ac[lag], ac[lag + 1]
            denominator = a - 2 * b + c
            if denominator < 0:
                shift = 0.5 * (a - c) / denominator
        found.append(rate / (lag + shift))
    return float(np.median(found)) if found else math.nan


def semitones(f0: float, reference: float) -> float:
    """The interval from ``reference`` to ``f0`` in semitones (NaN if either is not positive)."""
    if not (f0 > 0 and reference > 0):
        return math.nan
    return 12.0 * math.log2(f0 / reference)
