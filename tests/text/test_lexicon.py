"""Pronunciation lexicons in the text front end: whole words, CJK substrings, phonemes, linear time."""

from __future__ import annotations

import time

import pytest

from voxgate.errors import InvalidInput
from voxgate.text import prepare
from voxgate.text.dialogue import DialogueTurn, prepare_dialogue
from voxgate.text.lexicon import Lexicon, LexiconEntry, check_entry
from voxgate.text.ssml_prepare import prepare_ssml

LEXICON = Lexicon(
    [
        LexiconEntry("SQL", say="sequel"),
        LexiconEntry("New York", say="the big apple"),
        LexiconEntry("tomato", ipa="təˈmɑːtoʊ"),
        LexiconEntry("重庆", pinyin="chong2 qing4"),
        LexiconEntry("US", say="you ess", case_sensitive=True),
        LexiconEntry("COVID-19", say="covid nineteen"),
    ]
)


def test_say_is_applied_before_number_reading_on_whole_words_only() -> None:
    """'SQL', 'new   york', 'covid-19' replaced (any case, any spacing); 'sqlite', 'us', 'COVID 19' not."""
    text = LEXICON.substitute("I like sql and new   york, 2 of US. sqlite for us, covid-19, COVID 19")
    assert text == "I like sequel and the big apple, 2 of you ess. sqlite for us, covid nineteen, COVID 19"
    prepared = prepare(text, max_chars=1000, max_segment_chars=200)
    assert prepared.text.startswith("I like sequel and the big apple, two of you ess.")


def test_ipa_and_pinyin_become_phoneme_segments() -> None:
    """An ipa entry and a CJK pinyin entry (matched inside a longer CJK run) are phoneme segments."""
    document = LEXICON.document("A tomato.\n\n我在重庆市。")
    prepared = prepare_ssml(document, max_chars=1000, max_segment_chars=200)
    phonemes = [(s.text, s.phonemes, s.alphabet) for s in prepared.segments if s.phonemes]
    assert phonemes == [("tomato", "təˈmɑːtoʊ", "ipa"), ("重庆", "chong2 qing4", "pinyin")]
    assert any(s.paragraph_end for s in prepared.segments)


def test_a_dialogue_turn_gets_the_lexicon_and_its_version_in_the_key() -> None:
    """A turn's 'SQL' is said 'sequel'; the version is in the cache key text only when an entry matched."""

    def run(text: str) -> str:
        turns = [DialogueTurn("joe", text)]
        prepared = prepare_dialogue(
            turns, max_chars=100, max_segment_chars=100, known_voice=lambda _v: True, lexicon=LEXICON
        )
        return prepared.key_text()

    assert "sequel" in run("Some SQL.")
    assert f"lexicon:{LEXICON.version}" in run("Some SQL.")
    assert "lexicon:" not in run("Nothing here.")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (LexiconEntry("", say="x"), "e.word"),
        (LexiconEntry("a" * 65, say="x"), "e.word"),
        (LexiconEntry("a+b", say="x"), "e.word"),
        (LexiconEntry("a--b", say="x"), "e.word"),
        (LexiconEntry("a b c d e", say="x"), "e.word"),
        (LexiconEntry("ab", say="x", ipa="y"), "e"),
        (LexiconEntry("ab"), "e"),
        (LexiconEntry("ab", ipa=" "), "e.ipa"),
    ],
)
def test_bad_entries_name_the_field(entry: LexiconEntry, field: str) -> None:
    """Empty, too long, not words, too many words, two or no pronunciations, blank → InvalidInput."""
    with pytest.raises(InvalidInput) as caught:
        check_entry(entry, "e")
    assert caught.value.field == field


def test_the_version_is_a_content_hash() -> None:
    """Same entries, same version; another entry, another version."""
    assert Lexicon(LEXICON.entries).version == LEXICON.version
    assert Lexicon([*LEXICON.entries, LexiconEntry("x", say="y")]).version != LEXICON.version


def test_matching_is_linear_with_thousands_of_entries() -> None:
    """5 000 entries (phrases and CJK words) over 200 000 adversarial characters: well under the bound."""
    entries = [LexiconEntry(f"word{i} next{i} more", say="x") for i in range(2500)]
    entries += [LexiconEntry("中" * 63 + chr(0x4E01 + i), pinyin="zhong1") for i in range(2500)]
    lexicon = Lexicon(entries)
    started = time.perf_counter()
    lexicon.matches("word1 next1 " * 8000)  # every phrase start is a near miss
    lexicon.matches("中" * 100_000)  # every position tries the longest CJK length
    assert time.perf_counter() - started < 5.0  # linear: ~0.3 s here; quadratic would be minutes
