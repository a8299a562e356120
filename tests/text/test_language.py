"""Language runs and dominant-language detection for English, Chinese, Japanese and mixed text."""

from __future__ import annotations

import dataclasses

import pytest

from voxgate.text.language import LanguageRun, detect_language, split_language_runs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "我今天用iPhone打电话给Mary。",
            [("我今天用", "zh"), ("iPhone", "en"), ("打电话给", "zh"), ("Mary。", "en")],
        ),
        ("Hello world", [("Hello world", "en")]),
        ("東京は大きい。", [("東京は大きい。", "ja")]),
        ("東京大学とMIT", [("東京大学と", "ja"), ("MIT", "en")]),
        ("東京大学 and MIT", [("東京大学 ", "zh"), ("and MIT", "en")]),
        ("2026年", [("2026年", "zh")]),
        ("I have 3个苹果", [("I have ", "en"), ("3个苹果", "zh")]),
        ("用 iPhone 15 打电话", [("用 ", "zh"), ("iPhone 15 ", "en"), ("打电话", "zh")]),
        ("iPhone15打电话", [("iPhone15", "en"), ("打电话", "zh")]),
        ("Hello, 世界!", [("Hello, ", "en"), ("世界!", "zh")]),
        ("«Café», il dit.", [("«Café», il dit.", "en")]),
        ("안녕하세요 世界", [("안녕하세요 ", "ko"), ("世界", "zh")]),
        ("Привет, мир", [("Привет, мир", "ru")]),
        ("", []),
    ],
)
def test_split_language_runs(text: str, expected: list[tuple[str, str]]) -> None:
    """Letters decide the language; digits and punctuation attach to the surrounding run."""
    runs = split_language_runs(text)
    assert [(r.text, r.language) for r in runs] == expected
    assert "".join(r.text for r in runs) == text


@pytest.mark.parametrize("default", ["en", "zh"])
def test_text_without_letters_takes_the_default(default: str) -> None:
    """Digits and punctuation alone form one run in the default language."""
    assert split_language_runs("123, 456!", default_language=default) == [LanguageRun("123, 456!", default)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我今天用iPhone打电话给Mary。", "zh"),
        ("I met 王小明 at the park today", "en"),
        ("これは日本語です", "ja"),
        ("Hello", "en"),
        ("你好", "zh"),
        ("Hello, 世界!", "en"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    """The dominant language weighs words, with two CJK characters counting as one word."""
    assert detect_language(text) == expected


def test_detect_language_defaults_without_letters() -> None:
    """A text with no letters is in the default language."""
    assert detect_language("12:30", default_language="zh") == "zh"


def test_language_run_is_frozen() -> None:
    """LanguageRun is an immutable value object."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        LanguageRun("a", "en").text = "b"  # type: ignore[misc]
