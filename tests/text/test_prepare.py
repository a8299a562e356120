"""The text front end as one call: clean, normalise per language run, segment."""

from __future__ import annotations

import dataclasses

import pytest

from voxgate.errors import EmptyText, InvalidInput, TextTooLong
from voxgate.text import LanguageRun, PreparedSegment, prepare


def test_price_sentence_is_two_segments() -> None:
    """The decimal point in a price does not end a sentence."""
    prepared = prepare("It costs $3.50. Then we go.", max_chars=1000, max_segment_chars=200)
    assert [s.text for s in prepared.segments] == ["It costs three dollars and fifty cents.", "Then we go."]
    assert prepared.text == "It costs three dollars and fifty cents. Then we go."
    assert prepared.language == "en"


def test_mixed_paragraphs() -> None:
    """Each segment carries its language, its runs and whether a paragraph break follows."""
    prepared = prepare(
        "Meet Dr. Smith at 3:30 pm.\n\n我今天用iPhone打电话给Mary。会议在15:30开始！",
        max_chars=1000,
        max_segment_chars=200,
    )
    assert prepared.segments == (
        PreparedSegment(
            "Meet Doctor Smith at three thirty p m.",
            "en",
            True,
            (LanguageRun("Meet Doctor Smith at three thirty p m.", "en"),),
        ),
        PreparedSegment(
            "我今天用iPhone打电话给Mary。",
            "zh",
            False,
            (
                LanguageRun("我今天用", "zh"),
                LanguageRun("iPhone", "en"),
                LanguageRun("打电话给", "zh"),
                LanguageRun("Mary。", "en"),
            ),
        ),
        PreparedSegment(
            "会议在十五点三十分开始！", "zh", False, (LanguageRun("会议在十五点三十分开始！", "zh"),)
        ),
    )
    assert prepared.language == "en"  # 7 English words outweigh 12 Chinese characters (= 6 words)


def test_segments_respect_the_bound_after_normalisation() -> None:
    """The segment bound applies to the normalised text, which is longer than the input."""
    prepared = prepare("Pay $1,234,567.89 now, please.", max_chars=40, max_segment_chars=30)
    assert all(len(s.text) <= 30 for s in prepared.segments)
    assert " ".join(s.text for s in prepared.segments).startswith("Pay one million")


@pytest.mark.parametrize(("default", "expected"), [("en", "twelve"), ("zh", "十二")])
def test_digits_only_use_the_default_language(default: str, expected: str) -> None:
    """A text with no letters is read in the default language."""
    prepared = prepare("12", max_chars=10, max_segment_chars=10, default_language=default)
    assert (prepared.text, prepared.language, prepared.segments[0].language) == (expected, default, default)


@pytest.mark.parametrize(
    ("text", "error"),
    [("   \x00", EmptyText), ("。。。", EmptyText), ("a" * 11, TextTooLong), ("a\udc00", InvalidInput)],
)
def test_bad_input_raises_typed_errors(text: str, error: type[Exception]) -> None:
    """Empty, too long and invalid text raise the typed errors the API maps to 4xx."""
    with pytest.raises(error):
        prepare(text, max_chars=10, max_segment_chars=10)


def test_prepare_is_deterministic() -> None:
    """The same input gives an equal result (cache keys rely on it)."""
    text = "On 2026-11-24, 我花了¥3.50。"
    first = prepare(text, max_chars=100, max_segment_chars=20)
    assert prepare(text, max_chars=100, max_segment_chars=20) == first
    assert hash(first.segments) == hash(prepare(text, max_chars=100, max_segment_chars=20).segments)


def test_results_are_frozen() -> None:
    """PreparedText is an immutable value object."""
    prepared = prepare("Hi.", max_chars=10, max_segment_chars=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prepared.text = "x"  # type: ignore[misc]
