"""OpenAI instructions read into a rate factor, an emotion and honest ignored entries."""

from __future__ import annotations

import time

import pytest

from voxgate.instructions import MAX_FACTOR, MAX_IGNORED_ENTRIES, Reading, read_instructions
from voxgate.types import EMOTIONS


def _weights(reading: Reading) -> dict[str, float]:
    assert reading.emotion is not None
    assert reading.emotion.weights is not None
    return {n: w for n, w in zip(EMOTIONS, reading.emotion.weights, strict=True) if w}


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("Speak slowly.", 0.8),
        ("slower please", 0.8),
        ("At a relaxed pace.", 0.8),
        ("Take your time", 0.8),
        ("Speak very slowly", 0.65),
        ("a little slower", 0.9),
        ("a little more slowly", 0.9),
        ("Speak faster!", 1.25),
        ("quickly", 1.25),
        ("Much faster", 1.5),
        ("slightly faster", 1.1),
        ("at a normal pace", 1.0),
    ],
)
def test_plain_rate_phrases_become_a_factor(text: str, rate: float) -> None:
    """Rate words (with an intensifier or a softener before them) give their factor, nothing ignored."""
    reading = read_instructions(text)
    assert reading.rate == pytest.approx(rate)
    assert reading.emotion is None
    assert reading.ignored == ()


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Cheerful.", "happy"),
        ("Sound happy", "happy"),
        ("sadly", "sad"),
        ("angry", "angry"),
        ("Calm and soothing", "calm"),
        ("afraid", "afraid"),
        ("You are scared", "afraid"),
        ("surprised", "surprised"),
        ("in a melancholic tone", "melancholic"),
        ("disgusted", "disgusted"),
    ],
)
def test_plain_emotion_words_become_the_native_emotion(text: str, name: str) -> None:
    """Each plain emotion word gives that one emotion of IndexTTS-2's vector, weight 0.6."""
    reading = read_instructions(text)
    assert _weights(reading) == {name: 0.6}
    assert reading.rate == 1.0
    assert reading.ignored == ()


def test_rate_and_emotion_together_and_strength_words() -> None:
    """Instructions "Speak slowly and very cheerfully" slow down and asks for a strong happy."""
    reading = read_instructions("Speak slowly and very cheerfully")
    assert reading.rate == pytest.approx(0.8)
    assert _weights(reading) == {"happy": 0.8}
    assert _weights(read_instructions("slightly sad")) == {"sad": 0.3}


def test_several_emotions_are_scaled_to_the_allowed_sum() -> None:
    """Many emotion words never exceed the emotion sum cap (0.8)."""
    weights = _weights(read_instructions("happy, sad, angry, calm and surprised"))
    assert set(weights) == {"happy", "sad", "angry", "calm", "surprised"}
    assert sum(weights.values()) <= 0.8 + 1e-9


@pytest.mark.parametrize(
    "text",
    ["Don't speak fast.", "do not speak slowly", "Never sound angry", "dont be sad", "less cheerful"],
)
def test_a_negated_clause_is_ignored_not_inverted(text: str) -> None:
    """A clause with a negation changes nothing and is listed as ignored, whole."""
    reading = read_instructions(text)
    assert (reading.rate, reading.emotion) == (1.0, None)
    assert len(reading.ignored) == 1
    assert reading.ignored[0].startswith("instructions:")


def test_negation_only_spoils_its_own_clause() -> None:
    """Instructions "Speak slowly, but don't sound sad" slow down and ignore the negated clause only."""
    reading = read_instructions("Speak slowly, but don't sound sad")
    assert reading.rate == pytest.approx(0.8)
    assert reading.emotion is None
    assert reading.ignored == ("instructions:don't sound sad",)


def test_words_not_understood_are_listed_cleaned_and_bounded() -> None:
    """Unknown words are listed per clause, lowercased ASCII, cut; past the cap one plain entry."""
    reading = read_instructions("Speak slowly in a British accent.")
    assert (reading.rate, reading.ignored) == (pytest.approx(0.8), ("instructions:british accent",))
    assert read_instructions("Whisper, with gravitas!").ignored == (
        "instructions:whisper",
        "instructions:gravitas",
    )
    assert read_instructions("用开心的语气说").ignored == ("instructions",)
    many = read_instructions(", ".join(f"odd{i} ,thing" for i in range(20)))
    assert len(many.ignored) == MAX_IGNORED_ENTRIES + 1
    assert many.ignored[-1] == "instructions"
    long = read_instructions("x" * 500).ignored[0]
    assert long == "instructions:" + "x" * 40
    assert all(c.isascii() and c not in ",\r\n" for entry in many.ignored for c in entry)


def test_no_instructions_read_as_nothing_asked() -> None:
    """None, empty and filler-only instructions change nothing and report nothing."""
    for text in (None, "", "   ", "Voice: speak."):
        assert read_instructions(text) == Reading()


def test_rate_words_multiply_within_bounds() -> None:
    """Many "faster"s multiply but stop at the factor bound."""
    assert read_instructions("faster. " * 40).rate == MAX_FACTOR


def test_reading_is_linear_in_the_length() -> None:
    """Adversarial text at the field's limit (4096 characters) reads in well under a second."""
    for text in ("a " * 2048, "very " * 819, "and" * 1365, "," * 4096, "slow" * 1024):
        started = time.perf_counter()
        read_instructions(text)
        assert time.perf_counter() - started < 0.5
