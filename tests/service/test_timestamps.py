"""Placing words in an answer: engine spans onto words, estimates, user words per segment, marks."""

from __future__ import annotations

import itertools

import numpy as np

from voxgate.text import prepare
from voxgate.text.ssml import parse_ssml
from voxgate.text.ssml_prepare import prepare_ssml
from voxgate.text.streaming import quick_start
from voxgate.timestamps import WordTimer, merge
from voxgate.types import AudioChunk

RATE = 16000


def _bursts(*spans: tuple[float, float], length: float) -> np.ndarray:
    """Silence with a 200 Hz tone in each ``(start, end)`` second span."""
    audio = np.zeros(int(length * RATE), dtype=np.float32)
    for start, end in spans:
        t = np.arange(int(start * RATE), int(end * RATE))
        audio[t] = 0.5 * np.sin(2 * np.pi * 200 * t / RATE)
    return audio


def test_engine_spans_time_the_users_words_and_shared_spans_are_split() -> None:
    """Words an engine timed together ("你好" in one event) share its span; "$3.50" spans its reading."""
    prepared = prepare("Pay $3.50 你好", max_chars=100, max_segment_chars=100)
    text = prepared.segments[0].text  # "Pay three dollars and fifty cents 你好"
    audio = _bursts((0.0, 3.0), length=3.0)
    words = []
    at = 0.0
    for start, end in ((0, 3), (4, 9), (10, 17), (18, 21), (22, 27), (28, 33)):
        words.append((start, end, at, at + 0.4))
        at += 0.4
    words.append((34, 36, 2.4, 3.0))  # one event for both characters
    chunk = AudioChunk(audio, RATE, text, tuple(words))
    timed = WordTimer("Pay $3.50 你好", prepared, ssml=False).segment(0, [chunk], [1.0])
    assert [w.text for w in timed.words] == ["Pay", "$3.50", "你", "好"]
    money = timed.words[1]
    assert abs(money.start - 1.4) < 1e-6
    assert abs(money.end - 3.4) < 1e-6
    assert timed.words[2].end <= timed.words[3].start + 1e-6
    assert timed.estimated is False


def test_without_engine_words_the_sounding_stretch_is_shared_out() -> None:
    """No alignment: words are estimated inside the sound (leading and trailing silence excluded)."""
    prepared = prepare("One two three four.", max_chars=100, max_segment_chars=100)
    chunk = AudioChunk(_bursts((0.5, 2.5), length=3.0), RATE, prepared.segments[0].text)
    timed = WordTimer("One two three four.", prepared, ssml=False).segment(0, [chunk], [0.0])
    assert timed.estimated is True
    assert [w.text for w in timed.words] == ["One", "two", "three", "four"]
    assert 0.45 <= timed.words[0].start < timed.words[1].start < timed.words[3].start
    assert timed.words[-1].end <= 2.55


def test_marks_follow_their_segment_when_a_stream_splits_the_first_one() -> None:
    """quick_start cuts the first segment in two: a mark before the second sentence stays before it."""
    ssml = (
        "<speak>This first sentence is long enough, with a clause, to be cut in two for a stream"
        ' of audio.<mark name="two"/> Second sentence.</speak>'
    )
    prepared = prepare_ssml(
        parse_ssml(ssml, known_voice=lambda _v: True), max_chars=1000, max_segment_chars=300
    )
    split = quick_start(prepared, 30)
    assert len(split.segments) == len(prepared.segments) + 1
    (name, index) = split.marks[0]
    assert name == "two"
    assert split.segments[index].text.startswith("Second")


def test_a_word_split_over_two_segments_is_one_word_in_the_whole_answer() -> None:
    """merge joins the two halves of "$3.50" when a segment boundary falls inside its reading."""
    prepared = prepare("It was $3.50 total.", max_chars=100, max_segment_chars=100)
    split = quick_start(prepared, 1)  # the smallest first segment the language allows
    timer = WordTimer("It was $3.50 total.", split, ssml=False)
    parts = []
    at = 0.0
    for index, segment in enumerate(split.segments):
        audio = _bursts((0.0, 1.0), length=1.0)
        parts.append(timer.segment(index, [AudioChunk(audio, RATE, segment.text)], [at]))
        at += 1.2
    words = merge(parts).words
    assert [w.text for w in words] == ["It", "was", "$3.50", "total"]
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))
    assert words[2].end - words[2].start > 1.0  # from the first half to the end of the second


def test_a_word_the_engine_read_with_the_one_before_shares_its_time() -> None:
    """espeak-cmn reports 你好 as one event on 你 only: 好 shares 你's time instead of getting none."""
    prepared = prepare("你好吗", max_chars=100, max_segment_chars=100)
    words = ((0, 1, 0.0, 0.6), (2, 3, 0.6, 0.9))  # 你 (really 你好), then 吗 right after
    chunk = AudioChunk(_bursts((0.0, 0.9), length=0.9), RATE, prepared.segments[0].text, words)
    timed = WordTimer("你好吗", prepared, ssml=False).segment(0, [chunk], [0.0])
    assert [w.text for w in timed.words] == ["你", "好", "吗"]
    good = timed.words[1]
    assert good.end - good.start > 0.2
    assert timed.words[0].end <= good.start + 1e-6
