"""The user's words, the spoken words, and which spoken words read which user word."""

from __future__ import annotations

import time

from voxgate.text import prepare
from voxgate.text.words import align, pair_words, spoken_words, user_words


def _owners(text: str) -> dict[str, list[str]]:
    prepared = prepare(text, max_chars=10_000, max_segment_chars=250)
    words = user_words(text)
    spoken = [prepared.text[a:b] for a, b in spoken_words(prepared.text)]
    grouped: dict[str, list[str]] = {}
    for word, owner in zip(spoken, align([w.text for w in words], spoken), strict=True):
        grouped.setdefault(words[owner].text, []).append(word.strip(",.!?"))
    return grouped


def test_user_words_keep_abbreviations_and_symbols_but_not_punctuation() -> None:
    """ "Dr." keeps its period, "$3.50" its symbol; quotes, commas and a sentence's period go."""
    text = 'Dr. Smith said "pay $3.50, now." The U.S. agreed.'
    assert [w.text for w in user_words(text)] == [
        "Dr.",
        "Smith",
        "said",
        "pay",
        "$3.50",
        "now",
        "The",
        "U.S.",
        "agreed",
    ]
    money = user_words(text)[4]
    assert text[money.start : money.end] == "$3.50"


def test_a_sentence_period_after_a_number_is_not_part_of_it() -> None:
    """ "$3.50." and "3.5." at a sentence's end lose the period; "U.S." and "e.g." keep theirs."""
    words = [w.text for w in user_words("It was $3.50. Then 3.5. The U.S. e.g. here.")]
    assert words == ["It", "was", "$3.50", "Then", "3.5", "The", "U.S.", "e.g.", "here"]


def test_rewritten_words_own_their_reading() -> None:
    """Numbers, money, abbreviations and dates map to the normalised words that read them."""
    grouped = _owners("Dr. Smith paid $3.50 on 12/25/2024 at 3:30 pm, 25% of 1,000.")
    assert grouped["Dr."] == ["Doctor"]
    assert grouped["$3.50"] == ["three", "dollars", "and", "fifty", "cents"]
    assert grouped["12/25/2024"][0] == "December"
    assert grouped["3:30"] == ["three", "thirty"]
    assert grouped["25%"] == ["twenty-five", "percent"]
    assert grouped["1,000"] == ["one", "thousand"]
    assert grouped["Smith"] == ["Smith"]


def test_chinese_is_timed_per_character_and_numbers_map_back() -> None:
    """Each Han character is a word; "3.5" owns 三点五."""
    grouped = _owners("我有3.5元。")
    assert grouped["3.5"] == ["三", "点", "五"]
    assert grouped["我"] == ["我"]
    assert grouped["元"] == ["元"]


def test_alignment_is_linear_on_a_long_rewritten_text() -> None:
    """5 000 words with no anchor at all align in bounded time, monotonically."""
    original = [f"{n}x" for n in range(5000)]
    spoken = [f"w{n}" for n in range(9000)]
    started = time.perf_counter()
    owners = align(original, spoken)
    assert time.perf_counter() - started < 5.0  # ~0.2 s here: a bound against quadratic, not a speed target
    assert len(owners) == 9000
    assert owners == sorted(owners)
    assert owners[-1] == 4999


def test_pairing_finds_words_the_engine_ran_together() -> None:
    """espeak reads "for the" as one word: it pairs with both text words, the rest one to one."""
    engine = ["bʊk", "fɚðə", "jɪɹ"]
    text = ["bʊk", "fɔɹ", "ðə", "jɪɹ"]
    assert pair_words(engine, text) == [(0, 1, 0, 1), (1, 2, 1, 3), (2, 3, 3, 4)]
    assert pair_words([], text) is None
