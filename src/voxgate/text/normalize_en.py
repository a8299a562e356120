"""English normalisation: numbers, dates, times, money, units and abbreviations become words.

The rules run in a fixed order, most specific first (dates before times before money before
plain numbers), so that each number is read by the rule that understands its context. After
:func:`normalize_en` the text holds no ASCII digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from voxgate.text.abbreviations_en import ends_sentence, expand_abbreviations
from voxgate.text.en_numbers import (
    DIGIT_WORDS,
    cardinal,
    digits,
    number,
    ordinal,
    pluralize,
    two_digit_year,
    year,
)
from voxgate.text.en_tables import CURRENCIES, MONTH_BY_NAME, MONTHS, SCALES, UNITS
from voxgate.text.patterns import (
    MAX_WORDED_DIGITS,
    NUM,
    SIGN,
    alternation,
    split_number,
    strip_money_zeros,
    sub_padded,
)

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

_MONTH = "(?P<month>" + "|".join(sorted(MONTH_BY_NAME, key=len, reverse=True)) + r")\b(?P<mdot>\.)?"
_AMPM = r"(?P<ampm>[AaPp])\.?\s?[Mm](?P<dot>\.)?(?![A-Za-z])"
_LEFT = r"(?<![0-9.,])"


# --- dates and times ---------------------------------------------------------------------------


def _date(month: int, day: int, year_words: str | None, original: str) -> str:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return original
    words = f"{MONTHS[month - 1]} {ordinal(day)}"
    return f"{words}, {year_words}" if year_words else words


def _iso_date(m: re.Match[str]) -> str:
    return _date(int(m["m"]), int(m["d"]), year(int(m["y"])), m.group(0))


def _slash_date(m: re.Match[str]) -> str:
    month, day = int(m["a"]), int(m["b"])
    if month > 12 >= day:
        month, day = day, month
    y = m["y"]
    return _date(month, day, year(int(y)) if len(y) == 4 else two_digit_year(y), m.group(0))


def _month_day(m: re.Match[str]) -> str:
    return _date(
        MONTHS.index(MONTH_BY_NAME[m["month"]]) + 1,
        int(m["day"]),
        year(int(m["y"])) if m["y"] else None,
        m.group(0),
    )


def _day_month(m: re.Match[str]) -> str:
    day = int(m["day"])
    if not 1 <= day <= 31:
        return m.group(0)
    the = "" if m.string[max(0, m.start() - 4) : m.start()].lower() == "the " else "the "
    words = f"{the}{ordinal(day)} of {MONTH_BY_NAME[m['month']]}"
    if m["y"]:
        return f"{words} {year(int(m['y']))}"
    # a period after the month is the sentence's ("the 2nd of May."), unless it only shortened the
    # name ("the 3rd of Aug. in Paris"); dropping it ran two sentences into one
    full_name = m["month"] in MONTHS
    return words + ("." if m["mdot"] and (full_name or ends_sentence(m.string, m.end())) else "")


def _minutes(value: int) -> str:
    return f"oh {DIGIT_WORDS[value]}" if value < 10 else cardinal(value)


def _meridiem(m: re.Match[str]) -> str:
    words = " a m" if m["ampm"].lower() == "a" else " p m"
    return words + ("." if m["dot"] and ends_sentence(m.string, m.end()) else "")


def _clock(m: re.Match[str]) -> str:
    hour, minute = int(m["h"]), int(m["min"])
    if hour > 24 or (m["ampm"] and not 1 <= hour <= 12):
        return m.group(0)
    if minute:
        words = f"{cardinal(hour)} {_minutes(minute)}"
    elif m["ampm"]:
        words = cardinal(hour)
    else:
        words = f"{cardinal(hour)} o'clock" if 1 <= hour <= 12 else f"{cardinal(hour)} hundred"
    if m["s"]:
        seconds = int(m["s"])
        words += f" and {cardinal(seconds)} second{'s' if seconds != 1 else ''}"
    return words + (_meridiem(m) if m["ampm"] else "")


def _hour(m: re.Match[str]) -> str:
    hour = int(m["h"])
    return cardinal(hour) + _meridiem(m) if 1 <= hour <= 12 else m.group(0)


# --- money, percentages, units -----------------------------------------------------------------


_ARTICLE_BEFORE = re.compile(r"(?<![\w'-])[Aa]n?\s+$")
_NOUN_AFTER = re.compile(
    r"\s+(?!(?:a|an|and|at|by|each|for|from|in|less|more|of|on|or|per|than|the|to|with)\b)[a-z]"
)


def _attributive(m: re.Match[str]) -> bool:
    """Whether an amount modifies the noun after it ("a $20 bill", "a 512 GB drive"), where English
    names its unit in the singular ("a twenty dollar bill"): the indefinite article just before
    it and a lowercase word (not a function word) just after it."""
    before = m.string[max(0, m.start() - 4) : m.start()]
    return bool(_ARTICLE_BEFORE.search(before)) and _NOUN_AFTER.match(m.string, m.end()) is not None


def _money(m: re.Match[str]) -> str:
    one, many, minor_one, minor_many = CURRENCIES[m["sym"]]
    groups = m.groupdict()
    scale = SCALES.get(groups.get("word") or groups.get("abbr") or "")
    if (scale or "." not in m["num"]) and _attributive(m):
        many = one  # "a five dollar fee", "a two million dollar deal" (with cents it stays plural)
    integer, fraction = split_number(m["num"])
    if len(integer) > MAX_WORDED_DIGITS:
        words = f"{number(m['num'])} {many}"
    elif scale:
        words = f"{number(m['num'])} {scale} {many}"
    elif fraction and (len(fraction) > 2 or minor_one is None or minor_many is None):
        kept = strip_money_zeros(fraction)
        amount = cardinal(integer or "0") + (f" point {digits(kept)}" if kept else "")
        words = f"{amount} {one if amount == 'one' else many}"
    else:
        major, minor = int(integer or "0"), int(fraction.ljust(2, "0")) if fraction else 0
        parts = []
        if major or not minor:
            parts.append(f"{cardinal(major)} {one if major == 1 else many}")
        if minor:
            parts.append(f"{cardinal(minor)} {minor_one if minor == 1 else minor_many}")
        words = " and ".join(parts)
    return f"minus {words}" if m["sign"] else words


def _percent(m: re.Match[str]) -> str:
    return f"{number(m['num'], sign=m['sign'])} percent"


def _unit(m: re.Match[str]) -> str:
    one, many = UNITS[m["unit"]]
    singular = m["num"] == "1" or _attributive(m)  # "a five kilometer run"
    return f"{number(m['num'], sign=m['sign'])} {one if singular else many}"


# --- plain numbers -----------------------------------------------------------------------------


def _code(m: re.Match[str]) -> str:
    return ", ".join(digits(group) for group in m.group(0).split("-"))


def _box(m: re.Match[str]) -> str:
    """``PO Box 4410`` → ``P O Box four four one zero``: a box number is a code, read digit by digit."""
    return f"P O Box {digits(m['n'])}"


def _fraction(m: re.Match[str]) -> str:
    plain = f"{number(m['a'])} {number(m['b'])}"  # 24/7, 50/50, 9/11
    if len(m["a"]) > 2 or len(m["b"]) > 2:
        return plain
    numerator, denominator = int(m["a"]), int(m["b"])
    if not 0 < numerator < denominator <= 10:
        return plain
    name = {2: "half", 4: "quarter"}.get(denominator) or ordinal(denominator)
    plural = "halves" if denominator == 2 else name + "s"
    return f"{cardinal(numerator)} {name if numerator == 1 else plural}"


def _version(m: re.Match[str]) -> str:
    return " point ".join(cardinal(part) for part in m.group(0).split("."))


def _decade(m: re.Match[str]) -> str:
    value = int(m["n"])
    return pluralize(year(value) if 1000 <= value <= 2099 else cardinal(value))


_SCALE_WORDS = "thousand|million|billion|trillion"
_RULES: tuple[Rule, ...] = (
    (re.compile(r"\b[Pp]\.?\s?[Oo]\.?\s?Box\s+(?P<n>[0-9]{1,8})(?![0-9])"), _box),
    (re.compile(r"(?<![0-9-])(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})(?![0-9-])"), _iso_date),
    (
        re.compile(r"(?<![0-9/])(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})/(?P<y>[0-9]{4}|[0-9]{2})(?![0-9/])"),
        _slash_date,
    ),
    (
        re.compile(
            rf"\b{_MONTH}\s+(?P<day>[0-9]{{1,2}})(?:st|nd|rd|th)?(?![0-9A-Za-z])"
            rf"(?:,?\s+(?P<y>[0-9]{{4}})(?![0-9]))?"
        ),
        _month_day,
    ),
    (
        re.compile(
            rf"(?<![0-9])(?P<day>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}"
            rf"(?:,?\s+(?P<y>[0-9]{{4}})(?![0-9]))?"
        ),
        _day_month,
    ),
    (
        re.compile(
            rf"(?<![0-9:.])(?P<h>[0-9]{{1,2}}):(?P<min>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"
            rf"(?:\s?{_AMPM})?"
        ),
        _clock,
    ),
    (re.compile(rf"(?<![0-9:.,])(?P<h>[0-9]{{1,2}})\s?{_AMPM}"), _hour),
    (
        re.compile(r"(?<![0-9.,-])(?:[0-9]+(?:-[0-9]+){2,}|[0-9]{3}-[0-9]{4})(?![0-9-])"),
        _code,
    ),
    (
        re.compile(rf"{_LEFT}(?<!-)(?P<a>{NUM})(?:-|\s?–\s?)(?P<b>{NUM})(?![0-9-])"),
        lambda m: f"{m['a']} to {m['b']}",
    ),
    (
        re.compile(
            rf"{SIGN}(?P<sym>[$€£¥₹])\s?(?P<num>{NUM})"
            rf"(?:\s(?P<word>{_SCALE_WORDS})\b|(?P<abbr>bn|[kKmMB])(?![A-Za-z]))?"
        ),
        _money,
    ),
    (
        re.compile(rf"{SIGN}{_LEFT}(?P<num>{NUM})(?:\s(?P<word>{_SCALE_WORDS}))?\s?(?P<sym>[€£])"),
        _money,
    ),
    (re.compile(rf"{SIGN}{_LEFT}(?P<num>{NUM})\s?%"), _percent),
    (
        re.compile(rf"{SIGN}{_LEFT}(?P<num>{NUM})\s?(?P<unit>{alternation(UNITS)})(?![A-Za-z0-9²³])"),
        _unit,
    ),
    (re.compile(r"(?<![0-9./])(?P<a>[0-9]+)/(?P<b>[0-9]+)(?![0-9/])"), _fraction),
    (re.compile(r"(?<![0-9.])[0-9]+(?:\.[0-9]+){2,}(?![0-9])"), _version),
    (
        re.compile(rf"{_LEFT}(?P<n>[0-9]+)(?:st|nd|rd|th)(?![A-Za-z0-9])"),
        lambda m: ordinal(int(m["n"])) if len(m["n"]) <= MAX_WORDED_DIGITS else digits(m["n"]),
    ),
    (re.compile(rf"{_LEFT}'?(?P<n>[1-9][0-9]{{0,2}}0)s(?![A-Za-z0-9])"), _decade),
    (
        re.compile(r"(?<![0-9.,$€£¥₹-])(?P<y>1[1-9][0-9]{2}|20[0-9]{2})(?![0-9]|[.,][0-9])"),
        lambda m: year(int(m["y"])),
    ),
    (re.compile(r"(?<![\w.])\.(?P<f>[0-9]+)"), lambda m: f"point {digits(m['f'])}"),
    (re.compile(rf"{SIGN}(?P<num>{NUM})(?![0-9])"), lambda m: number(m["num"], sign=m["sign"])),
    (re.compile(r"[0-9]"), lambda m: DIGIT_WORDS[int(m.group(0))]),
)


def normalize_en(text: str) -> str:
    """Rewrite English text so that an engine reads every number, date, amount and unit as words.

    Args:
        text: cleaned English text (see :func:`voxgate.text.clean.clean_text`).

    Returns:
        The text with numbers spelled out and common abbreviations expanded, e.g.
        ``"$3.50 at 3:30 pm"`` → ``"three dollars and fifty cents at three thirty p m"``.
    """
    text = expand_abbreviations(text)
    for pattern, replace in _RULES:
        text = sub_padded(pattern, replace, text)
    return text
