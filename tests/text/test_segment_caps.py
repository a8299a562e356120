"""Hard caps on what one engine call gets: segment length (spelled symbols weigh more), collapsed spaces."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voxgate.text import prepare
from voxgate.text.segment import SPELLED_WEIGHT, segment, spoken_length

MAX = 250


def _segments(text: str, max_segment_chars: int = MAX) -> list[str]:
    return [s.text for s in prepare(text, max_chars=10**7, max_segment_chars=max_segment_chars).segments]


@pytest.mark.parametrize(
    "text",
    [
        "a" * 5000,
        "a" + " " * 3000 + "b " * 400,
        "中" * 5000,
        "1" * 3000,
        "word-" * 1000,
        "a\u3000" * 3000,
    ],
    ids=["one-word", "space-run", "cjk-run", "digits", "hyphenated", "ideographic-spaces"],
)
def test_no_segment_is_longer_than_the_cap(text: str) -> None:
    """A word, a space run, a CJK run without punctuation, digits: every segment fits the cap."""
    segments = _segments(text)
    assert segments
    assert max(len(s) for s in segments) <= MAX
    assert all("  " not in s for s in segments)  # whitespace runs collapse


def test_spelled_symbols_weigh_more() -> None:
    """'*a *a ...' is cut so an engine reads at most ~MAX/8 'asterisk's per call (was 125)."""
    segments = _segments("*a " * 2000)
    assert max(spoken_length(s) for s in segments) <= MAX
    assert max(s.count("*") for s in segments) <= MAX // SPELLED_WEIGHT
    assert spoken_length("a*b") == 2 + SPELLED_WEIGHT
    assert spoken_length("plain words.") == len("plain words.")


def test_symbol_runs_without_spaces_are_cut_by_weight() -> None:
    """A run of symbols with no space or punctuation is cut within the cap (unspeakable pieces drop)."""
    pieces = [s.text for s in segment("a" + "*" * 500 + "b", 40)]
    assert all(spoken_length(p) <= 40 for p in pieces)
    assert pieces[0].startswith("a")
    assert pieces[-1].endswith("b")


_ALPHABET = st.sampled_from([*"aAz0 .,!?;:*#_~-'\"()中文。，！あ한\n", "Dr.", "e.g.", "...", "  ", "\n\n"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(_ALPHABET, min_size=1, max_size=400), cap=st.integers(min_value=20, max_value=120))
def test_every_segment_fits_its_cap(pieces: list[str], cap: int) -> None:
    """Property: whatever the text, no prepared segment's spoken length exceeds max_segment_chars."""
    text = "".join(pieces)
    if not any(c.isalnum() for c in text):
        return
    try:
        segments = _segments(text, cap)
    except ValueError:
        return
    assert all(spoken_length(s) <= cap for s in segments), segments
