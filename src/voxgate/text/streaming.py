"""Segment shaping for streaming: a short first segment so the first audio leaves sooner.

Time to first audio is the time the engine takes for the first segment. A long opening sentence
is cut so playback can start while the rest is synthesised: at its last clause boundary within
the limit; failing that, for languages written with spaces, between words (a short pause in
prosody for a first sound ~2x sooner on a slow engine); failing that, at its first clause
boundary within the language's default limit. Chinese and Japanese are never cut between
characters (a cut inside a word changes its reading).
"""

from __future__ import annotations

import re
from dataclasses import replace

from voxgate.text import PreparedText
from voxgate.text.language import split_language_runs
from voxgate.text.segment import fit

__all__ = [
    "DEFAULT_FIRST_SEGMENT_CHARS",
    "FIRST_SEGMENT_CHARS",
    "MIN_FIRST_SEGMENT_CHARS",
    "default_limit",
    "min_limit",
    "quick_start",
]

FIRST_SEGMENT_CHARS = {"zh": 12, "ja": 12}
"""Default first-segment limit by language (a CJK character is ~3-4x the speech of a Latin one)."""
DEFAULT_FIRST_SEGMENT_CHARS = 60
"""Default first-segment limit of the other languages."""
MIN_FIRST_SEGMENT_CHARS = {"zh": 4, "ja": 4}
"""Shortest limit a caller may ask for, by language (below it the first sound is a syllable or two)."""
_MIN_FIRST_SEGMENT_CHARS_DEFAULT = 16
_UNSPACED = frozenset({"zh", "ja"})
_MIN_HEAD_WORDS = 3
_MIN_TAIL_WORDS = 2
_CLAUSE_END = ",，、;；:："
_WORD = re.compile(r"\S+")


def default_limit(language: str) -> int:
    """The first-segment limit of ``language`` when the caller names none."""
    return FIRST_SEGMENT_CHARS.get(language, DEFAULT_FIRST_SEGMENT_CHARS)


def min_limit(language: str) -> int:
    """The shortest first-segment limit :func:`quick_start` honours for ``language``."""
    return MIN_FIRST_SEGMENT_CHARS.get(language, _MIN_FIRST_SEGMENT_CHARS_DEFAULT)


def quick_start(prepared: PreparedText, max_chars: int | None = None) -> PreparedText:
    """Split a long first segment in two (see the module docstring for where it is cut).

    Args:
        prepared: the prepared text.
        max_chars: the longest first segment wanted (e.g. what the engine speaks within the
            first-audio budget); default :func:`default_limit` of its language. Raised to
            :func:`min_limit` when lower.

    Returns:
        ``prepared`` unchanged, or with its first segment split in two.
    """
    first = prepared.segments[0]
    language = first.language
    limit = max(min_limit(language), max_chars if max_chars is not None else default_limit(language))
    if len(first.text) <= limit or first.phonemes is not None:  # phonemes are said whole
        return prepared
    head = _clause_head(first.text, limit)
    if head is None and language not in _UNSPACED:
        head = _word_head(first.text, limit)
    if head is None and limit < default_limit(language):
        head = _clause_head(first.text, default_limit(language))
    if head is None:
        return prepared
    tail = first.text[len(head) :].strip()
    segments = (  # both halves keep the first segment's voice and prosody (SSML); the pause stays in front
        replace(
            first,
            text=head,
            paragraph_end=False,
            runs=tuple(split_language_runs(head, default_language=language)),
        ),
        replace(
            first,
            text=tail,
            runs=tuple(split_language_runs(tail, default_language=language)),
            pause_before_s=None,
        ),
        *prepared.segments[1:],
    )
    marks = tuple((name, index + 1 if index >= 1 else index) for name, index in prepared.marks)
    return replace(prepared, segments=segments, marks=marks)


def _clause_head(text: str, limit: int) -> str | None:
    """The longest prefix of ``text`` within ``limit`` that ends a clause, if any."""
    pieces = fit(text, limit)
    head = pieces[0].strip()
    if len(pieces) < 2 or not head or head[-1] not in _CLAUSE_END or not text.startswith(head):
        return None
    return head if text[len(head) :].strip() else None


def _word_head(text: str, limit: int) -> str | None:
    """The longest prefix of whole words within ``limit``, leaving words enough on both sides."""
    ends = [m.end() for m in _WORD.finditer(text)]
    fitting = [end for end in ends if end <= limit]
    if len(fitting) < _MIN_HEAD_WORDS or len(ends) - len(fitting) < _MIN_TAIL_WORDS:
        return None
    return text[: fitting[-1]]
