"""SSML ``say-as``: read a piece of text the way ``interpret-as`` says, in English or Chinese.

Each reader returns words (no digits left) that the rest of the front end passes through
unchanged. A content the reader cannot parse is returned unchanged, and the ordinary
normaliser reads it as it would anywhere else; so a ``say-as`` never makes a request fail.

Example:
    >>> say_as("cardinal", "1234", "en")
    'one thousand two hundred thirty-four'
    >>> say_as("date", "2026-03-05", "en", date_format="ymd")
    'March fifth, twenty twenty-six'
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voxgate.text.en_numbers import DIGIT_WORDS, cardinal, digits, number, ordinal, year
from voxgate.text.en_tables import MONTHS
from voxgate.text.normalize_en import normalize_en
from voxgate.text.normalize_zh import ZH_DIGITS, normalize_zh, zh_digits, zh_integer, zh_number

__all__ = ["INTERPRETATIONS", "say_as"]

_NUMBER_RE = re.compile(r"^\s*([-−+]?)\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*$")
_INT_RE = re.compile(r"[0-9]+")
_FRACTION_RE = re.compile(r"^\s*([0-9]+)\s*/\s*([0-9]+)\s*$")
_DATE_PARTS = re.compile(r"[0-9]+")
_MAX_DIGITS = 15


def _en_cardinal(text: str) -> str:
    m = _NUMBER_RE.match(text)
    if m is None or len(m.group(2).replace(",", "").split(".")[0]) > _MAX_DIGITS:
        return text
    words = number(m.group(2)) if "." in m.group(2) else cardinal(m.group(2))
    return f"minus {words}" if m.group(1) in "-−" and m.group(1) else words


def _zh_cardinal(text: str) -> str:
    m = _NUMBER_RE.match(text)
    if m is None:
        return text
    integer, _, fraction = m.group(2).replace(",", "").partition(".")
    words = f"{zh_integer(integer)}点{zh_digits(fraction)}" if fraction else zh_integer(integer)
    return f"负{words}" if m.group(1) in "-−" and m.group(1) else words


def _en_ordinal(text: str) -> str:
    m = re.fullmatch(r"\s*([0-9][0-9,]*)(?:st|nd|rd|th)?\s*", text)
    if m is None or len(m.group(1)) > _MAX_DIGITS:
        return text
    return ordinal(int(m.group(1).replace(",", "")))


def _zh_ordinal(text: str) -> str:
    m = re.fullmatch(r"\s*第?\s*([0-9][0-9,]*)\s*", text)
    return f"第{zh_integer(m.group(1).replace(',', ''))}" if m else text


def _en_characters(text: str) -> str:
    return " ".join(
        DIGIT_WORDS[int(c)] if c.isascii() and c.isdigit() else c for c in text if not c.isspace()
    )


def _zh_characters(text: str) -> str:
    return " ".join(ZH_DIGITS[int(c)] if c.isascii() and c.isdigit() else c for c in text if not c.isspace())


def _en_digits(text: str) -> str:
    found = _INT_RE.findall(text)
    return " ".join(digits(d) for d in found) if found else text


def _zh_digits(text: str) -> str:
    found = _INT_RE.findall(text)
    return "".join(zh_digits(d) for d in found) if found else text


def _en_telephone(text: str) -> str:
    """Digit by digit, a pause (comma) between the groups the number is written in."""
    groups = _INT_RE.findall(text)
    if not groups:
        return text
    spoken = ", ".join(digits(g) for g in groups)
    return f"plus {spoken}" if text.strip().startswith("+") else spoken


def _zh_telephone(text: str) -> str:
    """Digit by digit, 1 read 幺 as in Chinese phone numbers; a pause between groups."""
    groups = _INT_RE.findall(text)
    if not groups:
        return text
    spoken = "，".join(zh_digits(g).replace("一", "幺") for g in groups)
    return f"加{spoken}" if text.strip().startswith("+") else spoken


def _date_parts(text: str, fmt: str | None) -> dict[str, int] | None:
    """The year, month and day of ``text`` in ``fmt`` (``mdy``, ``dmy``, ``ymd``, ``md``, ``y``...)."""
    parts = [int(p) for p in _DATE_PARTS.findall(text)]
    if not parts:
        return None
    if fmt is None:
        fmt = "ymd" if len(parts) == 3 and parts[0] > 31 else {3: "mdy", 2: "md", 1: "y"}.get(len(parts), "")
    fmt = fmt.lower()
    if len(fmt) != len(parts) or set(fmt) - set("ymd") or len(set(fmt)) != len(fmt):
        return None
    found = dict(zip(fmt, parts, strict=True))
    if not 1 <= found.get("m", 1) <= 12 or not 1 <= found.get("d", 1) <= 31 or found.get("y", 0) > 9999:
        return None
    return found


def _en_date(text: str, fmt: str | None) -> str:
    found = _date_parts(text, fmt)
    if found is None:
        return text
    words = []
    if "m" in found:
        words.append(MONTHS[found["m"] - 1])
    if "d" in found:
        words.append(ordinal(found["d"]) if "m" in found else f"the {ordinal(found['d'])}")
    spoken = " ".join(words)
    if "y" in found:
        spoken = f"{spoken}, {year(found['y'])}" if spoken else year(found["y"])
    return spoken


def _zh_date(text: str, fmt: str | None) -> str:
    """A date as said aloud: 二零二四年三月十五号 (the spoken 号; 日 is the written day, and kokoro's
    十五日 was heard as 十日 by whisper on one voice of three, 十五号 on none of three)."""
    found = _date_parts(text, fmt)
    if found is None:
        return text
    spoken = f"{zh_digits(str(found['y']))}年" if "y" in found else ""
    if "m" in found:
        spoken += f"{zh_integer(str(found['m']))}月"
    if "d" in found:
        spoken += f"{zh_integer(str(found['d']))}号"
    return spoken


def _en_fraction(text: str) -> str:
    m = _FRACTION_RE.match(text)
    if m is None or max(len(m.group(1)), len(m.group(2))) > _MAX_DIGITS:
        return text
    num, den = int(m.group(1)), int(m.group(2))
    if den == 0:
        return text
    name = {2: "half", 4: "quarter"}.get(den) or ("" if den == 1 else ordinal(den))
    if den == 1:
        return f"{cardinal(num)} over one"
    if num != 1:
        name = "halves" if den == 2 else name + "s"
    return f"{cardinal(num)} {name}"


def _zh_fraction(text: str) -> str:
    m = _FRACTION_RE.match(text)
    if m is None:
        return text
    return f"{zh_integer(m.group(2))}分之{zh_number(m.group(1))}"


_Reader = Callable[[str], str]
_READERS: dict[str, tuple[_Reader, _Reader]] = {
    "cardinal": (_en_cardinal, _zh_cardinal),
    "number": (_en_cardinal, _zh_cardinal),
    "ordinal": (_en_ordinal, _zh_ordinal),
    "characters": (_en_characters, _zh_characters),
    "spell-out": (_en_characters, _zh_characters),
    "digits": (_en_digits, _zh_digits),
    "telephone": (_en_telephone, _zh_telephone),
    "time": (normalize_en, normalize_zh),
    "currency": (normalize_en, normalize_zh),
    "fraction": (_en_fraction, _zh_fraction),
}

INTERPRETATIONS = frozenset({*_READERS, "date"})
"""The ``interpret-as`` values voxgate reads; others are ignored (the text is read as usual)."""


def say_as(interpret_as: str, text: str, language: str, *, date_format: str | None = None) -> str:
    """Read ``text`` as ``interpret_as`` says.

    Args:
        interpret_as: one of :data:`INTERPRETATIONS`.
        text: the element's text content.
        language: ``zh`` reads in Chinese; any other language in English.
        date_format: for ``date``: the order of its parts (``mdy``, ``dmy``, ``ymd``, ``md``,
            ``dm``, ``ym``, ``my``, ``y``, ``m``, ``d``); default guessed from the parts.

    Returns:
        The words to speak; ``text`` unchanged when it does not parse as ``interpret_as``.

    Raises:
        KeyError: ``interpret_as`` is not one of :data:`INTERPRETATIONS`.
    """
    chinese = language == "zh"
    if interpret_as == "date":
        return _zh_date(text, date_format) if chinese else _en_date(text, date_format)
    english_reader, chinese_reader = _READERS[interpret_as]
    return chinese_reader(text) if chinese else english_reader(text)
