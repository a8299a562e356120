"""Kokoro's own phoneme durations time the words: patched model, word pairing, same audio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from voxgate.engines._kokoro_timing import with_durations, word_times
from voxgate.engines.base import Engine
from voxgate.engines.kokoro import KokoroEngine
from voxgate.text import prepare
from voxgate.timestamps import WordTimer
from voxgate.types import AudioChunk, SynthesisOptions


@dataclass(frozen=True)
class _Timing:
    phoneme: str
    start: float
    end: float


def _timings(phonemes: str, step: float = 0.1) -> list[_Timing]:
    return [_Timing(p, n * step, (n + 1) * step) for n, p in enumerate(phonemes)]


def test_a_chinese_g2p_word_is_timed_per_character() -> None:
    """One G2P word of four characters gives four timed words, in order, each its own phonemes."""
    readings = {"今": "ʨi→n", "天": "tʰjɛ→n", "气": "ʨʰi↘", "好": "xau↓"}
    text = "今天天气好。"
    spoken = "ʨi→ntʰjɛ→ntʰjɛ→nʨʰi↘ xau↓."
    words = word_times(text, _timings(spoken), 1.0, lambda w: readings.get(w, ""))
    assert words is not None
    assert [(a, b) for a, b, _, _ in words] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    starts = [s for _, _, s, _ in words]
    assert starts == sorted(starts)
    assert starts[1] == pytest.approx(0.4)  # 天 starts at its own first phoneme, not at its G2P word's
    assert starts[4] == pytest.approx(2.0)  # 好 starts where the space before it starts


def test_a_word_starts_at_the_break_before_it_and_the_pitch_shift_scales_times() -> None:
    """A word after a space starts with the space; times are divided by the playback speed-up."""
    spoken = "hˈɛloʊ, wˈɜːld"
    readings = {"Hello": "hˈɛloʊ", "world": "wˈɜːld"}
    words = word_times("Hello, world", _timings(spoken), 2.0, lambda w: readings[w.strip(",")])
    assert words is not None
    (_, _, s0, e0), (_, _, s1, e1) = words
    assert (s0, e0) == pytest.approx((0.0, 0.3))
    assert s1 == pytest.approx(0.35)  # the space at 0.7 s, halved; the comma's pause is no word's
    assert e1 == pytest.approx(0.7)


def test_unpairable_phonemes_are_left_to_the_estimate() -> None:
    """Words whose phonemes share nothing with what was spoken give no engine timing."""
    assert word_times("one two three", _timings("xyz"), 1.0, lambda w: "abc") is None
    assert word_times("one", [], 1.0, lambda w: "wʌn") is None


def test_a_model_without_the_duration_tensor_is_not_patched(tmp_path: Path) -> None:
    """Another export (no ``pred_dur`` tensor) is used as it is: ``None``, not a broken model."""
    model = tmp_path / "other.onnx"
    model.write_bytes(b"\x08\x07not kokoro")
    assert with_durations(model) is None


@pytest.fixture(scope="module")
def kokoro(engines: dict[str, Engine]) -> KokoroEngine:
    engine = engines["kokoro"]
    assert isinstance(engine, KokoroEngine)
    return engine


@pytest.mark.parametrize(
    ("text", "language", "count"),
    [("Glue the sheet to the dark blue.", "en", 7), ("我们去公园吧。", "zh", 6)],
)
def test_kokoro_times_its_words_itself(kokoro: KokoroEngine, text: str, language: str, count: int) -> None:
    """Kokoro's chunks carry word times from its durations: every word, in order, inside the audio."""
    (chunk,) = kokoro.synthesize(text, "jf_alpha", SynthesisOptions(language=language))
    assert chunk.words is not None
    assert len(chunk.words) == count
    starts = [s for _, _, s, _ in chunk.words]
    assert starts == sorted(starts)
    assert all(0.0 <= s < e <= chunk.duration + 1e-6 for _, _, s, e in chunk.words)
    prepared = prepare(text, max_chars=1000, max_segment_chars=250)
    stamps = WordTimer(text, prepared, ssml=False).segment(0, [chunk], [0.0])
    assert not stamps.estimated
    assert len(stamps.words) == count


def test_the_durations_output_changes_no_sample(kokoro: KokoroEngine) -> None:
    """The patched model speaks the same audio as the model without its durations."""
    opts = SynthesisOptions(language="en")
    (timed,) = kokoro.synthesize("The birch canoe slid.", "jf_alpha", opts)
    model = kokoro._kokoro
    model.has_timings = False
    try:
        (plain,) = kokoro.synthesize("The birch canoe slid.", "jf_alpha", opts)
    finally:
        model.has_timings = True
    assert isinstance(plain, AudioChunk)
    assert plain.words is None
    np.testing.assert_array_equal(timed.audio, plain.audio)
