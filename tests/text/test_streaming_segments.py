"""A long first sentence is split for streaming (clause, else word boundary); nothing else changes."""

from __future__ import annotations

import pytest

from voxgate.text import prepare
from voxgate.text.streaming import quick_start


def _texts(text: str, max_chars: int | None = None) -> list[str]:
    prepared = prepare(text, max_chars=5000, max_segment_chars=250)
    return [s.text for s in quick_start(prepared, max_chars).segments]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天天气很好，我们去公园散步吧。明天见。", ["今天天气很好，", "我们去公园散步吧。", "明天见。"]),
        ("你好。今天天气很好，我们去公园散步吧。", ["你好。", "今天天气很好，我们去公园散步吧。"]),
        ("Short one. Then another.", ["Short one.", "Then another."]),
        (
            "When the morning came and the birds began to sing, we walked to the river and sat down.",
            ["When the morning came and the birds began to sing,", "we walked to the river and sat down."],
        ),
        (
            "A sentence with no clause break that is long enough to pass the limit of sixty chars.",
            ["A sentence with no clause break that is long enough to pass", "the limit of sixty chars."],
        ),
        ("今天天气很好我们去公园散步吧。", ["今天天气很好我们去公园散步吧。"]),  # no cut inside Chinese words
        ("Hi there, you. Bye.", ["Hi there, you.", "Bye."]),
    ],
)
def test_long_first_segment_split_at_a_clause_else_between_words(text: str, expected: list[str]) -> None:
    """Only a long first segment is split: after clause punctuation, else (spaced languages) between words."""
    assert _texts(text) == expected


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        (
            "The birch canoe slid on the smooth planks. Glue the sheet.",
            20,
            ["The birch canoe slid", "on the smooth planks.", "Glue the sheet."],
        ),
        ("The birch canoe slid on the smooth planks.", 80, ["The birch canoe slid on the smooth planks."]),
        ("Tiny words: a b c d e f g h i j k l m n.", 1, ["Tiny words:", "a b c d e f g h i j k l m n."]),
        ("One two three four.", 5, ["One two three four."]),  # too few words to leave on each side
        ("今天天气很好，我们去公园散步吧。", 4, ["今天天气很好，", "我们去公园散步吧。"]),  # first clause
    ],
)
def test_caller_limit_shortens_the_first_segment(text: str, max_chars: int, expected: list[str]) -> None:
    """A caller's limit (the engine's first-audio budget) cuts shorter; below the floor, the floor holds."""
    assert _texts(text, max_chars) == expected


def test_split_keeps_language_and_paragraph_end() -> None:
    """The head is not a paragraph end; the tail keeps the original segment's language and flag."""
    prepared = quick_start(
        prepare("今天天气很好，我们去公园散步吧。\n\n第二段。", max_chars=500, max_segment_chars=250)
    )
    head, tail = prepared.segments[:2]
    assert (head.language, tail.language) == ("zh", "zh")
    assert not head.paragraph_end
    assert tail.paragraph_end
