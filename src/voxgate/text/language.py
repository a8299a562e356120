"""Language runs: which stretches of a text are Chinese, Japanese, English, ...

Each letter is classified by its script: Han ideographs are Chinese unless the CJK run they
belong to contains kana (then Japanese), kana is Japanese, Hangul Korean, Latin letters English,
and a few other scripts map to their main language. Digits, punctuation, symbols and whitespace
have no language of their own and attach to the surrounding run.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import Counter
from dataclasses import dataclass

from voxgate.types import LanguageCode

_HAN, _KANA = "han", "kana"
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x005A, "en"),
    (0x0061, 0x007A, "en"),
    (0x00C0, 0x024F, "en"),
    (0x0370, 0x03FF, "el"),
    (0x0400, 0x04FF, "ru"),
    (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0E00, 0x0E7F, "th"),
    (0x1100, 0x11FF, "ko"),
    (0x1E00, 0x1EFF, "en"),
    (0x3040, 0x30FF, _KANA),
    (0x31F0, 0x31FF, _KANA),
    (0x3400, 0x4DBF, _HAN),
    (0x4E00, 0x9FFF, _HAN),
    (0xAC00, 0xD7AF, "ko"),
    (0xF900, 0xFAFF, _HAN),
    (0xFF66, 0xFF9F, _KANA),
    (0x20000, 0x3134F, _HAN),
)
_STARTS = tuple(low for low, _, _ in _SCRIPTS)
_ASCII = tuple("en" if chr(c).isalpha() else None for c in range(128))
_UNSPACED = frozenset({"zh", "ja", "th"})
_WORD_RE = re.compile(r"[^\W\d_]+")


@dataclass(slots=True)
class _Group:
    """Letters of one script family, ``text[start:end]``, while runs are being built."""

    start: int
    end: int
    family: str
    has_kana: bool


@dataclass(frozen=True, slots=True)
class LanguageRun:
    """A stretch of text in one language.

    Attributes:
        text: the characters of the run, exactly as they appear in the source (runs concatenate
            back to the whole text).
        language: ``zh``, ``ja``, ``en``, ``ko``, ... (see :mod:`voxgate.text.language`).
    """

    text: str
    language: LanguageCode


def script_of(char: str) -> str | None:
    """Classify one character by script.

    Args:
        char: a single character.

    Returns:
        ``"han"``, ``"kana"``, a language code such as ``"en"`` or ``"ko"``, or ``None`` for
        characters with no language (digits, punctuation, symbols, whitespace, other scripts).
    """
    code = ord(char)
    if code < 128:
        return _ASCII[code]
    index = bisect.bisect_right(_STARTS, code) - 1
    if index < 0 or code > _SCRIPTS[index][1] or not char.isalpha():
        return None
    return _SCRIPTS[index][2]


def split_language_runs(text: str, *, default_language: LanguageCode = "en") -> list[LanguageRun]:
    """Split text into runs of one language each.

    Neutral characters (digits, punctuation, whitespace) between two runs are shared out at the
    last whitespace: what comes before it stays with the previous run, what is glued to the next
    letters goes with the next run (``"I have 3个"`` → ``"I have "`` + ``"3个"``). Without
    whitespace they stay with the previous run (``"iPhone15打"`` → ``"iPhone15"`` + ``"打"``).

    Args:
        text: any text.
        default_language: the language of a text that has no letters at all.

    Returns:
        The runs in order; their texts concatenate to ``text``. Empty for an empty text.
    """
    if not text:
        return []
    # 1. Maximal groups of letters of one script family, CJK (Han + kana) counting as one family.
    groups: list[_Group] = []
    for index, char in enumerate(text):
        script = script_of(char)
        if script is None:
            continue
        family = "cjk" if script in (_HAN, _KANA) else script
        if groups and groups[-1].family == family:
            groups[-1].end = index + 1
            groups[-1].has_kana = groups[-1].has_kana or script == _KANA
        else:
            groups.append(_Group(index, index + 1, family, script == _KANA))
    if not groups:
        return [LanguageRun(text, default_language)]
    # 2. Cut the neutral gaps between groups at their last whitespace.
    cuts = [0]
    for previous, following in itertools.pairwise(groups):
        gap = text[previous.end : following.start]
        last_space = max((i for i, c in enumerate(gap) if c.isspace()), default=-1)
        cuts.append(previous.end + (last_space + 1 if last_space >= 0 else len(gap)))
    cuts.append(len(text))
    # 3. Name each group's language and merge neighbours that share it.
    runs: list[LanguageRun] = []
    for group, start, end in zip(groups, cuts, cuts[1:], strict=False):
        language = group.family if group.family != "cjk" else ("ja" if group.has_kana else "zh")
        if runs and runs[-1].language == language:
            runs[-1] = LanguageRun(runs[-1].text + text[start:end], language)
        else:
            runs.append(LanguageRun(text[start:end], language))
    return runs


def detect_language(text: str, *, default_language: LanguageCode = "en") -> LanguageCode:
    """Name the dominant language of a text.

    Weight is counted in words: a space-delimited word counts 1, a character of a script written
    without spaces (Chinese, Japanese, Thai) counts 1/2, so ``"我今天用iPhone打电话给Mary。"`` is
    Chinese and ``"I met 王小明 today"`` is English.

    Args:
        text: any text.
        default_language: returned when the text has no letters at all.

    Returns:
        The language with the most weight; on a tie, the one that appears first.
    """
    weights: Counter[str] = Counter()
    for run in split_language_runs(text, default_language=default_language):
        letters = sum(1 for c in run.text if script_of(c) is not None)
        if run.language in _UNSPACED:
            weights[run.language] += letters
        elif letters:
            weights[run.language] += 2 * len(_WORD_RE.findall(run.text))
    if not weights:
        return default_language
    return max(weights, key=lambda language: weights[language])
