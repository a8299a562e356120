"""Normalisation of mixed text: each language run is read in its own language."""

from __future__ import annotations

import re

import pytest

from voxgate.text.normalize import normalize, normalize_run
from voxgate.text.normalize_ja import ja_integer, normalize_ja


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我今天用iPhone打电话给Mary。", "我今天用iPhone打电话给Mary。"),
        ("我花了$3.50买了2个苹果", "我花了三点五美元买了两个苹果"),
        ("重10kg的箱子", "重十千克的箱子"),
        ("气温20°C。", "气温二十摄氏度。"),
        ("用了3GB流量", "用了三吉字节流量"),
        ("速度60km/h左右", "速度六十公里每小时左右"),
        ("跑了5 km, then rested", "跑了五公里, then rested"),
        ("I have 3个苹果", "I have 三个苹果"),
        ("用iPhone15打电话", "用iPhone fifteen打电话"),
        ("The year 2026 和 2026年", "The year twenty twenty-six 和 二零二六年"),
        ("It costs $3.50. Then we go.", "It costs three dollars and fifty cents. Then we go."),
        ("2026年に15%", "二千二十六年に十五パーセント"),
    ],
)
def test_mixed_text(text: str, expected: str) -> None:
    """Numbers take the language of the run they sit in; units after a Chinese number stay Chinese."""
    assert normalize(text) == expected


@pytest.mark.parametrize(("default", "expected"), [("en", "one hundred twenty-three"), ("zh", "一百二十三")])
def test_text_without_letters_uses_the_default_language(default: str, expected: str) -> None:
    """Digits alone are read in the default language."""
    assert normalize("123", default_language=default) == expected


def test_languages_without_a_normaliser_are_unchanged() -> None:
    """A run in a language with no normaliser (espeak reads its digits) passes through."""
    assert normalize_run("Привет 12", "ru") == "Привет 12"
    assert normalize("Привет 12") == "Привет 12"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("15:30に", "十五時三十分に"), ("3.14", "三点一四"), ("-5", "マイナス五"), ("1,000円", "千円")],
)
def test_normalize_ja(text: str, expected: str) -> None:
    """Japanese numbers are written as kanji numerals that Japanese readers read correctly."""
    assert normalize_ja(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "零"),
        (10, "十"),
        (110, "百十"),
        (1001, "千一"),
        (2026, "二千二十六"),
        (11000, "一万千"),
        (10**8, "一億"),
    ],
)
def test_ja_integer(value: int, expected: str) -> None:
    """Kanji numerals omit 一 before 十/百/千 and use no 零 inside a number."""
    assert ja_integer(value) == expected


MIXED = (
    "On 2026-11-24 at 3:30 pm, Dr. Lee paid $1,234.56 (15% off) for 2 GB; 会议在15:30开始，"
    "费用¥3.50，温度-5°C，电话13812345678，第3章，2.5亿。東京で15時に2026年。"
)


def test_no_digits_reach_an_engine() -> None:
    """After normalising mixed en/zh/ja text, no ASCII digit is left."""
    assert not re.search(r"[0-9]", normalize(MIXED))
