"""Normalisation for any text: split into language runs, normalise each run in its language.

English, Chinese and Japanese runs are normalised (numbers become words, see
:mod:`voxgate.text.normalize_en`, :mod:`voxgate.text.normalize_zh`,
:mod:`voxgate.text.normalize_ja`); runs in other languages are returned unchanged, and the
engine that reads them (espeak) reads digits itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voxgate.text.language import LanguageRun, split_language_runs
from voxgate.text.normalize_en import normalize_en
from voxgate.text.normalize_ja import normalize_ja
from voxgate.text.normalize_zh import ZH_UNIT_RE, normalize_zh
from voxgate.types import LanguageCode

NORMALIZERS: dict[LanguageCode, Callable[[str], str]] = {
    "en": normalize_en,
    "zh": normalize_zh,
    "ja": normalize_ja,
}
"""Language → normaliser. Languages missing here are left unchanged."""

_CJK = ("zh", "ja")
_NUMBER_TAIL_RE = re.compile(r"[0-9]\s?$")
_DEGREE_TAIL_RE = re.compile(r"[0-9]\s?°\s?$")
_DEGREE_UNIT_RE = re.compile(r"[CF](?![A-Za-z])")


def normalize_run(text: str, language: LanguageCode) -> str:
    """Normalise text known to be in one language.

    Args:
        text: cleaned text.
        language: its language code.

    Returns:
        The normalised text, or ``text`` unchanged for a language without a normaliser.
    """
    normalizer = NORMALIZERS.get(language)
    return normalizer(text) if normalizer else text


def _unit_length(previous: str, following: str) -> int:
    """Length of the Latin unit at the start of ``following`` that belongs to a number ending ``previous``."""
    if _DEGREE_TAIL_RE.search(previous):
        match = _DEGREE_UNIT_RE.match(following)
    elif _NUMBER_TAIL_RE.search(previous):
        match = ZH_UNIT_RE.match(following)
    else:
        match = None
    return match.end() if match else 0


def _absorb_units(runs: list[LanguageRun]) -> list[LanguageRun]:
    """Move Latin unit symbols that follow a number in a CJK run into that run (``重10kg`` stays Chinese)."""
    merged: list[LanguageRun] = []
    for run in runs:
        previous = merged[-1] if merged else None
        if previous is not None and previous.language in _CJK and run.language == "en":
            length = _unit_length(previous.text, run.text)
            if length:
                rest = run.text[length:]
                absorbed = previous.text + run.text[:length]
                if rest.strip() and any(c.isalpha() for c in rest):
                    merged[-1] = LanguageRun(absorbed, previous.language)
                    merged.append(LanguageRun(rest, run.language))
                else:
                    merged[-1] = LanguageRun(absorbed + rest, previous.language)
                continue
        merged.append(run)
    return merged


def normalize(text: str, *, default_language: LanguageCode = "en") -> str:
    """Normalise a text that may mix languages, each run in its own language.

    Args:
        text: cleaned text (see :func:`voxgate.text.clean.clean_text`).
        default_language: the language of a text with no letters at all (``"123"``).

    Returns:
        The normalised text: ``"我花了$3.50买了2个苹果"`` → ``"我花了三点五美元买了两个苹果"``,
        ``"重10kg"`` → ``"重十千克"``; no ASCII digits remain in en, zh or ja runs.
    """
    runs = _absorb_units(split_language_runs(text, default_language=default_language))
    return "".join(normalize_run(run.text, run.language) for run in runs)
