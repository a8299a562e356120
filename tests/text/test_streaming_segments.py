"""A long first sentence is split at a clause boundary for streaming; nothing else changes."""

from __future__ import annotations

import pytest

from voxgate.text import prepare
from voxgate.text.streaming import quick_start


def _texts(text: str) -> list[str]:
    return [s.text for s in quick_start(prepare(text, max_chars=5000, max_segment_chars=250)).segments]


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
            ["A sentence with no clause break that is long enough to pass the limit of sixty chars."],
        ),
    ],
)
def test_first_segment_split_only_at_clause_boundaries(text: str, expected: list[str]) -> None:
    """Only a long first segment is split, and only after clause punctuation."""
    assert _texts(text) == expected


def test_split_keeps_language_and_paragraph_end() -> None:
    """The head is not a paragraph end; the tail keeps the original segment's language and flag."""
    prepared = quick_start(
        prepare("今天天气很好，我们去公园散步吧。\n\n第二段。", max_chars=500, max_segment_chars=250)
    )
    head, tail = prepared.segments[:2]
    assert (head.language, tail.language) == ("zh", "zh")
    assert not head.paragraph_end
    assert tail.paragraph_end
