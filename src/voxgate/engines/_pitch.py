"""Pitch shift for engines without a pitch control (piper, kokoro): by resampling.

The engine speaks ``factor`` times slower, and its chunk is labelled with a sample rate
``factor`` times higher; resampling it to the output rate then plays it ``factor`` times
faster: the same duration, every frequency (formants too) ``factor`` times higher. Good for
a few semitones; a large shift sounds like a tape played fast or slow.
"""

from __future__ import annotations

MAX_SHIFT_ST = 12.0


def pitch_factor(semitones: float) -> float:
    """The frequency factor of a pitch change of ``semitones`` (clamped to ±1 octave)."""
    return float(2 ** (max(-MAX_SHIFT_ST, min(MAX_SHIFT_ST, semitones)) / 12))
