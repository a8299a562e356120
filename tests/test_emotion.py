"""The emotion option: checked into an ``Emotion``, keyed for the cache, never changing keys without one."""

from __future__ import annotations

import pytest

from voxgate.audio.cache import cache_key
from voxgate.emotion import parse_emotion
from voxgate.errors import InvalidOption
from voxgate.types import EMOTIONS, Emotion


def test_weights_are_ordered_as_indextts2_expects() -> None:
    """A map becomes 8 weights in IndexTTS-2's order (happy … calm), the names left out at 0."""
    emotion = parse_emotion({"calm": 0.3, "happy": 0.1, "melancholic": 0.2})
    assert emotion == Emotion(weights=(0.1, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.3))
    assert len(EMOTIONS) == 8
    assert parse_emotion(None) is None
    assert parse_emotion("  a little sad ") == Emotion(text="a little sad")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"joy": 0.2}, "emotion.joy"),
        ({"angry": 1.5}, "emotion.angry"),
        ({"angry": float("nan")}, "emotion.angry"),
        ({"angry": 0.5, "sad": 0.31}, "emotion"),
        ({"angry": 0.0}, "emotion"),
        ("", "emotion"),
        ("x" * 201, "emotion"),
    ],
)
def test_bad_emotions_name_their_field(value: dict[str, float] | str, field: str) -> None:
    """Unknown names and weights outside [0, 1] name emotion.<name>; the sum, zeros and texts name emotion."""
    with pytest.raises(InvalidOption) as refused:
        parse_emotion(value)
    assert refused.value.field == field


def test_sum_of_exactly_the_cap_is_accepted() -> None:
    """Weights summing to 0.8 (IndexTTS-2's UI cap) pass, despite float rounding."""
    assert parse_emotion({"happy": 0.1, "angry": 0.2, "sad": 0.2, "calm": 0.3}) is not None


def test_cache_key_includes_emotion_and_keeps_old_keys() -> None:
    """Another emotion is another key; no emotion gives the key as before emotions existed."""
    fields = {
        "normalized_text": "hello",
        "voice": "v",
        "speed": 1.0,
        "fmt": "wav",
        "sample_rate": 22050,
        "engine": "itts>espeak",
        "model_version": "m",
    }
    plain = cache_key(**fields)  # type: ignore[arg-type]
    assert plain == "0ed86216b76b9a682594de869a2223e9a781b7f3a1a2dc574ab640e39a0abb98"  # before emotions
    sad = Emotion(weights=(0, 0, 0.5, 0, 0, 0, 0, 0)).key()
    happy = Emotion(weights=(0.5, 0, 0, 0, 0, 0, 0, 0)).key()
    keys = {plain, cache_key(**fields, emotion=sad), cache_key(**fields, emotion=happy)}  # type: ignore[arg-type]
    assert len(keys) == 3
    assert Emotion(text="sad").key() != sad
