"""How long a text takes to say: a low estimate, for deadlines that must not give a piece more
time than the listener will wait.

A word is a run of letters or digits (``don't`` and ``well-known`` are one), or a single Han or
kana character (Chinese and Japanese are written without spaces; a character is about a syllable).
"""

from __future__ import annotations

import re

__all__ = ["SPEECH_S_PER_WORD", "WIDE_CHARS", "count_words", "speech_s"]

WIDE_CHARS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
"""Kana and Han characters, as a regex character-class body: each is a word of its own."""
SPEECH_S_PER_WORD = 0.25
"""A low estimate of speech per word (a CJK character counts as a word): ~240 English words a
minute, ~4 Chinese characters a second. Low, so an estimate never gives a piece more time than
the listener will wait."""

_WORD_RE = re.compile(rf"[{WIDE_CHARS}]|[^\W_{WIDE_CHARS}]+(?:['’\-][^\W_{WIDE_CHARS}]+)*")


def count_words(text: str) -> int:
    """Words in ``text``: runs of letters or digits, and each CJK character on its own."""
    return len(_WORD_RE.findall(text))


def speech_s(text: str, speed: float = 1.0) -> float:
    """A low estimate of the seconds ``text`` takes to say at ``speed`` (1 = the engine's own pace)."""
    return count_words(text) * SPEECH_S_PER_WORD / max(speed, 1e-6)
