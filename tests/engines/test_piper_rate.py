"""Piper speaks as much faster or slower as asked, whole-frame rounding included."""

from __future__ import annotations

import pytest

from voxgate.engines.piper import PiperEngine, length_factor
from voxgate.types import SynthesisOptions


def test_the_length_factor_is_one_at_normal_speed_and_bounded() -> None:
    """Speed 1 keeps the voice's own length scale; no speed gives a scale at or below zero."""
    assert length_factor(1.0) == pytest.approx(1.0)
    assert length_factor(2.0) < 0.5 < 2.0 < length_factor(0.5)
    assert length_factor(100.0) == 0.1


def test_piper_speaks_twice_and_half_as_fast_when_asked() -> None:
    """Speed 2 halves the duration and 0.5 doubles it (within 10 %; 1 / speed gave 0.61 and 1.76)."""
    engine = PiperEngine(threads=1, noise_scale=0.0, noise_w_scale=0.0)
    text = "The birch canoe slid on the smooth planks."
    durations = {
        speed: sum(c.duration for c in engine.synthesize(text, "joe", SynthesisOptions(speed=speed)))
        for speed in (0.5, 1.0, 2.0)
    }
    assert durations[2.0] / durations[1.0] == pytest.approx(0.5, rel=0.1)
    assert durations[0.5] / durations[1.0] == pytest.approx(2.0, rel=0.1)
