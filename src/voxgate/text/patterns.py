"""Regular-expression fragments and small helpers shared by the language normalisers.

Only ASCII digits are matched (``[0-9]``, never ``\\d``): :func:`voxgate.text.clean.clean_text`
has already folded every other decimal digit to ASCII.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

INT = r"(?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)"
"""An integer, optionally with comma thousands separators (``1,234``)."""

NUM = rf"(?:{INT}(?:\.[0-9]+)?)"
"""An unsigned integer or decimal (``3.14``, ``1,234.5``)."""

SIGN = r"(?:(?<![\w.])(?P<sign>[-−]))?"
"""An optional minus sign, only where it cannot be a hyphen (not right after a letter or digit)."""

MAX_WORDED_DIGITS = 15
"""Integers longer than this are read digit by digit in every language."""


def split_number(num: str) -> tuple[str, str]:
    """Split an unsigned number into its integer digits and fraction digits.

    Args:
        num: a string matched by :data:`NUM`, e.g. ``"1,234.50"``.

    Returns:
        ``(integer_digits, fraction_digits)`` without separators, e.g. ``("1234", "50")``;
        the fraction is ``""`` for an integer.
    """
    integer, _, fraction = num.replace(",", "").partition(".")
    return integer, fraction


def reads_as_digits(digits: str, *, grouped: bool = False) -> bool:
    """Whether an integer written as ``digits`` is a code (phone, id) to read digit by digit.

    Codes are: a leading zero (``007``), more than :data:`MAX_WORDED_DIGITS` digits, or seven or
    more digits written without separators that do not end in ``000`` (``13812345678``, but not
    ``1000000``).

    Args:
        digits: ASCII digits only.
        grouped: the number was written with thousands separators (then it is a quantity).

    Returns:
        True to read digit by digit.
    """
    if len(digits) > MAX_WORDED_DIGITS:
        return True
    if grouped:
        return False
    if len(digits) > 1 and digits[0] == "0":
        return True
    return len(digits) >= 7 and not digits.endswith("000")


def strip_money_zeros(fraction: str) -> str:
    """Drop trailing zeros of a money amount's fraction (``"50"`` → ``"5"``, ``"00"`` → ``""``).

    Args:
        fraction: fraction digits.

    Returns:
        The fraction without trailing zeros.
    """
    return fraction.rstrip("0")


def alternation(words: Iterable[str]) -> str:
    """A regex alternation of literal words, longest first so that ``km/h`` wins over ``km``.

    Args:
        words: the literal words.

    Returns:
        The pattern text ``"km/h|km|m"`` (escaped).
    """
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def sub_padded(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str], text: str) -> str:
    """Like ``pattern.sub(replace, text)``, but keep words apart from adjacent letters or digits.

    ``iPhone15`` becomes ``iPhone fifteen`` rather than ``iPhonefifteen``.

    Args:
        pattern: the compiled pattern.
        replace: builds the replacement words for a match.
        text: the text to rewrite.

    Returns:
        The rewritten text.
    """

    def padded(match: re.Match[str]) -> str:
        words = replace(match)
        if words == match.group(0):
            return words
        start, end = match.span()
        if start > 0 and text[start - 1].isalnum() and words[:1].isalnum():
            words = " " + words
        if end < len(text) and text[end].isalnum() and words[-1:].isalnum():
            words += " "
        return words

    return pattern.sub(padded, text)
