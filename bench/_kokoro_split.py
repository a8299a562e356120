"""Kokoro's decoder run on windows of frames (issue 15's streaming decoder, measured: a no-go).

Kokoro v1.0's ONNX graph is a front part (BERT + text encoder, duration/F0/energy predictors,
the alignment) and a decoder (AdaIN blocks and the iSTFTNet generator, ~90 % of the time). The
decoder's inputs, at the frame rate of 25 ms (600 samples), are the aligned text features
``asr`` (1×512×T), the pitch ``F0`` and energy ``N`` curves (1×2T each) and the style vector;
its output is T × 600 samples. :func:`split` cuts the graph there once, in memory
(``onnx.utils.Extractor``), into three sessions:

- ``front``: tokens, style, speed → asr, F0, N, phoneme durations;
- ``phase``: F0 → the harmonic source's running phase (the ``CumSum`` of the sine generator,
  1×2T×9 cycles). Computed once over the whole sentence, so every window's harmonics go on in
  phase with the previous window's instead of starting again at zero;
- ``decoder``: style, asr, F0, N and that phase → audio.

Decoding all T frames in one call gives the model's audio sample for sample (the same
operators on the same tensors). A window decodes frames ``[start, end)`` and keeps only its
``core``; the frames around it (``left``/``right`` context) absorb the convolutions' edges.
It is not exact: the decoder's AdaIN normalises over time (the mean and variance of the
window, not of the sentence) and its int8 layers quantise each tensor with the window's own
range. ``bench/kokoro_stream.py`` measures how far that moves the audio (20 zh_eval dev
sentences, whisper-base): 1 s first window, 2 s windows, 0.5 s context → CER 12.2 % → 17.1 %
(worse in 8 sentences, better in none); 2 s / 4 s windows, 1 s context → 14.5 % (worse in 4,
better in 1; 7 sentences fitted one window and were exact). With the whole sentence as left
context and only the right side cut, the waveform SNR is still 6.6 dB: the sentence-wide
statistics, not the seams, move the audio. A diagnostic on one 8 s sentence (the whole decode's
108 AdaIN means/variances and 67 int8 scales fed into every window, which no streaming decoder
can know in advance): 1 s / 2 s windows with 0.5 s context 4.0 dB; with the sentence's AdaIN
statistics 7.3 dB; with its quantisation scales too 18.9 dB; with 2 s context as well 22.7 dB.
So the engine does not stream (a no-go; the engine
code that did is commit b028cdb of branch h-kstream).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

FRAME_SAMPLES = 600
"""Samples per decoder frame (24 kHz, 25 ms)."""

_ASR = "/encoder/MatMul_1_output_0"
_F0 = "/encoder/Reshape_output_0"
_N = "/encoder/Reshape_1_output_0"
_DURATIONS = "/encoder/Cast_output_0"
_PHASE = "/decoder/decoder/generator/m_source/l_sin_gen/CumSum_output_0"
_NAMES = (_ASR, _F0, _N, _DURATIONS, _PHASE)


@dataclass(frozen=True, slots=True)
class Window:
    """Frames ``[start, end)`` decoded to keep ``[core_start, core_end)``."""

    start: int
    end: int
    core_start: int
    core_end: int


def windows(frames: int, *, first: int, chunk: int, left: int, right: int) -> list[Window]:
    """Cover ``frames`` frames with cores of ``first`` frames, then ``chunk`` frames each.

    A last core shorter than half a ``chunk`` joins the one before it (a tiny window costs its
    context for little audio). Each window reaches ``left``/``right`` frames beyond its core,
    within the sentence.
    """
    cuts = [0]
    at = min(first, frames)
    while at < frames:
        cuts.append(at)
        at += chunk
    cuts.append(frames)
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < chunk // 2:
        del cuts[-2]
    return [Window(max(0, a - left), min(frames, b + right), a, b) for a, b in itertools.pairwise(cuts)]


@dataclass(frozen=True, slots=True)
class Features:
    """What the front part made of one batch of tokens, for the decoder."""

    style: np.ndarray
    asr: np.ndarray
    f0: np.ndarray
    n: np.ndarray
    phase: np.ndarray
    durations: np.ndarray

    @property
    def frames(self) -> int:
        """Decoder frames (the sentence is ``frames × FRAME_SAMPLES`` samples)."""
        return int(self.asr.shape[2])


class SplitKokoro:
    """The kokoro graph as front, phase and decoder sessions (see the module docstring).

    Args:
        model: the ONNX model's bytes (as loaded by the engine).
        session: builds an ONNX Runtime session from model bytes (the engine's thread settings).

    Raises:
        ValueError: the graph lacks one of the tensors the split needs (another export).
    """

    def __init__(self, model: bytes, session: Any) -> None:
        import onnx
        from onnx.utils import Extractor

        if any(name.encode() not in model for name in _NAMES):
            raise ValueError("not kokoro v1.0's graph: cannot split it into front and decoder")
        extractor = Extractor(onnx.load_from_string(model))
        inputs = ["tokens", "style", "speed"]
        self._front = session(
            extractor.extract_model(inputs, [_ASR, _F0, _N, _DURATIONS]).SerializeToString()
        )
        self._phase = session(extractor.extract_model([_F0], [_PHASE]).SerializeToString())
        decoder = extractor.extract_model(["style", _ASR, _F0, _N, _PHASE], ["audio"])
        self._decoder = session(decoder.SerializeToString())

    def front(self, tokens: list[int], style: np.ndarray, speed: float) -> Features:
        """Run the front part on one batch of tokens (kokoro-onnx's ids, without the pads)."""
        style = np.asarray(style, dtype=np.float32).reshape(1, -1)
        asr, f0, n, durations = self._front.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style,
                "speed": np.array([speed], dtype=np.float32),
            },
        )
        (phase,) = self._phase.run(None, {_F0: f0})
        return Features(style, asr, f0, n, phase, np.asarray(durations).ravel())

    def decode(self, features: Features, window: Window) -> np.ndarray:
        """The audio of ``window``'s core."""
        a, b = window.start, window.end
        (audio,) = self._decoder.run(
            None,
            {
                "style": features.style,
                _ASR: features.asr[:, :, a:b],
                _F0: features.f0[:, 2 * a : 2 * b],
                _N: features.n[:, 2 * a : 2 * b],
                _PHASE: features.phase[:, 2 * a : 2 * b],
            },
        )
        samples = np.asarray(audio, dtype=np.float32).ravel()
        return samples[(window.core_start - a) * FRAME_SAMPLES : (window.core_end - a) * FRAME_SAMPLES]

    def stream(self, features: Features, plan: list[Window]) -> Iterator[np.ndarray]:
        """Each window's core audio, in order."""
        for window in plan:
            yield self.decode(features, window)
