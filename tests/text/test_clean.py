"""Sanitising: control characters, Unicode folding, whitespace, the length limit and empty text."""

from __future__ import annotations

import pytest

from voxgate.errors import EmptyText, InvalidInput, TextTooLong
from voxgate.text.clean import clean_text, is_speakable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello\x00 world\x07", "Hello world"),
        ("a\tb", "a b"),
        ("  lots   of   space  ", "lots of space"),
        ("line1\r\nline2\rline3", "line1\nline2\nline3"),
        ("p1\n\n\n\np2", "p1\n\np2"),
        ("a \n b", "a\nb"),
        ("p1\n  \n \np2", "p1\n\np2"),
        ("x\u2028y\u2029z", "x\ny\n\nz"),
        ("ＡＢＣ１２３", "ABC123"),
        ("３．１４", "3.14"),
        ("你好，世界！（注）", "你好，世界！（注）"),
        ("a\u3000b\u00a0c", "a b c"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("20℃", "20°C"),
        ("5ｋｇ", "5kg"),
        ("5 m²", "5 m²"),
        ("٣ apples", "3 apples"),
        ("ﬁne", "fine"),
        ("½", "1/2"),
        ("e\u0301", "é"),
        ("……好", "......好"),
    ],
)
def test_clean_text(text: str, expected: str) -> None:
    """Control and format characters go, compatibility forms fold, CJK punctuation stays."""
    assert clean_text(text, max_chars=100) == expected


@pytest.mark.parametrize("text", ["", "   ", "!!!", "\x00\x01\x02", "。，！", "\u200b\n\t", "……"])
def test_nothing_speakable_is_empty(text: str) -> None:
    """Text with no letter or digit after cleaning raises EmptyText on the text field."""
    with pytest.raises(EmptyText) as caught:
        clean_text(text, max_chars=100)
    assert caught.value.field == "text"


def test_too_long_reports_length_and_limit() -> None:
    """A text over the limit raises TextTooLong carrying its length and the limit."""
    with pytest.raises(TextTooLong) as caught:
        clean_text("abcdef", max_chars=5)
    assert (caught.value.length, caught.value.limit) == (6, 5)


def test_limit_counts_cleaned_characters() -> None:
    """Padding whitespace and control characters do not count towards the limit."""
    assert clean_text("  a \x00\x00   b  ", max_chars=3) == "a b"
    assert clean_text("abcde", max_chars=5) == "abcde"


def test_lone_surrogate_is_invalid_input() -> None:
    """A lone surrogate raises InvalidInput naming the field, the code point and its position."""
    with pytest.raises(InvalidInput) as caught:
        clean_text("ab\ud800c", max_chars=100)
    assert caught.value.field == "text"
    assert "surrogate" in caught.value.message
    assert "U+D800" in caught.value.message
    assert "position 2" in caught.value.message


def test_field_name_is_passed_through() -> None:
    """Errors name the field the caller says the text came from."""
    with pytest.raises(EmptyText) as caught:
        clean_text("  ", max_chars=10, field="input")
    assert caught.value.field == "input"


def test_limit_below_one_is_a_programming_error() -> None:
    """A non-positive limit is a bug in the caller, not bad input."""
    with pytest.raises(ValueError, match="max_chars"):
        clean_text("a", max_chars=0)


@pytest.mark.parametrize(
    ("text", "expected"), [("a", True), ("3", True), ("好", True), ("?!", False), ("", False)]
)
def test_is_speakable(text: str, expected: bool) -> None:
    """A letter or a digit makes text speakable; punctuation alone does not."""
    assert is_speakable(text) is expected
