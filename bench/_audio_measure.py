"""Measurements on finished audio for the voice-control bench: silences, speech span, loudness, F0.

Pure numpy (and librosa's pYIN for F0) on mono float samples in [-1, 1]; no model, no I/O, so
they are unit-tested on synthetic signals (``bench/test_voice_control_helpers.py``).
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


def median_f0(audio: Audio, rate: int, *, fmin: float = 50.0, fmax: float = 500.0) -> float:
    """Median F0 of the voiced frames, by probabilistic YIN (``librosa.pyin``).

    A frame counts when pYIN calls it voiced and its RMS is at least 10 % of the clip's loudest
    frame's (so a gain does not change which frames count). pYIN replaced a plain autocorrelation
    peak: on piper's low (~70 Hz after −4 st), breathy voice the autocorrelation's octave errors
    read a −4 st shift as −1 to −3 st, while pYIN reads it as −3.9 to −4.0 (five clips).

    Args:
        audio: mono samples.
        rate: sample rate in Hz.
        fmin: lowest F0 searched.
        fmax: highest F0 searched.

    Returns:
        Hz; NaN when no frame is voiced.
    """
    import librosa

    frame = 2048 if rate > 16000 else 1024
    hop = frame // 4
    if len(audio) < frame:
        return math.nan
    samples = np.asarray(audio, dtype=np.float32)
    f0, voiced, _ = librosa.pyin(
        samples, fmin=fmin, fmax=fmax, sr=rate, frame_length=frame, hop_length=hop, center=True
    )
    energy = librosa.feature.rms(y=samples, frame_length=frame, hop_length=hop, center=True)[0]
    count = min(len(f0), len(energy))
    if count == 0 or float(energy.max()) == 0.0:
        return math.nan
    keep = voiced[:count] & (energy[:count] >= 0.1 * float(energy.max())) & np.isfinite(f0[:count])
    return float(np.median(f0[:count][keep])) if keep.any() else math.nan


def semitones(f0: float, reference: float) -> float:
    """The interval from ``reference`` to ``f0`` in semitones (NaN if either is not positive)."""
    if not (f0 > 0 and reference > 0):
        return math.nan
    return 12.0 * math.log2(f0 / reference)
