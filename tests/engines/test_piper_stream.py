"""Piper's streaming decoder: a sentence in pieces is the same speech as the one-call answer."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from voxgate.engines._piper_stream import HOP, Leveller, Windows
from voxgate.engines.piper import PiperEngine
from voxgate.types import AudioChunk, SynthesisOptions, merge_partials

TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."


@pytest.fixture(scope="module")
def engine() -> Iterator[PiperEngine]:
    """Joe without noise, so two calls give the same latent."""
    engine = PiperEngine(threads=1, noise_scale=0.0, noise_w_scale=0.0)
    engine.load()
    return engine


def test_windows_decode_exactly_what_one_call_decodes(engine: PiperEngine) -> None:
    """The decoder run window by window (with context) gives the one-call audio within 1e-4."""
    streaming = engine._streaming
    assert streaming is not None
    voice = engine._voice
    ids = voice.phonemes_to_ids(voice.phonemize(TEXT)[0])
    latent = streaming.front(ids, np.array([0.0, 1.0, 0.0], np.float32))
    whole = streaming.decode(streaming.flow(latent, 0, latent.frames, 0))
    windows = list(streaming.audio(latent, Windows()))
    streamed = np.concatenate([audio for audio, _ in windows])
    assert len(windows) >= 3
    assert [last for _, last in windows] == [False] * (len(windows) - 1) + [True]
    assert len(windows[0][0]) == Windows().first * HOP
    assert len(streamed) == len(whole) == latent.frames * HOP
    assert float(np.max(np.abs(streamed - whole))) < 1e-4


def test_a_streamed_answer_is_the_same_speech_as_the_whole_one(engine: PiperEngine) -> None:
    """Pieces, then one final chunk per sentence with its text and words; merged, the same length,
    words and waveform (correlation ≥ 0.98) as the whole answer, its level within 3 dB."""
    whole = list(engine.synthesize(TEXT, "joe", SynthesisOptions()))
    pieces = list(engine.synthesize(TEXT, "joe", SynthesisOptions(stream=True)))
    assert len(pieces) > len(whole) == 2
    assert all(c.final for c in whole)  # without ``stream``: one whole chunk per sentence, as before
    for chunk in pieces:
        assert chunk.final or (chunk.text == "" and chunk.words is None)
    merged = merge_partials(pieces)
    assert [c.text for c in merged] == [c.text for c in whole]
    for streamed, one in zip(merged, whole, strict=True):
        assert streamed.words == one.words is not None
        assert len(streamed.audio) == len(one.audio)
        assert float(np.corrcoef(streamed.audio, one.audio)[0, 1]) > 0.98
        level_db = 20 * np.log10(_rms(streamed) / _rms(one))
        assert abs(level_db) < 3.0


def test_the_leveller_only_lowers_the_gain_and_ramps_to_it() -> None:
    """A louder window lowers the gain from its start over a ramp; nothing is above 1."""
    level = Leveller(0.95)
    quiet = level(np.full(1000, 0.25, np.float32))
    loud = level(np.full(1000, 0.8, np.float32))
    assert quiet[0] == pytest.approx(0.25 * 0.95 / 0.5)  # the floor: a quiet onset is not blown up
    assert loud[-1] == pytest.approx(0.95)
    assert loud[0] > loud[-1]
    assert np.all(np.diff(loud) <= 1e-7)
    assert float(np.max(np.abs(loud))) <= 1.0


def _rms(chunk: AudioChunk) -> float:
    return float(np.sqrt(np.mean(chunk.audio.astype(np.float64) ** 2)))
