"""Words for timestamps: the user's words, the spoken (normalised) words, and which is which.

Word timestamps name the words the user wrote (``$3.50``, ``Dr.``), while engines speak the
normalised text (``three dollars and fifty cents``, ``Doctor``). :func:`align` tells, for each
spoken word, which original word it reads; a word's time is then the span of its spoken words.

Words are whitespace-separated tokens with at least one letter, digit or symbol; a Han or kana
character is a word of its own (Chinese and Japanese are timed per character: the normalised
text has no word boundaries, and per character is what a reading aid highlights).

The alignment is linear in the text: words that read the same on both sides (compared without
case and punctuation) are anchors, and the spoken words between two anchors belong to the
original words between them. The next anchor is looked for within a bounded window, so a
rewritten stretch (a number read out) costs at most ``window²`` comparisons.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from voxgate.text.en_tables import ENDINGS, PHRASES, STREETS, TITLES

__all__ = ["Word", "align", "pair_words", "spoken_words", "user_words", "word_key"]

_WINDOW = 24
"""How far ahead (in words, each side) the next anchor is looked for."""
_ABBREVIATIONS = frozenset(
    k.rstrip(".").casefold() for k in (*TITLES, *STREETS, *ENDINGS, *PHRASES)
) | frozenset({"no", "nos", "vol", "fig", "mt", "ft", "co", "corp", "dept", "gen", "gov", "sen", "rep"})
_LEADING = "\"'([{«“‘¿¡<‹「『（【"
_TRAILING = ",;:!?)]}»”’\"'…>›」』）】、，。！？；："


@dataclass(frozen=True, slots=True)
class Word:
    """A word of a text and where it is.

    Attributes:
        text: the word as written (surrounding punctuation removed, an abbreviation's period kept).
        start: index of its first character in the text.
        end: index after its last character.
    """

    text: str
    start: int
    end: int


def _wide(char: str) -> bool:
    """A Han ideograph or kana: a word of its own."""
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x3134F
    )


def _has_content(token: str) -> bool:
    return any(unicodedata.category(c)[0] in "LNS" for c in token)


def _tokens(text: str) -> list[tuple[int, int]]:
    """Spans of whitespace-separated tokens, each Han/kana character split off on its own."""
    spans: list[tuple[int, int]] = []
    start = -1
    for i, char in enumerate(text):
        if char.isspace() or _wide(char):
            if start >= 0:
                spans.append((start, i))
                start = -1
            if _wide(char):
                spans.append((i, i + 1))
        elif start < 0:
            start = i
    if start >= 0:
        spans.append((start, len(text)))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop surrounding punctuation; keep the period of an abbreviation (``Dr.``, ``U.S.``)."""
    while start < end and text[start] in _LEADING:
        start += 1
    while start < end and (text[end - 1] in _TRAILING or text[end - 1] == "."):
        if text[end - 1] == ".":
            core = text[start : end - 1]
            if ("." in core and core.rpartition(".")[2].isalpha()) or core.casefold() in _ABBREVIATIONS:
                break  # "U.S.", "e.g.", "Dr."; not "$3.50." at a sentence's end
        end -= 1
    return start, end


def user_words(text: str) -> list[Word]:
    """The words of ``text`` as its writer sees them (for the ``words`` of a timestamped answer).

    Example:
        >>> [w.text for w in user_words("Dr. Smith paid $3.50, (at last). It was $3.50.")]
        ['Dr.', 'Smith', 'paid', '$3.50', 'at', 'last', 'It', 'was', '$3.50']
    """
    words: list[Word] = []
    for start, end in _tokens(text):
        if not _has_content(text[start:end]):
            continue
        a, b = _trim(text, start, end)
        if a < b:
            words.append(Word(text[a:b], a, b))
    return words


def spoken_words(text: str) -> list[tuple[int, int]]:
    """Spans of the words an engine speaks in (normalised) ``text``; punctuation alone is none."""
    return [(a, b) for a, b in _tokens(text) if _has_content(text[a:b])]


def word_key(word: str) -> str:
    """What two words must share to be the same word: letters and digits, case folded."""
    return "".join(c for c in word.casefold() if c.isalnum())


def align(original: Sequence[str], spoken: Sequence[str], window: int = _WINDOW) -> list[int]:
    """For each spoken word, the index of the original word it reads (monotonic, linear time).

    Args:
        original: the user's words in order.
        spoken: the normalised words in order.
        window: how far ahead the next anchor (a word equal on both sides) is looked for.

    Returns:
        One index into ``original`` per spoken word, never decreasing; ``[]`` when
        ``original`` is empty. Every original word that has spoken words gets them in order;
        words the normaliser dropped get none.
    """
    if not original:
        return []
    keys_o = [word_key(w) for w in original]
    keys_s = [word_key(w) for w in spoken]
    owners: list[int] = []
    i = j = 0
    while j < len(keys_s):
        if i >= len(keys_o):  # spoken words past the last original word belong to it
            owners.extend([len(keys_o) - 1] * (len(keys_s) - j))
            break
        if keys_o[i] and keys_o[i] == keys_s[j]:
            owners.append(i)
            i += 1
            j += 1
            continue
        anchor = _next_anchor(keys_o, keys_s, i, j, window)
        if anchor is None:  # a long rewritten stretch: share out one window of it by position
            oi, sj = min(len(keys_o), i + window), min(len(keys_s), j + window)
            if oi == len(keys_o) or sj == len(keys_s):
                oi, sj = len(keys_o), len(keys_s)
        else:
            oi, sj = anchor
        if oi > i:
            _spread(owners, i, oi, sj - j)
        else:  # words inserted before an unchanged word: they read the word before it
            owners.extend([max(0, i - 1)] * (sj - j))
        i, j = oi, sj
    return owners


def _next_anchor(keys_o: list[str], keys_s: list[str], i: int, j: int, window: int) -> tuple[int, int] | None:
    """The nearest pair of equal, non-empty keys ahead of (i, j), fewest steps first."""
    for total in range(1, 2 * window + 1):
        for di in range(max(0, total - window), min(window, total) + 1):
            a, b = i + di, j + total - di
            if a < len(keys_o) and b < len(keys_s) and keys_o[a] and keys_o[a] == keys_s[b]:
                return a, b
    return None


def _spread(owners: list[int], first: int, stop: int, count: int) -> None:
    """Give ``count`` spoken words to original words ``first..stop-1``, in order, evenly."""
    span = stop - first
    for k in range(count):
        owners.append(first + min(span - 1, k * span // max(count, 1)))


_JOINS = ((1, 1), (1, 2), (1, 3), (2, 1), (3, 1))
"""How many engine words may pair with how many text words: one to one, or some run together."""
_JOIN_COST = 0.2
"""Cost of pairing anything but one with one (so equal counts pair one to one)."""
_EDGE_COST = 0.6
"""Cost of a pair whose first (or last) symbols differ."""


def pair_words(engine: Sequence[str], text: Sequence[str]) -> list[tuple[int, int, int, int]] | None:
    """Pair an engine's words with the text's, in order, where the engine ran some together
    (espeak's phonemes for "for the" are one word, ``fɚðə``) or split one.

    Both sides are spelled in the same symbols (e.g. the engine's phonemes for the sentence, cut
    at its word breaks, and the phonemes of each text word on its own). A dynamic programme over
    both sequences (each step joins at most three words on one side); a pair costs the squared log
    ratio of its lengths plus :data:`_EDGE_COST` for each differing first or last symbol, so
    O(len(engine) × len(text)): callers pass one sentence or chunk at a time.

    Returns:
        ``(first engine word, end engine word, first text word, end text word)`` per pair, covering
        both sequences; ``None`` if they cannot be paired (one is empty, or too different in count).
    """
    n, m = len(engine), len(text)
    if n == 0 or m == 0 or n > 3 * m or m > 3 * n or n * m > 40_000:
        return None
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int]]] = [[(0, 0)] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            here = cost[i][j]
            if here == inf:
                continue
            for di, dj in _JOINS:
                if i + di > n or j + dj > m:
                    continue
                left = "".join(engine[i : i + di])
                right = "".join(text[j : j + dj])
                ratio = math.log((len(left) + 1.0) / (len(right) + 1.0))
                step = here + ratio * ratio + (0.0 if (di, dj) == (1, 1) else _JOIN_COST)
                step += _EDGE_COST * ((left[:1] != right[:1]) + (left[-1:] != right[-1:]))
                if step < cost[i + di][j + dj]:
                    cost[i + di][j + dj] = step
                    back[i + di][j + dj] = (di, dj)
    if cost[n][m] == inf:
        return None
    pairs = []
    i, j = n, m
    while i or j:
        di, dj = back[i][j]
        pairs.append((i - di, i, j - dj, j))
        i, j = i - di, j - dj
    return pairs[::-1]
