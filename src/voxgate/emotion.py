"""The ``emotion`` request option: checked once, where a request enters, into an :class:`Emotion`.

Two forms, as IndexTTS-2 takes them: a map of :data:`~voxgate.types.EMOTIONS` names to weights
(its emotion vector; the names left out weigh 0), or a short text describing the emotion. The
weights sum to at most :data:`MAX_EMOTION_SUM`: IndexTTS-2's own web UI caps the sum there, since
stronger vectors distort the voice (its server refuses sums above 1.5 with a 500).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from voxgate.errors import InvalidOption
from voxgate.types import EMOTIONS, Emotion

__all__ = ["MAX_EMOTION_SUM", "MAX_EMOTION_TEXT", "parse_emotion"]

MAX_EMOTION_SUM = 0.8
"""Largest sum of emotion weights."""
MAX_EMOTION_TEXT = 200
"""Longest emotion description, in characters."""


def parse_emotion(value: Mapping[str, float] | str | None) -> Emotion | None:
    """The checked :class:`Emotion` for a request's ``emotion`` field (``None`` stays ``None``).

    Raises:
        InvalidOption: naming ``emotion.<name>`` for an unknown name or a weight outside [0, 1];
            ``emotion`` for a sum above :data:`MAX_EMOTION_SUM`, an all-zero map, or an empty or
            too long text.
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InvalidOption("emotion", "emotion text must not be empty")
        if len(text) > MAX_EMOTION_TEXT:
            raise InvalidOption("emotion", f"emotion text must be at most {MAX_EMOTION_TEXT} characters")
        return Emotion(text=text)
    for name, weight in value.items():
        if name not in EMOTIONS:
            raise InvalidOption(f"emotion.{name}", f"unknown emotion {name!r}; known: {', '.join(EMOTIONS)}")
        if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise InvalidOption(f"emotion.{name}", f"emotion.{name} must be between 0 and 1")
    weights = tuple(float(value.get(name, 0.0)) for name in EMOTIONS)
    total = sum(weights)
    if total > MAX_EMOTION_SUM + 1e-9:
        raise InvalidOption(
            "emotion", f"emotion weights must sum to at most {MAX_EMOTION_SUM}, not {total:g}"
        )
    if total == 0.0:
        raise InvalidOption("emotion", "emotion needs at least one weight above 0 (or leave it out)")
    return Emotion(weights=weights)
