"""Minimal Japanese normalisation: numbers become kanji numerals so no engine sees digits.

Japanese readers (pyopenjtalk) read kanji numerals with the right counters, so this only
writes numbers the Japanese way (``2026`` → ``二千二十六``, no 零 inside, no 一 before 十/百/千),
clock times with 時/分 and percentages with パーセント. It is deliberately small: a full
Japanese front end is out of scope.
"""

from __future__ import annotations

import re

from voxgate.text.patterns import NUM, reads_as_digits, split_number

_DIGITS = "〇一二三四五六七八九"
_SMALL = ((1000, "千"), (100, "百"), (10, "十"))
_LARGE = ("", "万", "億", "兆", "京")
_MAX_DIGITS = 20
_SIGN = r"(?:(?<![0-9A-Za-z.])(?P<sign>[-−]))?"


def ja_integer(value: int) -> str:
    """Write a non-negative integer in kanji (``2026`` → ``"二千二十六"``, ``0`` → ``"零"``).

    Args:
        value: the integer; from 10**20 on it is written digit by digit.

    Returns:
        The kanji numeral.
    """
    if value == 0:
        return "零"
    if value >= 10**_MAX_DIGITS:
        return "".join(_DIGITS[int(c)] for c in str(value))
    groups = []
    for name in _LARGE:
        value, group = divmod(value, 10_000)
        if group:
            groups.append(_group(group) + name)
        if not value:
            break
    return "".join(reversed(groups))


def _group(value: int) -> str:
    words = ""
    for size, name in _SMALL:
        count, value = divmod(value, size)
        if count:
            words += ("" if count == 1 else _DIGITS[count]) + name
    return words + (_DIGITS[value] if value else "")


def _number(m: re.Match[str]) -> str:
    integer, fraction = split_number(m["num"])
    if fraction:
        words = f"{ja_integer(int(integer or '0'))}点{''.join(_DIGITS[int(c)] for c in fraction)}"
    elif reads_as_digits(integer, grouped="," in m["num"]) or len(integer) > _MAX_DIGITS:
        words = "".join(_DIGITS[int(c)] for c in integer)
    else:
        words = ja_integer(int(integer))
    return ("マイナス" if m["sign"] else "") + words


def _clock(m: re.Match[str]) -> str:
    minute = int(m["min"])
    return f"{ja_integer(int(m['h']))}時" + (f"{ja_integer(minute)}分" if minute else "")


_CLOCK = re.compile(r"(?<![0-9.,:])(?P<h>[0-9]{1,2}):(?P<min>[0-5][0-9])(?![0-9:])")
_PERCENT = re.compile(rf"{_SIGN}(?<![0-9])(?P<num>{NUM})\s?%")
"""Starts at the first digit of a number: from inside a digit run it would re-read the run each time."""
_NUMBER = re.compile(rf"{_SIGN}(?P<num>{NUM})")


def normalize_ja(text: str) -> str:
    """Rewrite Japanese text with kanji numerals instead of digits.

    Args:
        text: cleaned Japanese text.

    Returns:
        The text without ASCII digits, e.g. ``"2026年に15%"`` → ``"二千二十六年に十五パーセント"``.
    """
    text = _CLOCK.sub(_clock, text)
    text = _PERCENT.sub(lambda m: _number(m) + "パーセント", text)
    return _NUMBER.sub(_number, text)
