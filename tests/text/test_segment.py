"""Sentence segmentation: sentence ends, abbreviations and numbers, paragraphs, the length bound."""

from __future__ import annotations

import pytest

from voxgate.text.segment import Segment, segment, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world. How are you? I'm fine!", ["Hello world.", "How are you?", "I'm fine!"]),
        ("你好。今天天气很好！你呢？", ["你好。", "今天天气很好！", "你呢？"]),
        ("先做这个；再做那个。", ["先做这个；", "再做那个。"]),
        ("Dr. Smith went home. He met Mr. Brown.", ["Dr. Smith went home.", "He met Mr. Brown."]),
        ("Use e.g. apples. Then go.", ["Use e.g. apples.", "Then go."]),
        ("Pi is 3.14 today. Yes.", ["Pi is 3.14 today.", "Yes."]),
        ("He lives in the U.S. and likes it.", ["He lives in the U.S. and likes it."]),
        ("J. R. R. Tolkien wrote it. Yes.", ["J. R. R. Tolkien wrote it.", "Yes."]),
        ("Nov. 24 is late. Ok.", ["Nov. 24 is late.", "Ok."]),
        ("Wait... what? Okay.", ["Wait... what?", "Okay."]),
        ("Hmm... Then what?", ["Hmm...", "Then what?"]),
        ("他说……然后走了。", ["他说……然后走了。"]),
        ("Really?! No way.", ["Really?!", "No way."]),
        ("He said “Hello.” Then he left.", ["He said “Hello.”", "Then he left."]),
        ('"Stop!" he said. Go.', ['"Stop!" he said.', "Go."]),
        ("他说：“你好！”然后走了。", ["他说：“你好！”", "然后走了。"]),
        ("（真的吗？）是的。", ["（真的吗？）", "是的。"]),
        ("Really?我不信。", ["Really?", "我不信。"]),
        ("我今天用iPhone打电话给Mary。Mary没接。", ["我今天用iPhone打电话给Mary。", "Mary没接。"]),
        ("no stop at the end", ["no stop at the end"]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    """Sentences end at 。！？；!?. and ellipses, but not inside numbers or after abbreviations."""
    assert split_sentences(text) == expected


def test_paragraph_breaks_are_marked() -> None:
    """The last segment of each paragraph but the final one says a paragraph break follows."""
    assert segment("One. Two.\n\nThree.", 100) == [
        Segment("One.", paragraph_end=False),
        Segment("Two.", paragraph_end=True),
        Segment("Three.", paragraph_end=False),
    ]


def test_every_line_is_a_paragraph_without_blank_lines() -> None:
    """Without any blank line in the text, each line break is a paragraph break."""
    assert segment("第一行\n第二行", 100) == [Segment("第一行", True), Segment("第二行", False)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This is a\nwrapped line.\n\nNext.", ["This is a wrapped line.", "Next."]),
        ("这是一个\n很长的句子。\n\n下一段。", ["这是一个很长的句子。", "下一段。"]),
    ],
)
def test_single_line_breaks_are_wrapping_when_blank_lines_exist(text: str, expected: list[str]) -> None:
    """With blank lines as paragraph marks, single breaks join (no space between CJK characters)."""
    assert [s.text for s in segment(text, 100)] == expected


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        ("one, two, three, four", 10, ["one, two,", "three,", "four"]),
        ("我们今天去公园，然后去超市，最后回家。", 8, ["我们今天去公园，", "然后去超市，", "最后回家。"]),
        ("aaaa bbbb cccc dddd", 10, ["aaaa bbbb", "cccc dddd"]),
        ("Costs 1,000 or 2,000 dollars", 12, ["Costs 1,000", "or 2,000", "dollars"]),
        ("abcdefghijkl", 5, ["abcde", "fghij", "kl"]),
        ("一二三四五六七八九十", 4, ["一二三四", "五六七八", "九十"]),
        ("我今天用iPhone打电话给Mary然后去", 8, ["我今天用", "iPhone打电", "话给Mary然后", "去"]),
    ],
)
def test_long_sentences_are_split(text: str, max_chars: int, expected: list[str]) -> None:
    """Too-long sentences split at clause punctuation, then between words, then hard."""
    assert [s.text for s in segment(text, max_chars)] == expected


LONG_TEXTS = [
    "It was the best of times, it was the worst of times; it was the age of wisdom: it was the age "
    "of foolishness. Supercalifragilisticexpialidocious! Dr. Who met Mr. Smith in the U.S. today.",
    "在一个阳光明媚的早晨，我们一起去了公园、博物馆和图书馆；然后我们在湖边吃了午饭。天气非常好！"
    "我今天用iPhone打电话给Mary，她说她明天会来。",
]


@pytest.mark.parametrize("text", LONG_TEXTS)
@pytest.mark.parametrize("max_chars", [1, 3, 7, 20, 50])
def test_no_segment_exceeds_the_bound(text: str, max_chars: int) -> None:
    """No segment is ever longer than max_chars, and no letter is lost or reordered."""
    pieces = segment(text, max_chars)
    assert all(0 < len(s.text) <= max_chars for s in pieces)
    assert "".join(c for s in pieces for c in s.text if c.isalnum()) == "".join(filter(str.isalnum, text))


def test_punctuation_stays_with_a_hard_cut_word() -> None:
    """Punctuation after a word that had to be cut stays with its last piece."""
    pieces = segment("Supercalifragilisticexpialidocious! Yes.", 20)
    assert [s.text for s in pieces] == ["Supercalifragilistic", "expialidocious!", "Yes."]


def test_punctuation_only_pieces_are_never_segments() -> None:
    """Stray punctuation joins the sentence before it, or is dropped when it cannot fit."""
    assert [s.text for s in segment("Hello. ... World.", 100)] == ["Hello. ...", "World."]
    assert [s.text for s in segment("... Hello.", 100)] == ["... Hello."]
    assert segment("!!! ???", 100) == []
    assert [s.text for s in segment("abc!!!", 3)] == ["abc"]


def test_bound_below_one_is_a_programming_error() -> None:
    """A non-positive max_chars is a bug in the caller."""
    with pytest.raises(ValueError, match="max_chars"):
        segment("text", 0)
