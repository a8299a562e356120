"""Cutting LLM-like text fragments into pieces: clause boundaries (English and Chinese), the buffer timer."""

from __future__ import annotations

import pytest

from voxgate.realtime.chunker import LONG_RUN_WORDS, TextChunker, count_words
from voxgate.testing import FakeClock


def _feed(chunker: TextChunker, fragments: list[str]) -> list[str]:
    return [piece for fragment in fragments for piece in chunker.push(fragment)]


def test_a_clause_is_cut_as_soon_as_its_boundary_arrives() -> None:
    """Not eager: a question mark cuts at once; a comma once whitespace follows; the rest waits."""
    chunker = TextChunker(FakeClock(), 0.3, eager=False)
    assert _feed(chunker, ["How", " are", " you", " today"]) == []
    assert chunker.push("?") == ["How are you today?"]
    assert _feed(chunker, [" I", " am", " fine", ","]) == []
    assert chunker.push(" thanks") == ["I am fine,"]
    assert chunker.buffered == " thanks"


@pytest.mark.parametrize(
    ("fragments", "pieces", "left"),
    [
        (
            [" I paid $1", ",", "000 to Dr", ".", " Smith", ".", " Then"],
            ["I paid $1,000 to Dr. Smith."],
            " Then",
        ),
        (["Pi is 3", ".", "14 or so", ".", " Yes"], ["Pi is 3.14 or so."], " Yes"),
        (["We met at 10", ":", "30 today", ".", " And"], ["We met at 10:30 today."], " And"),
        (["Use it, e.g. like this. ", "Fine"], ["Use it, e.g. like this."], " Fine"),
        (["The end of it. but lower"], [], "The end of it. but lower"),
        (["Call J", ".", " Smith or Dr", ".", " Who", "?"], ["Call J. Smith or Dr. Who?"], ""),
        (
            ["Go to https", ":", "//example", ".", "org or me@home", ".", "net"],
            [],
            "Go to https://example.org or me@home.net",
        ),
        (["It cost 12", ".", "50 or 2nd", "."], [], "It cost 12.50 or 2nd."),
        (["Wait for it", "...", " Now"], [], "Wait for it... Now"),
    ],
)
def test_numbers_and_abbreviations_do_not_end_a_clause(
    fragments: list[str], pieces: list[str], left: str
) -> None:
    """Periods and commas inside numbers, after abbreviations, initials, URL schemes or before
    lowercase words do not cut, even eagerly at the end of the text so far."""
    chunker = TextChunker(FakeClock(), 0.3)
    assert _feed(chunker, fragments) == pieces
    assert chunker.buffered == left


def test_a_period_or_comma_after_a_plain_word_cuts_without_waiting_for_the_next_token() -> None:
    """Eager (the default): ``.`` ``,`` ``:`` after a plain word cut as they arrive, closing quotes
    included; the next fragment's whitespace is not waited for."""
    chunker = TextChunker(FakeClock(), 0.3)
    assert _feed(chunker, ["The", " birch", " canoe", " slid", "."]) == ["The birch canoe slid."]
    assert _feed(chunker, [" I", " am", " fine", ","]) == ["I am fine,"]
    assert _feed(chunker, [" He", " said", ' "', "hello", " there", '."']) == ['He said "hello there."']
    assert _feed(chunker, [" One", " more", " thing", ":"]) == ["One more thing:"]
    assert _feed(chunker, [" It's", " a", ' "well-known', '"', ","]) == ['It\'s a "well-known",']
    assert chunker.buffered == ""


def test_a_period_closed_by_a_quote_ends_a_clause_once_whitespace_follows() -> None:
    """``."`` then whitespace cuts after the quote (the quote stays with its clause), eager or not."""
    chunker = TextChunker(FakeClock(), 0.3, eager=False)
    assert chunker.push('He said "hello there." Then') == ['He said "hello there."']
    assert chunker.buffered == " Then"


def test_chinese_clause_marks_cut_at_once() -> None:
    """，and 。 cut as soon as they arrive, character by character (each character counts as a word)."""
    chunker = TextChunker(FakeClock(), 0.3)
    assert _feed(chunker, list("今天天气很好，我们去公园吧。好的")) == ["今天天气很好，", "我们去公园吧。"]
    assert chunker.buffered == "好的"


def test_one_or_two_words_wait_for_more_unless_flushed() -> None:
    """A two-word clause joins the next one; only flush hands out a piece that short."""
    chunker = TextChunker(FakeClock(), 0.3)
    assert chunker.push("Yes, sir! ") == []
    assert chunker.push("That is right. ") == ["Yes, sir! That is right."]
    assert chunker.push("Thank you") == []
    assert chunker.flush() == "Thank you"
    assert chunker.flush() is None


def test_text_without_punctuation_is_cut_at_a_word_boundary_after_the_delay() -> None:
    """After max_delay_s the whole words go (a trailing half word stays); not a moment before."""
    clock = FakeClock()
    chunker = TextChunker(clock, 0.3)
    assert chunker.push("one two three four fi") == []
    due = chunker.due_at()
    assert due == pytest.approx(clock.monotonic() + 0.3)
    clock.advance(0.29)
    assert chunker.on_timer() == []
    clock.advance(0.02)
    assert chunker.on_timer() == ["one two three four"]
    assert chunker.buffered == "fi"
    assert chunker.due_at() is None  # "fi" alone is neither whole nor three words


def test_a_sentence_whose_tokens_keep_coming_is_not_cut_inside_by_the_timer() -> None:
    """Tokens every 50 ms for longer than max_delay_s: no timer cut while they come; the period
    ends the sentence as one piece (a cut at 0.3 s would put a pause inside it)."""
    clock = FakeClock()
    chunker = TextChunker(clock, 0.3)
    words = ["Glue", "the", "sheet", "to", "the", "dark", "blue", "background", "and", "the", "frame"]
    for word in words:
        assert chunker.push(f" {word}") == []
        clock.advance(0.05)
        assert chunker.on_timer() == []
    assert clock.monotonic() > 0.5
    assert chunker.push(".") == ["Glue the sheet to the dark blue background and the frame."]


def test_the_timer_cuts_after_a_pause_or_a_long_run_without_punctuation() -> None:
    """No fragment for max_delay_s: the whole words go; fragments that keep coming are cut once
    LONG_RUN_WORDS words have waited max_delay_s."""
    clock = FakeClock()
    chunker = TextChunker(clock, 0.3)
    for word in ["so", "we", "went", "home"]:
        chunker.push(f" {word}")
        clock.advance(0.1)
    assert chunker.on_timer() == []
    clock.advance(0.21)  # 0.31 s since the last fragment
    assert chunker.on_timer() == ["so we went"]  # "home" may go on ("homework")
    pieces: list[str] = []
    for n in range(2 * LONG_RUN_WORDS):
        chunker.push(f" w{n}")
        clock.advance(0.05)
        pieces += chunker.on_timer()
    assert pieces[0].startswith("home w0 ")
    assert [count_words(p) for p in pieces] == [LONG_RUN_WORDS, LONG_RUN_WORDS]


def test_clear_drops_everything() -> None:
    """clear() forgets the buffer and its timer."""
    chunker = TextChunker(FakeClock(), 0.3)
    chunker.push("one two three four ")
    chunker.clear()
    assert (chunker.buffered, chunker.due_at(), chunker.flush()) == ("", None, None)


def test_words_count_letters_digits_and_each_cjk_character() -> None:
    """count_words: English words, numbers and CJK characters."""
    assert count_words("Don't stop, 42 times!") == 4
    assert count_words("你好，world") == 3
