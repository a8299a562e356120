"""What engines make of SSML's pitch and phonemes: espeak's pitch parameter, kokoro's pinyin input."""

from __future__ import annotations

from voxgate.engines._pitch import pitch_factor
from voxgate.engines.espeak import espeak_pitch
from voxgate.engines.kokoro import KokoroEngine


def test_espeak_pitch_maps_semitones_onto_its_0_to_100_scale() -> None:
    """0 st is espeak's default 50; the measured steps; beyond what espeak can do is clamped."""
    assert espeak_pitch(0) == 50
    assert espeak_pitch(6) == 84
    assert espeak_pitch(-6) == 6
    assert (espeak_pitch(30), espeak_pitch(-30)) == (100, 0)


def test_the_resample_shift_is_clamped_to_an_octave() -> None:
    """A pitch change is a frequency factor 2^(st/12), at most one octave either way."""
    assert pitch_factor(12) == 2.0
    assert pitch_factor(24) == 2.0
    assert pitch_factor(-12) == 0.5


def test_kokoro_reads_pinyin_with_tone_marks_or_numbers_alike() -> None:
    """<phoneme alphabet="pinyin">: tone marks and tone numbers give the same kokoro phonemes."""
    marks = KokoroEngine._given_phonemes("zhōng guó", "pinyin")
    assert marks == KokoroEngine._given_phonemes("zhong1 guo2", "pinyin")
    assert marks == "ꭧʊ→ŋkwo↗"
    assert KokoroEngine._given_phonemes("həˈloʊ", "ipa") == "həˈloʊ"
