"""Kokoro's own phoneme durations, for word timestamps.

Kokoro's duration predictor decides how many frames each phoneme lasts (``pred_dur``: the
rounded, clamped durations ``/encoder/Clip``, cast to integers by ``/encoder/Cast``), but the
v1.0 export returns only the audio. :func:`with_durations` exposes that tensor as a second
output named ``duration`` — the name kokoro-onnx looks for (``Kokoro.has_timings``), after which
its ``create_timed`` reports when every phoneme is spoken. One frame is 600 samples at 24 kHz
(25 ms); kokoro-onnx scales the frame counts to the audio's length, so it need not know that.

The patch is appended to the model's bytes rather than made by parsing it with ``onnx``: a
protobuf parser merges a message field that appears twice, and appends to its repeated fields,
so ``model + ModelProto(graph=GraphProto(node=[Identity], output=[duration]))`` reads as the
model with one more node and one more output. That costs a 90 MB copy (~0.2 s), where
``onnx.load`` and re-serialising cost ~2.5 s and twice the memory on every worker start.
Nothing else in the graph changes; the audio is the same sample for sample.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from voxgate.text.words import spoken_words
from voxgate.types import WordTimes

DURATION_OUTPUT = "duration"
_PRED_DUR = "/encoder/Cast_output_0"
"""``pred_dur`` as int64 (the Cast after ``/encoder/Clip``) in kokoro v1.0's ONNX export."""


def with_durations(model_path: Path) -> bytes | None:
    """The model's bytes with ``pred_dur`` as the extra output ``duration``, or ``None`` when the
    ``onnx`` package is missing or the graph has no such tensor (timestamps are then estimated)."""
    try:
        from onnx import GraphProto, ModelProto, TensorProto, helper
    except ImportError:
        return None
    data = model_path.read_bytes()
    if _PRED_DUR.encode() not in data:
        return None  # another export: no such tensor
    node = helper.make_node("Identity", [_PRED_DUR], [DURATION_OUTPUT], name="voxgate_pred_dur")
    output = helper.make_tensor_value_info(DURATION_OUTPUT, TensorProto.INT64, None)
    patch: bytes = ModelProto(graph=GraphProto(node=[node], output=[output])).SerializeToString()
    return data + patch


_SILENT = frozenset(';:,.!?¡¿—…"«»“”()')
"""Kokoro's punctuation phonemes: pauses, not sounds of a word."""
_MARKS = frozenset("ˈˌːˑ↗↘↓→↑")
"""Stress, length and (Chinese) tone marks: not sounds of their own, and where a word read alone
differs most from the same word in its sentence; left out when the two are lined up."""


def sounding(phonemes: str) -> str:
    """``phonemes`` without spaces, punctuation, stress, length and tone marks."""
    return "".join(p for p in phonemes if p != " " and p not in _SILENT and p not in _MARKS)


def word_times(
    text: str, timings: Sequence[Any], scale: float, phonemize: Callable[[str], str]
) -> WordTimes | None:
    """The words of ``text`` timed from kokoro's phoneme timings.

    The sentence's sounding phonemes (as spoken) are lined up symbol by symbol with the words'
    phonemes (each word read alone) by a longest-matching-blocks diff; a word runs from the
    first to the last of its symbols that found a partner. So a Chinese word of several
    characters (one G2P word, each character a word of ``text``) is timed per character, and
    espeak's contextual forms (``for the`` → ``fɚðə``) still line up by their shared symbols.
    A word whose first symbol opens a G2P word starts where the space before it starts (the
    convention of piper's alignments and of whisper); a pause at punctuation belongs to no word.
    Linear in practice (``difflib`` on one sentence, ≤ ~1000 symbols).

    Args:
        text: what was spoken.
        timings: kokoro-onnx's ``Timing`` per phoneme (``phoneme``, ``start``, ``end`` in seconds
            of the model's audio).
        scale: the factor the audio is sped up by when played (the pitch shift's rate change).
        phonemize: a text word's phonemes on its own.

    Returns:
        The timed words of ``text`` (those no symbol of which lined up are left out), or ``None``
        when there are no timings or under half the words lined up (the caller estimates then).
    """
    spans = spoken_words(text)
    if not timings or not spans:
        return None
    spoken: list[str] = []
    times: list[tuple[float, float]] = []  # per sounding phoneme: (start, end); start from its break
    lead: float | None = 0.0  # where the break before the next G2P word began
    for phoneme, start, end in [(str(t.phoneme), float(t.start), float(t.end)) for t in timings]:
        if phoneme == " " or phoneme in _SILENT:
            lead = start if phoneme == " " else end
        elif phoneme not in _MARKS:
            spoken.append(phoneme)
            times.append((min(start, lead) if lead is not None else start, end))
            lead = None
    written: list[str] = []
    owner: list[int] = []  # per symbol of ``written``: its word
    for k, (a, b) in enumerate(spans):
        symbols = sounding(phonemize(text[a:b]))
        written.append(symbols)
        owner += [k] * len(symbols)
    partner: list[int | None] = [None] * len(owner)
    matcher = difflib.SequenceMatcher(None, "".join(written), "".join(spoken), autojunk=False)
    for block in matcher.get_matching_blocks():
        for n in range(block.size):
            partner[block.a + n] = block.b + n
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for k, at in zip(owner, partner, strict=True):
        if at is not None:
            first.setdefault(k, at)
            last[k] = at
    if 2 * len(first) < len(spans):
        return None
    return tuple(
        (spans[k][0], spans[k][1], times[first[k]][0] / scale, times[last[k]][1] / scale)
        for k in sorted(first)
    )
