"""English number words (American style: no "and", no commas), built on ``num2words``."""

from __future__ import annotations

from num2words import num2words

from voxgate.text.patterns import MAX_WORDED_DIGITS, reads_as_digits, split_number

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _tidy(words: str) -> str:
    """Turn num2words' British output into plain American words."""
    return words.replace(",", "").replace(" and ", " ").replace("oh-", "oh ")


def digits(text: str) -> str:
    """Read a string of ASCII digits one by one.

    Args:
        text: ASCII digits, e.g. ``"007"``.

    Returns:
        The digit names separated by spaces, e.g. ``"zero zero seven"``.
    """
    return " ".join(DIGIT_WORDS[int(c)] for c in text)


def cardinal(value: int | str) -> str:
    """Read a non-negative integer as a cardinal.

    Args:
        value: the integer, or its ASCII digits (separators allowed).

    Returns:
        Words such as ``"one thousand two hundred thirty-four"``; integers longer than
        15 digits are read digit by digit.
    """
    text = str(value).replace(",", "")
    if len(text.lstrip("0")) > MAX_WORDED_DIGITS:
        return digits(text)
    return _tidy(num2words(int(text)))


def ordinal(value: int) -> str:
    """Read a non-negative integer as an ordinal (``21`` → ``"twenty-first"``).

    Args:
        value: the integer.

    Returns:
        The ordinal words.
    """
    return _tidy(num2words(value, to="ordinal"))


def year(value: int) -> str:
    """Read an integer the way years are spoken.

    Args:
        value: the year, e.g. ``1999``.

    Returns:
        ``"nineteen ninety-nine"``, ``"twenty twenty-six"``, ``"two thousand five"``,
        ``"nineteen oh five"``; values outside 1000–2099 are read as cardinals.
    """
    if not 1000 <= value <= 2099:
        return cardinal(value)
    return _tidy(num2words(value, to="year"))


def two_digit_year(text: str) -> str:
    """Read a two-digit year (``"26"`` → ``"twenty-six"``, ``"05"`` → ``"oh five"``).

    Args:
        text: exactly two ASCII digits.

    Returns:
        The spoken year.
    """
    if text[0] == "0":
        return "oh " + DIGIT_WORDS[int(text[1])] if text != "00" else "oh oh"
    return cardinal(text)


def number(num: str, *, sign: str | None = None) -> str:
    """Read a number written as digits, choosing between a quantity and a code.

    Args:
        num: an unsigned number matched by ``patterns.NUM`` (``"1,234"``, ``"3.14"``, ``"007"``).
        sign: a minus sign that preceded it, if any.

    Returns:
        ``"one thousand two hundred thirty-four"``, ``"three point one four"``,
        ``"zero zero seven"``, with ``"minus "`` in front when ``sign`` is given.
    """
    integer, fraction = split_number(num)
    if fraction:
        words = f"{cardinal(integer or '0')} point {digits(fraction)}"
    elif reads_as_digits(integer, grouped="," in num):
        words = digits(integer)
    else:
        words = cardinal(integer)
    return f"minus {words}" if sign else words


def pluralize(words: str) -> str:
    """Make the last word of a number plural (``"nineteen ninety"`` → ``"nineteen nineties"``).

    Args:
        words: number words.

    Returns:
        The words with a plural last word; a leading ``"one "`` is dropped (``"hundreds"``).
    """
    words = words.removeprefix("one ")
    if words.endswith("y"):
        return words[:-1] + "ies"
    if words.endswith("x"):
        return words + "es"
    return words + "s"
