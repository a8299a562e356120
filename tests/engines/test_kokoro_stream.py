"""Kokoro with ``opts.stream``: a sentence comes window by window, as the same speech as whole."""

from __future__ import annotations

import numpy as np
import pytest

from voxgate.engines._kokoro_stream import windows
from voxgate.engines.base import Engine
from voxgate.engines.kokoro import KokoroEngine
from voxgate.types import AudioChunk, SynthesisOptions

LONG = "今天上午在北京召开会议。"
"""~2.5 s of speech: two windows (1 s, then the rest)."""
SHORT = "你好。"
"""Under 2 s: one window, i.e. the decoder on every frame at once."""


@pytest.fixture(scope="module")
def kokoro(engines: dict[str, Engine]) -> KokoroEngine:
    engine = engines["kokoro"]
    assert isinstance(engine, KokoroEngine)
    return engine


def _speak(engine: KokoroEngine, text: str, *, stream: bool) -> list[AudioChunk]:
    return list(engine.synthesize(text, "jf_alpha", SynthesisOptions(language="zh", stream=stream)))


def _bands_db(audio: np.ndarray, bands: int = 40, size: int = 1024, hop: int = 256) -> np.ndarray:
    """Log power in ``bands`` mel-spaced bands per frame (a mel spectrogram without librosa)."""
    frames = np.lib.stride_tricks.sliding_window_view(audio, size)[::hop] * np.hanning(size)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = 2595 * np.log10(1 + np.fft.rfftfreq(size, 1 / 24000) / 700)
    edges = np.linspace(0, mel[-1] + 1e-9, bands + 1)
    band = np.digitize(mel, edges) - 1
    summed = np.stack([power[:, band == k].sum(axis=1) for k in range(bands)], axis=1)
    return np.asarray(10 * np.log10(summed + 1e-10))


def test_windows_cover_every_frame_once_with_context_inside_the_sentence() -> None:
    """Cores tile the frames in order (first core, then chunks; a short tail joins the last);
    each window adds context on both sides, clipped to the sentence."""
    plan = windows(200, first=40, chunk=80, left=20, right=20)
    assert [(w.core_start, w.core_end) for w in plan] == [(0, 40), (40, 120), (120, 200)]
    assert [(w.start, w.end) for w in plan] == [(0, 60), (20, 140), (100, 200)]
    assert [(w.core_start, w.core_end) for w in windows(150, first=40, chunk=80, left=20, right=20)] == [
        (0, 40),
        (40, 150),
    ]
    assert [(w.start, w.end) for w in windows(70, first=40, chunk=80, left=20, right=20)] == [(0, 70)]
    tiny = windows(30, first=40, chunk=80, left=20, right=20)
    assert [(w.core_start, w.core_end) for w in tiny] == [(0, 30)]


def test_a_streamed_sentence_is_pieces_then_one_final_chunk_with_the_whole_text_and_words(
    kokoro: KokoroEngine,
) -> None:
    """With ``stream`` a 2.5 s sentence comes as non-final pieces (no text, no words) and a final
    chunk with the sentence's text and words; the audio is the whole-sentence audio's length
    (± 4 trim hops, 85 ms of trailing silence) and spectrum (within the bound measured)."""
    (whole,) = _speak(kokoro, LONG, stream=False)
    streamed = _speak(kokoro, LONG, stream=True)
    assert len(streamed) >= 2
    assert all(not c.final and c.text == "" and c.words is None for c in streamed[:-1])
    last = streamed[-1]
    assert last.final
    assert whole.final
    assert last.text == whole.text == LONG
    assert whole.words is not None
    assert last.words is not None
    assert [w[:2] for w in last.words] == [w[:2] for w in whole.words]
    assert np.allclose([w[2:] for w in last.words], [w[2:] for w in whole.words], atol=0.03)
    audio = np.concatenate([c.audio for c in streamed])
    assert abs(len(audio) - len(whole.audio)) <= 4 * 512  # where the trailing silence is trimmed
    n = min(len(audio), len(whole.audio))
    reference, other = _bands_db(whole.audio[:n]), _bands_db(audio[:n])
    loud = reference > reference.max() - 60
    distance = float(np.abs(reference - other)[loud].mean())
    print(f"log-band distance {distance:.2f} dB")
    assert distance < 6.0
    assert float(np.max(np.abs(audio))) <= 0.99


def test_a_sentence_of_one_window_streams_as_exactly_the_models_audio(kokoro: KokoroEngine) -> None:
    """A sentence short enough for one window is decoded on all its frames at once: the split
    graph gives the model's own audio sample for sample, with the same words."""
    (whole,) = _speak(kokoro, SHORT, stream=False)
    (streamed,) = _speak(kokoro, SHORT, stream=True)
    assert streamed.final
    assert streamed.text == whole.text
    assert np.array_equal(streamed.audio, whole.audio)
    assert streamed.words == whole.words
