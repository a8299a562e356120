"""bench/zh_voices.py's pure parts: the blend grid, ranking by CI upper bound, the test-stage verdict."""

from __future__ import annotations

import pytest

from _metrics import ErrorRate
from _report import CaseResult
from _stats import SentenceError
from zh_voices import blend_grid, rank, upper_bound, verdict


def _result(voice: str, errors: list[int], length: int = 20) -> CaseResult:
    """One trial of a corpus whose sentence i has ``errors[i]`` edits over ``length`` characters."""
    return CaseResult(
        engine="kokoro",
        voice=voice,
        language="zh",
        sentences=len(errors),
        trials=1,
        failures=0,
        sentence_errors=tuple(SentenceError(i, ErrorRate(e, length)) for i, e in enumerate(errors)),
        scores=(),
        synth_seconds=1.0,
        audio_seconds=2.0,
        transcripts=(),
    )


def test_blend_grid_pairs_every_two_voices_at_each_weight():
    """Three voices and three weights give 3 pairs x 3 blends, weights summing to 1."""
    grid = blend_grid(["a", "b", "c"], [0.3, 0.5, 0.7])
    assert len(grid) == 9
    assert grid[:3] == ["a:0.3+b:0.7", "a:0.5+b:0.5", "a:0.7+b:0.3"]
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        blend_grid(["a", "b"], [1.0])


def test_rank_prefers_the_lower_upper_bound_over_the_lower_point_estimate():
    """A steady voice beats one with a slightly lower mean but a wide interval."""
    steady = _result("steady", [2] * 20)
    erratic = _result("erratic", [0] * 15 + [7] * 5)
    assert erratic.error.rate < steady.error.rate
    assert upper_bound(steady) < upper_bound(erratic)
    assert [r.voice for r in rank([erratic, steady])] == ["steady", "erratic"]


def test_verdict_keeps_a_blend_only_if_it_beats_every_single_voice_on_test():
    """A blend that loses to any single voice on test gives way to the safest single voice."""
    singles = [_result("a", [2] * 10), _result("b", [3] * 10)]
    assert verdict(_result("a:0.5+b:0.5", [1] * 10), singles).kept_blend
    lost = verdict(_result("a:0.5+b:0.5", [2] * 10), singles)
    assert (lost.choice, lost.kept_blend) == ("a", False)
    assert verdict(singles[1], singles).choice == "b"
