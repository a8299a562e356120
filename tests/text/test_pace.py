"""The low estimate of how long a text takes to say (deadlines of streamed and realtime pieces)."""

from __future__ import annotations

import pytest

from voxgate.text.pace import SPEECH_S_PER_WORD, count_words, speech_s


def test_words_are_letter_runs_and_each_cjk_character() -> None:
    """English words (with inner apostrophes and hyphens), numbers and Han/kana characters."""
    assert count_words("Don't stop, well-known 42 times!") == 5
    assert count_words("今天天气很好。") == 6
    assert count_words("こんにちは") == 5
    assert count_words("Hello 你好") == 3
    assert count_words(" ... ") == 0


def test_speech_is_words_times_the_low_rate_over_the_speed() -> None:
    """Four Chinese characters a second; twice the speed, half the time."""
    assert speech_s("今天天气很好") == pytest.approx(6 * SPEECH_S_PER_WORD)
    assert speech_s("one two three four", speed=2.0) == pytest.approx(4 * SPEECH_S_PER_WORD / 2)
    assert speech_s("") == 0.0
