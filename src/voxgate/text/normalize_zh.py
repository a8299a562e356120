"""Chinese normalisation: numbers, dates, times, money, percentages and units become Chinese words.

Integers are read by ``cn2an`` (``an2cn`` in ``low`` mode), which is correct for plain numbers;
everything around them (years digit by digit, 两 before measure words, 点/分 for clock times,
零下 for temperatures, money without trailing zeros) is handled by the rules here, because
``cn2an.transform`` gets several of these wrong (``"10kg"`` → ``"十kg"``, ``"1,000"`` → ``"一,零"``,
``"3:30"`` → ``"三:三十"``, phone numbers read as hundreds of millions).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cn2an

from voxgate.text.patterns import (
    MAX_WORDED_DIGITS,
    NUM,
    reads_as_digits,
    split_number,
    strip_money_zeros,
)

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

ZH_DIGITS = "零一二三四五六七八九"

ZH_UNITS: dict[str, str] = {
    "km/h": "公里每小时",
    "m/s": "米每秒",
    "mph": "英里每小时",
    "km²": "平方公里",
    "m²": "平方米",
    "m³": "立方米",
    "km": "公里",
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "kg": "千克",
    "mg": "毫克",
    "g": "克",
    "t": "吨",
    "ml": "毫升",
    "mL": "毫升",
    "L": "升",
    "KB": "千字节",
    "kB": "千字节",
    "MB": "兆字节",
    "GB": "吉字节",
    "TB": "太字节",
    "Hz": "赫兹",
    "kHz": "千赫",
    "MHz": "兆赫",
    "GHz": "吉赫",
    "kWh": "千瓦时",
    "kW": "千瓦",
    "W": "瓦",
    "V": "伏",
    "ms": "毫秒",
    "min": "分钟",
    "h": "小时",
    "s": "秒",
}
"""Case-sensitive Latin unit symbol → Chinese unit name."""

ZH_UNIT_RE = re.compile(
    "(?:" + "|".join(re.escape(u) for u in sorted(ZH_UNITS, key=len, reverse=True)) + ")(?![A-Za-z0-9])"
)
"""A Latin unit symbol at the start of a string (used to keep ``10kg`` inside a Chinese run)."""

_CURRENCY_PREFIX = {"¥": "元", "$": "美元", "€": "欧元", "£": "英镑", "₹": "卢比"}
_MONEY_WORDS = "元|块|美元|欧元|英镑|日元|港元|港币"
_MEASURE_WORDS = (
    "个|只|本|件|次|位|名|条|张|天|岁|年|小时|分钟|秒钟|周|星期|个月|斤|两|公斤|千克|克|公里|米|"
    "倍|双|对|部|台|辆|杯|瓶|块|元|家|种|份|层|点|百|千|万|亿|人|口|间|所|座|棵|朵|匹|头|篇|首|门|节|场|套"
)
_MEASURE_RE = re.compile(rf"\s?(?:{_MEASURE_WORDS})")


def zh_digits(text: str) -> str:
    """Read ASCII digits one by one (``"138"`` → ``"一三八"``).

    Args:
        text: ASCII digits.

    Returns:
        The Chinese digit characters.
    """
    return "".join(ZH_DIGITS[int(c)] for c in text)


def zh_integer(digits: str) -> str:
    """Read a non-negative integer as a Chinese cardinal (``"1010"`` → ``"一千零一十"``).

    Args:
        digits: ASCII digits without separators.

    Returns:
        The cardinal; integers longer than 15 digits are read digit by digit.
    """
    digits = digits.lstrip("0") or "0"
    if len(digits) > MAX_WORDED_DIGITS:
        return zh_digits(digits)
    words: str = cn2an.an2cn(digits, "low")
    return words


def zh_number(num: str, *, sign: str | None = None, after: str = "", before: str = "") -> str:
    """Read a number as a Chinese quantity or code.

    Args:
        num: an unsigned number matched by ``patterns.NUM``.
        sign: a minus sign that preceded it, if any (read 负).
        after: the text right after the number; ``2`` before a measure word is read 两.
        before: the text right before the number; after 第 it is an ordinal and stays 二.

    Returns:
        ``"三点一四"``, ``"一千"``, ``"一三八一二三四五六七八"``, ``"两"``, ``"负五"``.
    """
    integer, fraction = split_number(num)
    if fraction:
        words = f"{zh_integer(integer or '0')}点{zh_digits(fraction)}"
    elif reads_as_digits(integer, grouped="," in num):
        words = zh_digits(integer)
    elif integer == "2" and not sign and not before.endswith("第") and _MEASURE_RE.match(after):
        words = "两"
    else:
        words = zh_integer(integer)
    return f"负{words}" if sign else words


def _context(m: re.Match[str], group: str = "num") -> dict[str, str]:
    end, start = m.end(group), m.start(group)
    return {"after": m.string[end : end + 4], "before": m.string[max(0, start - 1) : start]}


def _money_number(num: str) -> str:
    integer, fraction = split_number(num)
    kept = strip_money_zeros(fraction)
    return integer + (f".{kept}" if kept else "")


def _date(y: str, month: str, day: str, original: str) -> str:
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return original
    return f"{zh_digits(y)}年{zh_integer(month)}月{zh_integer(day)}日"


def _clock(m: re.Match[str]) -> str:
    hour, minute = int(m["h"]), int(m["min"])
    if hour > 24:
        return f"{zh_integer(m['h'])}比{zh_integer(m['min'])}"
    words = "两点" if hour == 2 else f"{zh_integer(str(hour))}点"
    if minute or m["s"]:
        words += f"{'零' if minute < 10 and minute else ''}{zh_integer(str(minute))}分"
    if m["s"]:
        words += f"{zh_integer(m['s'])}秒"
    return words


def _money(m: re.Match[str]) -> str:
    amount = zh_number(_money_number(m["num"]), after="元")
    return f"{'负' if m['sign'] else ''}{amount}{m['scale'] or ''}{_CURRENCY_PREFIX[m['sym']]}"


def _percent(m: re.Match[str]) -> str:
    word = "千分之" if m["pc"] == "‰" else "百分之"
    return f"{'负' if m['sign'] else ''}{word}{zh_number(m['num'])}"


def _temperature(m: re.Match[str]) -> str:
    unit = {"°C": "摄氏度", "℃": "摄氏度", "°F": "华氏度", "°": "度"}[m["unit"]]
    return f"{'零下' if m['sign'] else ''}{zh_number(m['num'])}{unit}"


def _unit(m: re.Match[str]) -> str:
    name = ZH_UNITS[m["unit"]]
    return zh_number(m["num"], sign=m["sign"], after=name, before=_context(m)["before"]) + name


def _fraction(m: re.Match[str]) -> str:
    if not m["b"].strip("0"):
        return m.group(0)
    return f"{zh_integer(m['b'])}分之{zh_integer(m['a'])}"


def _code(m: re.Match[str]) -> str:
    return "，".join(zh_digits(group) for group in m.group(0).split("-"))


_NUM_LEFT = r"(?<![0-9.,])"
_SIGN = r"(?:(?<![0-9A-Za-z.])(?P<sign>[-−]))?"
"""A minus sign: unlike English, it may follow a Han character directly (``气温-5度``)."""
_RULES: tuple[Rule, ...] = (
    (
        re.compile(r"(?<![0-9])(?P<y>[0-9]{4})[-/.](?P<m>[0-9]{1,2})[-/.](?P<d>[0-9]{1,2})(?![0-9])"),
        lambda m: _date(m["y"], m["m"], m["d"], m.group(0)),
    ),
    (re.compile(r"(?<![0-9.,])(?P<y>[0-9]{4})(?=\s?年)"), lambda m: zh_digits(m["y"])),
    (
        re.compile(r"(?<![0-9.,:])(?P<h>[0-9]{1,2}):(?P<min>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?(?![0-9:])"),
        _clock,
    ),
    (
        re.compile(r"(?<![0-9.,:])(?P<a>[0-9]+):(?P<b>[0-9]+)(?![0-9:])"),
        lambda m: f"{zh_integer(m['a'])}比{zh_integer(m['b'])}",
    ),
    (
        re.compile(rf"{_SIGN}(?P<sym>[¥$€£₹])\s?(?P<num>{NUM})(?P<scale>[万亿])?"),
        _money,
    ),
    (
        re.compile(rf"{_NUM_LEFT}(?P<num>{NUM})(?=\s?(?:[万亿]\s?)?(?:{_MONEY_WORDS}))"),
        lambda m: zh_number(_money_number(m["num"]), **_context(m)),
    ),
    (re.compile(rf"{_SIGN}{_NUM_LEFT}(?P<num>{NUM})\s?(?P<pc>[%‰])"), _percent),
    (re.compile(rf"{_SIGN}{_NUM_LEFT}(?P<num>{NUM})\s?(?P<unit>°C|°F|℃|°)"), _temperature),
    (re.compile(rf"{_SIGN}{_NUM_LEFT}(?P<num>{NUM})\s?(?P<unit>{ZH_UNIT_RE.pattern})"), _unit),
    (re.compile(r"(?<![0-9/.])(?P<a>[0-9]+)/(?P<b>[0-9]+)(?![0-9/])"), _fraction),
    (
        re.compile(r"(?<![0-9.,-])(?:[0-9]+(?:-[0-9]+){2,}|0[0-9]*-[0-9]+|[0-9]+-[0-9]{5,})(?![0-9-])"),
        _code,
    ),
    (
        re.compile(rf"{_NUM_LEFT}(?P<a>{NUM})\s?[-~～–—至]\s?(?P<b>{NUM})(?![0-9])"),
        lambda m: f"{zh_number(m['a'])}到{zh_number(m['b'], after=m.string[m.end() : m.end() + 4])}",
    ),
    (re.compile(r"(?<![0-9A-Za-z.])\.(?P<f>[0-9]+)"), lambda m: f"零点{zh_digits(m['f'])}"),
    (
        re.compile(rf"{_SIGN}(?P<num>{NUM})(?![0-9])"),
        lambda m: zh_number(m["num"], sign=m["sign"], **_context(m)),
    ),
    (re.compile(r"[0-9]"), lambda m: ZH_DIGITS[int(m.group(0))]),
)


def normalize_zh(text: str) -> str:
    """Rewrite Chinese text so that an engine reads every number as Chinese words.

    Args:
        text: cleaned Chinese text (see :func:`voxgate.text.clean.clean_text`).

    Returns:
        The text without ASCII digits, e.g. ``"2026年11月24日"`` → ``"二零二六年十一月二十四日"``,
        ``"15%"`` → ``"百分之十五"``, ``"15:30"`` → ``"十五点三十分"``.
    """
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text
