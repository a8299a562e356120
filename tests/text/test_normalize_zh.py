"""Chinese normalisation: numbers, dates, times, money and units are read as Chinese words."""

from __future__ import annotations

import re

import pytest

from voxgate.text.normalize_zh import normalize_zh, zh_integer

CASES = [
    # dates (issue example first)
    ("2026年11月24日", "二零二六年十一月二十四日"),
    ("2026-11-24", "二零二六年十一月二十四日"),
    ("2026/11/24", "二零二六年十一月二十四日"),
    ("1998年", "一九九八年"),
    ("3年", "三年"),
    ("20年", "二十年"),
    ("2月", "二月"),
    ("5月1日", "五月一日"),
    # percentages (issue example first)
    ("15%", "百分之十五"),
    ("2.5%", "百分之二点五"),
    ("-3%", "负百分之三"),
    ("5‰", "千分之五"),
    # decimals, negatives, separators, large numbers
    ("3.5", "三点五"),
    ("0.5", "零点五"),
    ("-5", "负五"),
    ("气温-5度", "气温负五度"),
    ("1,000", "一千"),
    ("1000000", "一百万"),
    ("2.5亿", "二点五亿"),
    ("1/2", "二分之一"),
    # money
    ("¥3.50", "三点五元"),
    ("3.5元", "三点五元"),
    ("3.00元", "三元"),
    ("¥2.5亿", "二点五亿元"),
    ("$5", "五美元"),
    ("€20", "二十欧元"),
    ("10000元", "一万元"),
    # times and scores
    ("3:30", "三点三十分"),
    ("15:30", "十五点三十分"),
    ("15:00", "十五点"),
    ("2:05", "两点零五分"),
    ("12:00:30", "十二点零分三十秒"),
    ("比分3:2", "比分三比二"),
    # codes read digit by digit
    ("13812345678", "一三八一二三四五六七八"),
    ("010-12345678", "零一零，一二三四五六七八"),
    ("400-123-4567", "四零零，一二三，四五六七"),
    # units
    ("5公里", "五公里"),
    ("10kg", "十千克"),
    ("20°C", "二十摄氏度"),
    ("温度20℃", "温度二十摄氏度"),
    ("-5°C", "零下五摄氏度"),
    ("100MB", "一百兆字节"),
    ("60km/h", "六十公里每小时"),
    ("5 m²", "五平方米"),
    # ordinals, ranges, 两
    ("第3章", "第三章"),
    ("第2个", "第二个"),
    ("3-5天", "三到五天"),
    ("2个苹果", "两个苹果"),
    ("2小时", "两小时"),
    ("2kg", "两千克"),
    ("2万", "两万"),
    ("下午2点", "下午两点"),
    ("12个", "十二个"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_normalize_zh(text: str, expected: str) -> None:
    """Each Chinese pattern is read the way a Mandarin speaker would say it."""
    assert normalize_zh(text) == expected


@pytest.mark.parametrize(("text", "_"), CASES)
def test_no_digits_survive(text: str, _: str) -> None:
    """No ASCII digit reaches an engine after Chinese normalisation."""
    assert not re.search(r"[0-9]", normalize_zh(text))


@pytest.mark.parametrize(
    ("digits", "expected"),
    [("0", "零"), ("10", "十"), ("110", "一百一十"), ("1010", "一千零一十"), ("100000", "十万")],
)
def test_zh_integer(digits: str, expected: str) -> None:
    """Cardinals use 十 without 一 at the start and 零 for inner gaps."""
    assert zh_integer(digits) == expected


def test_more_than_fifteen_digits_read_one_by_one() -> None:
    """A number too long to say as a quantity is read digit by digit instead of failing."""
    assert zh_integer("12345678901234567") == "一二三四五六七八九零一二三四五六七"
