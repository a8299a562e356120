"""Piper's VITS graph cut in three, so a sentence's first audio comes before the whole is decoded.

A piper voice is one ONNX graph: text encoder and duration predictor (phoneme ids → the prior
latent ``z_p`` over audio frames and each phoneme id's frames), the flow (``z_p`` → ``z``) and the
HiFi-GAN decoder (``z`` → audio, 256 samples a frame). The flow and the decoder are convolutions
along time, so a stretch of frames can be computed from the stretch plus some frames either side
(their receptive fields: measured on joe, the decoder's output is exact, within float rounding,
with 10 frames either side and within 7e-4 with 8; the flow's with 32). This module cuts the graph
with ``onnx.utils.Extractor`` once, at load, in memory, into three sessions and runs:

1. the front once per sentence (cheap: it works on phonemes, and expands them to frames);
2. the flow twice: on the frames the first window needs, then on everything after;
3. the decoder window by window: the first window small (first audio early), each next one
   :attr:`Windows.growth` times longer (fewer context frames decoded twice), so a window is
   ready long before the one before it has played.

Each window is decoded with :attr:`Windows.context` frames of ``z`` either side, whose audio is
dropped (no cross-fade: the context makes the seams exact enough, see the test).

The tensor names are found from the graph's shape, not hard-coded: the decoder starts with a
``Conv`` named ``.../dec/conv_pre/...`` whose input is ``z × mask``; the flow's nodes are named
``/flow/...`` and the first of them reads ``z_p``; the phoneme durations are the graph's one
``Ceil`` (what piper's own alignment patch exposes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from voxgate.engines._onnx import cpu_session
from voxgate.types import Audio

HOP = 256
"""Audio samples per latent frame (piper's ``hop_length``)."""


@dataclass(frozen=True, slots=True)
class Windows:
    """How a sentence's frames are cut into decoder windows.

    Attributes:
        first: frames in the first window (20 frames = 232 ms of audio at 22.05 kHz).
        growth: each next window is this many times longer than the one before it.
        context: frames of ``z`` decoded either side of a window and dropped.
        flow_context: frames of ``z_p`` the flow gets either side of what it must compute.
    """

    first: int = 20
    growth: float = 3.0
    context: int = 10
    flow_context: int = 32


@dataclass(frozen=True, slots=True)
class Latent:
    """A sentence after the front: the prior latent, its mask and the frames of each phoneme id."""

    z_p: Any  # float32 [1, 192, frames]
    mask: Any  # float32 [1, 1, frames]
    frames_per_id: Any  # float32 [n_ids]

    @property
    def frames(self) -> int:
        """Audio frames of the sentence."""
        return int(self.z_p.shape[2])


class StreamingVits:
    """The three sessions of one piper voice (see the module docstring).

    Args:
        model: the voice's ``onnx.ModelProto`` (already patched to output the durations or not).
        threads: ONNX Runtime intra-op threads of each session.

    Raises:
        ValueError: the graph is not shaped like a piper VITS export.
    """

    def __init__(self, model: Any, threads: int) -> None:
        from onnx.utils import Extractor

        names = _tensor_names(model)
        inputs = [i.name for i in model.graph.input]
        extractor = Extractor(model)
        front = extractor.extract_model(inputs, [names.z_p, names.mask, names.durations])
        flow = extractor.extract_model([names.z_p, names.mask], [names.flow_out])
        decoder = extractor.extract_model([names.decoder_in], [model.graph.output[0].name])
        self._names = names
        self._inputs = inputs
        self._front = cpu_session(front.SerializeToString(), threads)
        self._flow = cpu_session(flow.SerializeToString(), threads)
        self._decoder = cpu_session(decoder.SerializeToString(), threads)

    def front(self, phoneme_ids: list[int], scales: Any) -> Latent:
        """Run the text encoder and duration predictor (with the sentence's noise) on one sentence."""
        ids = np.array([phoneme_ids], dtype=np.int64)
        feeds = {"input": ids, "input_lengths": np.array([ids.shape[1]], np.int64), "scales": scales}
        z_p, mask, durations = self._front.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        return Latent(z_p, mask, np.asarray(durations, np.float32).reshape(-1))

    def flow(self, latent: Latent, lo: int, hi: int, context: int) -> Any:
        """``z`` of frames ``[lo, hi)``, from ``z_p`` with ``context`` frames either side."""
        a, b = max(0, lo - context), min(latent.frames, hi + context)
        feeds = {self._names.z_p: latent.z_p[:, :, a:b], self._names.mask: latent.mask[:, :, a:b]}
        (z,) = self._flow.run(None, feeds)
        return (z * latent.mask[:, :, a:b])[:, :, lo - a : hi - a]

    def decode(self, z: Any) -> Audio:
        """The decoder's audio for ``z`` (``[1, 192, n]`` → ``n × 256`` samples)."""
        (audio,) = self._decoder.run(None, {self._names.decoder_in: z})
        return np.asarray(audio, np.float32).reshape(-1)

    def audio(self, latent: Latent, windows: Windows = Windows()) -> Iterator[tuple[Audio, bool]]:
        """The sentence's raw audio (before piper's volume and normalisation), window by window,
        each with whether it is the last.

        Concatenated, the windows are the decoder's audio for the whole ``z`` (to within the
        context's error); a sentence shorter than two first windows comes in one.
        """
        total = latent.frames
        ctx = windows.context
        if total <= 2 * windows.first:
            yield self.decode(self.flow(latent, 0, total, windows.flow_context)), True
            return
        head_end = min(total, windows.first + ctx)
        head = self.flow(latent, 0, head_end, windows.flow_context)  # [0, head_end)
        rest_from = windows.first - ctx
        rest = self.flow(latent, rest_from, total, windows.flow_context)  # [rest_from, total)
        start, size = 0, windows.first
        while start < total:
            end = min(total, start + size)
            if total - end < size // 2:  # a tail shorter than half a window joins this one
                end = total
            lo, hi = max(0, start - ctx), min(total, end + ctx)
            z = head[:, :, lo:hi] if hi <= head_end else rest[:, :, lo - rest_from : hi - rest_from]
            audio = self.decode(z)
            yield audio[(start - lo) * HOP : (end - lo) * HOP], end == total
            start, size = end, max(1, round(size * windows.growth))


PEAK_FLOOR = 0.5
"""The peak a streamed sentence is levelled to at the least (see :class:`Leveller`): joe's raw
sentence peaks on 30 Harvard sentences are 0.36 / 0.47 / 0.71 (5th / 50th / 95th percentile)."""
RAMP = 256
"""Samples over which a streamed sentence's gain moves to a lower one (no step in the level)."""


class Leveller:
    """Piper's level for a sentence that comes in windows.

    Piper scales each sentence to its peak (``normalize_audio``), then by ``volume``: a stream
    cannot know the peak before its last window. This scales each window by ``volume / peak so
    far`` (at least :data:`PEAK_FLOOR`, so a quiet onset is not blown up), moving from the previous
    window's gain over :data:`RAMP` samples, and clips as piper does. The gain only goes down
    within a sentence, so nothing clips that piper would not; where the loudest moment comes late,
    the start is louder than piper's (by ``peak / max(first peak, floor)``: ≤ 3.1 dB for joe's
    95th-percentile sentence).

    Args:
        volume: piper's ``volume``.
    """

    def __init__(self, volume: float) -> None:
        self._volume = volume
        self._peak = PEAK_FLOOR
        self._gain: float | None = None

    def __call__(self, raw: Audio) -> Audio:
        """``raw`` (one window, in order) at the sentence's level."""
        if len(raw):
            self._peak = max(self._peak, float(np.max(np.abs(raw))))
        gain = self._volume / self._peak
        gains: Any = gain
        if self._gain is not None and self._gain != gain and len(raw):
            n = min(RAMP, len(raw))
            gains = np.full(len(raw), gain, np.float32)
            gains[:n] = np.linspace(self._gain, gain, n, endpoint=False, dtype=np.float32)
        self._gain = gain
        levelled: Audio = np.clip(raw * gains, -1.0, 1.0).astype(np.float32)
        return levelled


@dataclass(frozen=True, slots=True)
class Alignment:
    """One phoneme's audio (the shape :func:`voxgate.engines.piper.word_times` reads)."""

    phoneme: str
    num_samples: int


def alignments(
    phonemes: list[str], phoneme_ids: list[int], frames_per_id: Any, id_map: Any
) -> list[Alignment] | None:
    """Each phoneme's samples (with the padding id after it) from the durations of its ids.

    Piper's ids are ``^`` + pad, each phoneme's ids + pad, ``$``; ``None`` when the ids do not
    follow that (the caller then estimates word times).
    """
    pad = list(id_map.get("_", []))
    at = 0
    out: list[Alignment] = []
    sequence = ["^", *phonemes, "$"]
    for index, phoneme in enumerate(sequence):
        expected = list(id_map.get(phoneme, [])) + (pad if index < len(sequence) - 1 else [])
        if phoneme_ids[at : at + len(expected)] != expected:
            return None
        samples = int(sum(int(f) * HOP for f in frames_per_id[at : at + len(expected)]))
        out.append(Alignment(phoneme, samples))
        at += len(expected)
    return out if at == len(phoneme_ids) == len(frames_per_id) else None


@dataclass(frozen=True, slots=True)
class _Names:
    z_p: str
    mask: str
    flow_out: str
    decoder_in: str
    durations: str


def _tensor_names(model: Any) -> _Names:
    """Find the cut points of a piper VITS graph (see the module docstring).

    Raises:
        ValueError: the graph is not shaped like one.
    """
    nodes = list(model.graph.node)
    producer = {out: node for node in nodes for out in node.output}
    conv_pre = [n for n in nodes if n.op_type == "Conv" and "/dec/conv_pre" in n.name]
    ceils = [n for n in nodes if n.op_type == "Ceil"]
    if len(conv_pre) != 1 or len(ceils) != 1:
        raise ValueError("not a piper VITS graph: no single decoder conv_pre or Ceil")
    decoder_in = conv_pre[0].input[0]
    masking = producer.get(decoder_in)
    if masking is None or masking.op_type != "Mul":
        raise ValueError("not a piper VITS graph: the decoder's input is not z × mask")
    flow_out, mask = masking.input[0], masking.input[1]
    flow_nodes = [n for n in nodes if n.name.startswith("/flow/")]  # in topological order
    if not flow_nodes or not flow_nodes[0].input:
        raise ValueError("not a piper VITS graph: no flow")
    z_p = flow_nodes[0].input[0]
    return _Names(z_p, mask, flow_out, decoder_in, ceils[0].output[0])
