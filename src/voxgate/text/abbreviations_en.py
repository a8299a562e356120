"""English abbreviations: titles, street types, Latin phrases, ``No.``/``#`` and ``&``.

Titles before a capitalised name are read as titles (``Dr. Smith`` → ``Doctor Smith``); ``St.``
and ``Dr.`` after a capitalised name that does not open a sentence are street types
(``Main St.`` → ``Main Street``). A period that also ends a sentence is kept.
"""

from __future__ import annotations

import re

from voxgate.text.en_tables import ENDINGS, PHRASES, STREETS, TITLES
from voxgate.text.patterns import alternation

_SENTENCE_END_RE = re.compile(r"\s*$|\s+[A-Z]")
_CAPITAL_NEXT_RE = re.compile(r"\s+[A-Z]")
_TEXT_END_RE = re.compile(r"\s*$")


def ends_sentence(text: str, end: int) -> bool:
    """Whether a period at ``end`` would end a sentence: the text ends or a capital follows.

    Args:
        text: the whole text.
        end: the index right after the period.

    Returns:
        True if only whitespace follows, or whitespace and then a capital letter.
    """
    return _SENTENCE_END_RE.match(text, end) is not None


def _after_name(text: str, start: int) -> bool:
    """Whether a capitalised word that does not open a sentence comes right before ``start``."""
    window = text[max(0, start - 80) : start]
    match = re.search(r"([A-Za-z]+)\s+$", window)
    if match is None or not match.group(1)[0].isupper():
        return False
    before = window[: match.start(1)].rstrip()
    return bool(before) and before[-1] not in ".!?"


_TITLE_RE = re.compile(
    rf"\b(?P<abbr>{alternation(TITLES.keys() | STREETS.keys())})(?P<dot>\.)?(?=[\s,;:!?)]|$)"
)
_DOTLESS_TITLES = frozenset({"Mr", "Mrs", "Ms", "Dr", "St"})
_ONLY_TITLES = frozenset({"Mr", "Mrs", "Ms"})
"""With a period these mean nothing else, whatever follows (``Mr. and Mrs. Smith``)."""
_PHRASE_RE = re.compile(rf"(?<![\w.])(?P<abbr>{alternation(PHRASES)})(?=[\s,;:)]|$)", re.IGNORECASE)
_ENDING_RE = re.compile(rf"(?<![\w.])(?P<abbr>{alternation(ENDINGS)})", re.IGNORECASE)
_NUMBER_SIGN_RE = re.compile(r"(?:\b[Nn]o\.\s?|#)(?=[0-9])")
_AMPERSAND_RE = re.compile(r"(?<!\s)\s*+&\s*+")
"""Starts only where a whitespace run starts: from inside a run it would re-read the run each time."""


def _title(match: re.Match[str]) -> str:
    abbr, dot, text = match["abbr"], match["dot"] or "", match.string
    next_cap = _CAPITAL_NEXT_RE.match(text, match.end()) is not None
    after_name = _after_name(text, match.start())
    if abbr == "St":
        street = after_name or not next_cap
    elif abbr == "Dr":
        street = after_name and not next_cap
    else:
        street = abbr in STREETS
    if street:
        return STREETS[abbr] + ("." if dot and ends_sentence(text, match.end()) else "")
    if next_cap and (dot or abbr in _DOTLESS_TITLES):
        return TITLES[abbr]
    if dot and abbr in _ONLY_TITLES and not _TEXT_END_RE.match(text, match.end()):
        return TITLES[abbr]
    return TITLES[abbr] if abbr == "Dr" and dot else match.group(0)


def _phrase(match: re.Match[str]) -> str:
    abbr = match["abbr"]
    words = PHRASES[abbr.lower()]
    if abbr[0].isupper():
        words = words[0].upper() + words[1:]
    return words + ("." if abbr.endswith(".") and _TEXT_END_RE.match(match.string, match.end()) else "")


def _ending(match: re.Match[str]) -> str:
    key = next(k for k in ENDINGS if k.lower() == match["abbr"].lower())
    return ENDINGS[key] + ("." if ends_sentence(match.string, match.end()) else "")


def expand_abbreviations(text: str) -> str:
    """Expand common English abbreviations into the words a reader says.

    Args:
        text: English text.

    Returns:
        The text with titles, street types, Latin phrases, ``No. 5``/``#5`` and ``&`` expanded.
    """
    text = _TITLE_RE.sub(_title, text)
    text = _PHRASE_RE.sub(_phrase, text)
    text = _ENDING_RE.sub(_ending, text)
    text = _NUMBER_SIGN_RE.sub("number ", text)
    return _AMPERSAND_RE.sub(" and ", text)
