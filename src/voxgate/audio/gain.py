"""Gain for SSML ``prosody volume``: decibels applied to finished audio, never clipping."""

from __future__ import annotations

import math

import numpy as np

from voxgate.types import Audio

CEILING = 0.99
"""Peak a louder clip is held under (scaled down as a whole rather than clipped)."""


def apply_gain(audio: Audio, db: float) -> Audio:
    """``audio`` made ``db`` decibels louder (quieter when negative; silent at ``-inf``).

    A gain that would push the peak past :data:`CEILING` is reduced so the peak sits at it:
    the clip gets as loud as it can without distortion.

    Args:
        audio: mono float32 samples.
        db: the gain in dB.

    Returns:
        A new array (``audio`` itself when ``db`` is 0).
    """
    if db == 0:
        return audio
    if db == -math.inf:
        return np.zeros_like(audio)
    factor = 10 ** (db / 20)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak * factor > CEILING:
        factor = max(CEILING / peak, 0.0) if peak > 0 else factor
    return (audio * np.float32(factor)).astype(np.float32, copy=False)
