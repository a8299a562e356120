"""The voice-control bench's pure helpers on synthetic signals and transcripts (no server, no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _audio_measure import longest_silence_s, median_f0, rms, semitones, speech_span_s
from _metrics import Scorer
from voice_control import Expect, digit_string, heard, spell_dollars

RATE = 16000


def _tone(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    # a pulse-like voiced signal: fundamental plus harmonics, as speech has
    wave = sum(np.sin(2 * np.pi * k * hz * t) / k for k in range(1, 6))
    return (amplitude * wave / np.max(np.abs(wave))).astype(np.float32)


@pytest.mark.parametrize("hz", [75.0, 110.0, 220.0, 330.0])
def test_median_f0_finds_the_fundamental_within_a_quarter_semitone(hz: float) -> None:
    """Autocorrelation F0 of a harmonic tone is its fundamental (no octave error, sub-sample lag)."""
    assert abs(semitones(median_f0(_tone(hz, 0.5), RATE), hz)) < 0.25


def test_median_f0_ignores_quiet_frames_and_is_nan_on_silence() -> None:
    """Frames below a tenth of the loudest do not vote; silence has no F0."""
    clip = np.concatenate([_tone(200.0, 0.4), 0.01 * _tone(90.0, 0.4, amplitude=1.0)])
    assert abs(semitones(median_f0(clip, RATE), 200.0)) < 0.25
    assert math.isnan(median_f0(np.zeros(RATE, dtype=np.float32), RATE))


def test_longest_silence_and_speech_span_ignore_the_edges() -> None:
    """A 500 ms gap between two tones measures 500 ms; leading and trailing silence do not count."""
    gap = np.zeros(int(0.5 * RATE), dtype=np.float32)
    edge = np.zeros(int(0.8 * RATE), dtype=np.float32)
    clip = np.concatenate([edge, _tone(150.0, 0.3), gap, _tone(150.0, 0.2), edge])
    assert longest_silence_s(clip, RATE) == pytest.approx(0.5, abs=0.01)
    assert speech_span_s(clip, RATE) == pytest.approx(1.0, abs=0.01)


def test_rms_ratio_of_a_6_db_gain_is_two() -> None:
    """+6.02 dB doubles the RMS (what the volume row compares against)."""
    tone = _tone(150.0, 0.3, amplitude=0.2)
    assert rms(tone * 10 ** (6.02 / 20)) / rms(tone) == pytest.approx(2.0, rel=1e-3)


def test_digits_are_read_from_words_numerals_and_yao() -> None:
    """Telephone numbers compare as digits whether whisper writes words, digits or 幺."""
    assert digit_string("five five five, 0123") == "5550123"
    assert digit_string("请拨打幺零零八六") == "10086"


def test_heard_normalises_numbers_like_the_quality_bench() -> None:
    """Whisper's "1,234" and "$3.50" match the words voxgate reads; a forbidden word fails."""
    scorer = Scorer()
    assert heard(Expect((("one thousand two hundred thirty four",),)), "We saw 1,234 birds.", "en", scorer)
    assert heard(Expect((("three dollars",), ("fifty cents",))), "It costs $3.50 here", "en", scorer)
    assert heard(Expect((("一千二百三十四",),)), "我们数了1234只鸟", "zh", scorer)
    assert not heard(Expect((("as soon as possible",),), absent=("asap",)), "ASAP", "en", scorer)
    assert spell_dollars("$3.50") == " 3 dollars and 50 cents "


def test_median_f0_reads_a_low_breathy_voice_shifted_down() -> None:
    """piper's voice (~88 Hz, with its noise) resampled 4 st down measures −4 st (autocorr. read ~−2)."""
    import soxr  # type: ignore[import-untyped, unused-ignore]

    from voxgate.engines.piper import PiperEngine
    from voxgate.types import SynthesisOptions

    engine = PiperEngine(threads=1)
    engine.load()
    text = "The quick brown fox jumps over the lazy dog."
    (chunk,) = engine.synthesize(text, "joe", SynthesisOptions())
    lower = soxr.resample(chunk.audio, chunk.sample_rate * 2 ** (-4 / 12), chunk.sample_rate)
    shift = semitones(median_f0(lower, chunk.sample_rate), median_f0(chunk.audio, chunk.sample_rate))
    assert abs(shift + 4.0) < 0.6
