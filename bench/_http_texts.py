"""Texts of the HTTP bench: every cache-missing request gets its own variant word."""

from __future__ import annotations

HIT_TEXT = "The quick brown fox jumps over the lazy dog, then runs far into the quiet green forest to rest."
MISS_TEXTS = (  # one sentence each (one segment), ~95 characters; {w} makes every request unique
    "The {w} canoe slid across the smooth planks while the morning mist rose slowly over the lake.",
    "Please glue the {w} sheet to the dark blue background before the paint on its edges dries.",
    "It is easy to tell the depth of a well when the {w} stone drops and the echo answers back.",
)
EN_STREAM = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
    "It is easy to tell the depth of a well when the {w} stone drops."
)
ZH_STREAM = "今天天气很好，我们去公园散步吧。下午三点在学校门口见面，别迟到。听说{w}的饭馆又便宜又好吃。"
WORDS = [
    *("amber", "azure", "beige", "black", "brown", "coral", "cream", "green", "ivory", "khaki"),
    *("lemon", "lilac", "mauve", "ochre", "olive", "peach", "pearl", "sepia", "slate", "taupe"),
    *("tawny", "umber", "white", "cocoa", "grape", "melon", "mango", "honey"),
]
"""Five-letter words: English variants keep their length."""
ZH_WORDS = [
    *("北京", "上海", "广州", "深圳", "杭州", "南京", "成都", "重庆", "武汉", "西安", "天津", "苏州", "长沙"),
    *("青岛", "大连", "厦门", "昆明", "沈阳", "济南", "郑州", "福州", "合肥", "南昌", "贵阳", "兰州", "太原"),
]
"""Two-character city names: Chinese variants keep their length."""
STREAM_CASES = (  # engine, voice, template, words, warm-up word
    ("piper", "joe", EN_STREAM, WORDS, "extra"),
    ("kokoro", "jm_kumo", ZH_STREAM, ZH_WORDS, "香港"),
    ("kokoro", "jf_alpha", EN_STREAM, WORDS, "extra"),
)


def word(words: list[str], i: int) -> str:
    """The ``i``-th variant word: unique for ``i < len(words)**2``."""
    n = len(words)
    return words[i % n] if i < n else f"{words[i % n]} {words[i // n % n]}"
