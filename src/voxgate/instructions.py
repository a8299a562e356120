"""OpenAI's ``instructions`` ("Speak slowly and cheerfully.") read into a rate and an emotion.

A small, fixed vocabulary, not a language model: only what the instructions say plainly is acted
on, and everything else is reported as ignored, so a client never has to guess.

- **Clauses.** The text is split into clauses at ``. , ; : ! ?`` and line breaks, and at the
  words ``and``, ``but``, ``then``; each clause is read on its own.
- **Rate.** ``slow``/``slowly``/``slower``, ``leisurely``, ``unhurried``, ``relaxed pace``,
  ``take your time``, ``slow down`` → ×0.8; ``fast``/``faster``/``quickly``/``quick``/``rapidly``/``briskly``/
  ``hurried``, ``speed up`` → ×1.25; ``normal pace``/``normal speed`` → ×1. An intensifier just before
  (``very``, ``much``, ``really``, ``extremely``) makes it ×0.65 / ×1.5; a softener
  (``slightly``, ``a bit``, ``a little``, ``somewhat``) ×0.9 / ×1.1. Several rate words multiply;
  the product is kept within [:data:`MIN_FACTOR`, :data:`MAX_FACTOR`]. The caller multiplies it
  into the request's ``speed`` (and keeps that within the allowed range).
- **Emotion.** Plain words for the eight :data:`~voxgate.types.EMOTIONS` (``cheerful``/``happy``/
  ``upbeat`` → happy, ``angry``/``furious`` → angry, ``sad``/``sorrowful`` → sad,
  ``afraid``/``scared``/``nervous`` → afraid, ``disgusted`` → disgusted, ``melancholic``/``wistful``
  → melancholic, ``surprised``/``amazed`` → surprised, ``calm``/``soothing``/``gentle`` → calm,
  and their adverbs) become emotion weights: :data:`WEIGHT` each (:data:`STRONG_WEIGHT` after an
  intensifier, :data:`SOFT_WEIGHT` after a softener), scaled down together so that they sum to
  at most :data:`~voxgate.emotion.MAX_EMOTION_SUM`.
- **Negation.** A clause with a negation (``not``, ``no``, ``never``, ``don't`` and other
  ``n't``, ``without``, ``avoid``, ``less``, ``stop``, ``instead``) is ignored whole, never read
  as its opposite: "don't speak fast" does not slow the speech down, it is reported as not
  understood.
- **What is ignored.** Per clause, the words that are neither a rate or emotion word nor filler
  (``speak``, ``in``, ``a``, ``voice``, ``tone``, ...), or the whole clause when it is negated,
  lowercased, reduced to letters, digits, apostrophes and spaces and cut to
  :data:`MAX_IGNORED_CHARS`, become one ``instructions:<words>`` entry of ``X-Voxgate-Ignored``;
  at most :data:`MAX_IGNORED_ENTRIES` entries, and a plain ``instructions`` entry stands for the
  rest (and for a clause with nothing left after the cleaning, e.g. in a non-Latin script).

Linear time in the length of the text (one regex scan, a dict lookup per word and per two- or
three-word phrase); the OpenAI route caps the field at 4096 characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from voxgate.emotion import MAX_EMOTION_SUM, parse_emotion
from voxgate.types import Emotion

__all__ = [
    "MAX_FACTOR",
    "MAX_IGNORED_CHARS",
    "MAX_IGNORED_ENTRIES",
    "MIN_FACTOR",
    "SOFT_WEIGHT",
    "STRONG_WEIGHT",
    "WEIGHT",
    "Reading",
    "read_instructions",
]

MIN_FACTOR, MAX_FACTOR = 0.5, 2.0
"""Bounds of the rate factor read from the instructions (before the request's ``speed``)."""
WEIGHT, STRONG_WEIGHT, SOFT_WEIGHT = 0.6, 0.8, 0.3
"""The weight of an emotion word, after an intensifier, and after a softener."""
MAX_IGNORED_ENTRIES = 5
"""Most ``instructions:<words>`` entries listed; the rest are counted under ``instructions``."""
MAX_IGNORED_CHARS = 40
"""Longest ``<words>`` of an ``instructions:<words>`` entry."""

_SLOW, _FAST = ("slow", 0.8, 0.65, 0.9), ("fast", 1.25, 1.5, 1.1)
# word or phrase → (kind, normal, intensified, softened)
_RATE: dict[str, tuple[str, float, float, float]] = {
    **dict.fromkeys(
        (
            "slow",
            "slowly",
            "slower",
            "leisurely",
            "unhurried",
            "relaxed pace",
            "relaxed tempo",
            "slow pace",
            "take your time",
            "slow down",
        ),
        _SLOW,
    ),
    **dict.fromkeys(
        (
            "fast",
            "faster",
            "quick",
            "quickly",
            "quicker",
            "rapid",
            "rapidly",
            "brisk",
            "briskly",
            "hurried",
            "hurriedly",
            "fast pace",
            "quick pace",
            "brisk pace",
            "speed up",
        ),
        _FAST,
    ),
    **dict.fromkeys(
        ("normal pace", "normal speed", "normal rate", "moderate pace"), ("normal", 1.0, 1.0, 1.0)
    ),
}
_EMOTION_WORDS = {
    "happy": "happy happily cheerful cheerfully joyful joyfully joyous upbeat glad gladly delighted "
    "excited excitedly enthusiastic enthusiastically",
    "angry": "angry angrily furious furiously irritated annoyed irate",
    "sad": "sad sadly sorrowful sorrowfully unhappy gloomy mournful mournfully tearful",
    "afraid": "afraid scared fearful fearfully frightened terrified nervous nervously anxious anxiously",
    "disgusted": "disgusted disgust revolted repulsed",
    "melancholic": "melancholic melancholy wistful wistfully nostalgic",
    "surprised": "surprised surprise astonished amazed shocked",
    "calm": "calm calmly soothing soothingly serene serenely peaceful gentle gently relaxed tranquil",
}
_EMOTION = {word: name for name, words in _EMOTION_WORDS.items() for word in words.split()}
_INTENSIFIERS = {"very", "much", "really", "extremely", "super", "quite"}
_SOFTENERS = {"slightly", "somewhat", "a bit", "a little", "a touch", "little", "bit"}
_NEGATIONS = {"not", "no", "never", "without", "avoid", "less", "neither", "nor", "nothing", "cannot", "dont"}
_NEGATIONS |= {"doesnt", "didnt", "shouldnt", "wont", "cant", "isnt", "arent", "stop", "instead"}
_FILLER_WORDS = (
    "speak speaking spoken talk talking say saying read reading sound sounding voice tone tones "
    "style manner way delivery deliver it this that the a an in with at of to as like please you your "
    "be is are sounds should use using pace pacing speed rate tempo emotion mood feel feeling "
    "sort kind overall more"
)
_FILLER = frozenset(_FILLER_WORDS.split())
_CLAUSE = re.compile(r"[.,;:!?\n\r]+|\b(?:and|but|then)\b", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_MAX_PHRASE = 3


@dataclass(frozen=True, slots=True)
class Reading:
    """What instructions asked for.

    Attributes:
        rate: factor for the request's ``speed`` (1.0 = no rate words).
        emotion: the emotion asked for, checked (``None`` = no emotion words).
        ignored: ``X-Voxgate-Ignored`` entries for what was not acted on (see the module doc).
    """

    rate: float = 1.0
    emotion: Emotion | None = None
    ignored: tuple[str, ...] = ()


def _negated(words: list[str]) -> bool:
    return any(w in _NEGATIONS or w.endswith("n't") for w in words)


def _lookup(words: list[str], i: int) -> tuple[str, int] | None:
    """The longest known phrase (rate, emotion or softener) starting at ``words[i]`` and its length."""
    for n in range(min(_MAX_PHRASE, len(words) - i), 0, -1):
        phrase = " ".join(words[i : i + n])
        if phrase in _RATE or phrase in _EMOTION or phrase in _SOFTENERS or phrase in _INTENSIFIERS:
            return phrase, n
    return None


class _Reader:
    """Accumulates one text's rate, emotion weights and ignored entries, clause by clause."""

    def __init__(self) -> None:
        self.rate = 1.0
        self.weights: dict[str, float] = {}
        self.ignored: list[str] = []
        self.overflow = False

    def clause(self, text: str) -> None:
        words = _WORD.findall(text.lower().replace("\u2019", "'"))
        if not words:
            if text.strip():  # something, but no Latin words: not understood
                self.overflow = True
            return
        if _negated(words):
            self._ignore(words)
            return
        left: list[str] = []
        level = "normal"
        i = 0
        while i < len(words):
            found = _lookup(words, i)
            if found is None:
                if words[i] not in _FILLER:  # filler keeps a pending "very": "a little more slowly"
                    left.append(words[i])
                    level = "normal"
                i += 1
                continue
            phrase, n = found
            i += n
            if phrase in _INTENSIFIERS:
                level = "strong"
            elif phrase in _SOFTENERS:
                level = "soft"
            elif phrase in _RATE:
                _, normal, strong, soft = _RATE[phrase]
                self.rate *= {"normal": normal, "strong": strong, "soft": soft}[level]
                level = "normal"
            else:
                weight = {"normal": WEIGHT, "strong": STRONG_WEIGHT, "soft": SOFT_WEIGHT}[level]
                name = _EMOTION[phrase]
                self.weights[name] = max(weight, self.weights.get(name, 0.0))
                level = "normal"
        if left:
            self._ignore(left)

    def _ignore(self, words: list[str]) -> None:
        if len(self.ignored) >= MAX_IGNORED_ENTRIES:
            self.overflow = True
            return
        self.ignored.append("instructions:" + " ".join(words)[:MAX_IGNORED_CHARS].strip())

    def reading(self) -> Reading:
        emotion = None
        if self.weights:
            total = sum(self.weights.values())
            scale = min(1.0, MAX_EMOTION_SUM / total)
            emotion = parse_emotion({k: round(v * scale, 3) for k, v in self.weights.items()})
        ignored = (*self.ignored, "instructions") if self.overflow else tuple(self.ignored)
        return Reading(min(MAX_FACTOR, max(MIN_FACTOR, self.rate)), emotion, ignored)


def read_instructions(text: str | None) -> Reading:
    """Read OpenAI ``instructions`` into a rate factor, an emotion and the ignored entries.

    Args:
        text: the instructions; ``None`` or blank reads as nothing asked.

    Returns:
        The :class:`Reading`; an empty one for no instructions.
    """
    if text is None or not text.strip():
        return Reading()
    reader = _Reader()
    start = 0
    for separator in _CLAUSE.finditer(text):
        reader.clause(text[start : separator.start()])
        start = separator.end()
    reader.clause(text[start:])
    return reader.reading()
