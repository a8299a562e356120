"""Word, sentence and mark timestamps of an answer, in the user's own words.

The engines time the words they spoke (:attr:`voxgate.types.AudioChunk.words`: espeak's word
events, piper's phoneme alignments, kokoro's phoneme durations) or, when they cannot, the words
are estimated: each chunk's sounding stretch is shared out by word length. A word ends at its last
sounding frame (espeak's words run on through the pause after a comma); an engine-timed word
starts where the short break before it starts (the convention of piper's alignments and of
whisper), an estimated one at its first sounding frame.

The spoken words are the normalised ones; :func:`voxgate.text.words.align` maps them back to
the words the user wrote, so ``$3.50`` is one word from the start of "three" to the end of
"cents". A chunk's place in the answer comes from :func:`voxgate.audio.assemble.assemble`
(``starts``), so breaks, pauses, speed and resampling are all accounted for.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from voxgate.text import PreparedText
from voxgate.text.clean import clean_text
from voxgate.text.dialogue import DialogueTurn
from voxgate.text.ssml import SsmlText, parse_ssml
from voxgate.text.words import Word, align, spoken_words, user_words
from voxgate.types import Audio, AudioChunk

__all__ = [
    "TimedMark",
    "TimedText",
    "Timestamps",
    "WordTimer",
    "merge",
    "pack_timestamps",
    "unpack_timestamps",
]

_FRAME_S = 0.01
"""Frames of this length decide where a word's audio is silent."""
_SILENT_RATIO = 0.06
"""A frame is silent below this fraction of the chunk's loud (95th percentile) frame level."""


@dataclass(frozen=True, slots=True)
class TimedText:
    """A word or sentence and when it is spoken (seconds from the start of the answer).

    Attributes:
        turn: in a dialogue, the index of the turn it belongs to (``None`` otherwise).
        voice: in a dialogue, that turn's voice.
    """

    text: str
    start: float
    end: float
    turn: int | None = None
    voice: str | None = None


@dataclass(frozen=True, slots=True)
class TimedMark:
    """An SSML ``<mark>`` and when it is reached."""

    name: str
    time: float


@dataclass(frozen=True, slots=True)
class Timestamps:
    """The timestamps of an answer, or of one streamed piece of it.

    Attributes:
        words: the user's words, in order.
        sentences: per segment, the user's text it speaks.
        marks: SSML marks reached.
        estimated: some words had no engine alignment and were estimated.
        indexes: each word's place among the user's words (a word split over two segments
            has the same index in both).
    """

    words: tuple[TimedText, ...] = ()
    sentences: tuple[TimedText, ...] = ()
    marks: tuple[TimedMark, ...] = ()
    estimated: bool = False
    indexes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready, times in seconds rounded to milliseconds."""
        return {
            "words": [_timed(w) for w in self.words],
            "sentences": [_timed(s) for s in self.sentences],
            "marks": [{"name": m.name, "time": round(m.time, 3)} for m in self.marks],
            "timing": "estimate" if self.estimated else "engine",
        }


def _timed(item: TimedText) -> dict[str, object]:
    out: dict[str, object] = {"text": item.text, "start": round(item.start, 3), "end": round(item.end, 3)}
    if item.turn is not None:
        out |= {"turn": item.turn, "voice": item.voice}
    return out


def _cleaned(text: str) -> str:
    return clean_text(text, max_chars=4 * len(text) + 16)  # cleaning may widen (NFKC)


class WordTimer:
    """Times one request's words, segment by segment.

    Args:
        text: the request's text as the user sent it (an SSML document when ``ssml``).
        prepared: its front-end result (the segments the engines spoke).
        ssml: ``text`` is SSML.
        dialogue: a dialogue's turns, spoken instead of ``text``: each turn's words are aligned
            with its own segments (``PreparedSegment.turn``) and carry its index and voice.
    """

    def __init__(
        self,
        text: str,
        prepared: PreparedText,
        *,
        ssml: bool,
        dialogue: Sequence[DialogueTurn] | None = None,
    ) -> None:
        self._prepared = prepared
        self._sources: list[tuple[str, int | None, str | None]] = []  # original text, turn, voice
        self._words: list[Word] = []
        self._word_source: list[int] = []
        self._owners: list[list[int]] = [[] for _ in prepared.segments]
        if dialogue is not None:
            by_turn: dict[int | None, list[int]] = {}
            for i, segment in enumerate(prepared.segments):
                by_turn.setdefault(segment.turn, []).append(i)
            for turn, spoken in enumerate(dialogue):
                self._add(_cleaned(spoken.text), by_turn.get(turn, []), turn, spoken.voice)
            return
        if ssml:
            document = parse_ssml(text, known_voice=lambda _voice: True)
            original = " ".join(i.text.strip() for i in document.items if isinstance(i, SsmlText))
        else:
            original = _cleaned(text)
        self._add(original, range(len(prepared.segments)), None, None)

    def _add(self, original: str, indexes: Sequence[int], turn: int | None, voice: str | None) -> None:
        """Align the user's words of ``original`` with the spoken words of segments ``indexes``."""
        source = len(self._sources)
        self._sources.append((original, turn, voice))
        words = user_words(original)
        first = len(self._words)
        self._words += words
        self._word_source += [source] * len(words)
        per_segment = [
            [s[a:b] for a, b in spoken_words(s)] for s in (self._prepared.segments[i].text for i in indexes)
        ]
        owners = align([w.text for w in words], [w for spoken in per_segment for w in spoken])
        at = 0
        for index, spoken in zip(indexes, per_segment, strict=True):
            self._owners[index] = [first + k for k in owners[at : at + len(spoken)]]
            at += len(spoken)

    def source_text(self, index: int) -> str:
        """The user's text segment ``index`` speaks, with the punctuation around it ("" when none
        of the user's words is in it)."""
        owners = self._owners[index]
        if not owners:
            return ""
        original = self._sources[self._word_source[owners[0]]][0]
        start, end = self._words[owners[0]].start, self._words[owners[-1]].end
        while start > 0 and unicodedata.category(original[start - 1])[0] == "P":
            start -= 1
        while end < len(original) and unicodedata.category(original[end])[0] == "P":
            end += 1
        return original[start:end]

    def segment(
        self, index: int, chunks: Sequence[AudioChunk], starts: Sequence[float], *, streamed: bool = False
    ) -> Timestamps:
        """The timestamps of segment ``index``: the user's words it speaks and the marks before it.

        A word split over two segments (a long sentence cut inside ``$3.50``) is in both; when
        ``streamed``, only in the first (ending where that segment's part of it ends), so a stream
        never sends a word twice; :func:`merge` joins the two of a whole answer.

        Args:
            index: the segment.
            chunks: the engine's chunks for it.
            starts: each chunk's start in the answer (seconds).
            streamed: leave out a word the previous segment began.
        """
        owners = self._owners[index]
        timed, estimated = _segment_times(self._prepared.segments[index].text, chunks, starts)
        start = starts[0] if starts else 0.0
        marks = tuple(TimedMark(name, start) for name, at in self._prepared.marks if at == index)
        if not owners or len(timed) != len(owners):
            return Timestamps(marks=marks, estimated=estimated)
        spans: dict[int, tuple[float, float]] = {}
        for owner, (a, b) in zip(owners, timed, strict=True):
            known = spans.get(owner)
            spans[owner] = (a, b) if known is None else (min(known[0], a), max(known[1], b))
        if streamed and index > 0 and self._owners[index - 1]:
            spans.pop(self._owners[index - 1][-1], None)
            if not spans:
                return Timestamps(marks=marks, estimated=estimated)
        ordered = sorted(spans.items())
        original, turn, voice = self._sources[self._word_source[ordered[0][0]]]
        words = tuple(TimedText(self._words[k].text, a, b, turn, voice) for k, (a, b) in ordered)
        first, last = self._words[ordered[0][0]], self._words[ordered[-1][0]]
        sentence = TimedText(original[first.start : last.end], words[0].start, words[-1].end, turn, voice)
        return Timestamps(words, (sentence,), marks, estimated, tuple(k for k, _ in ordered))

    def end_marks(self, at: float) -> tuple[TimedMark, ...]:
        """Marks after the last segment, reached at ``at``."""
        count = len(self._prepared.segments)
        return tuple(TimedMark(name, at) for name, index in self._prepared.marks if index >= count)


def merge(parts: Sequence[Timestamps]) -> Timestamps:
    """One answer's timestamps from its segments' (a word split over two segments becomes one)."""
    words: list[TimedText] = []
    indexes: list[int] = []
    for part in parts:
        for word, index in zip(part.words, part.indexes, strict=True):
            if indexes and indexes[-1] == index:
                words[-1] = replace(words[-1], end=max(words[-1].end, word.end))
            else:
                words.append(word)
                indexes.append(index)
    return Timestamps(
        tuple(words),
        tuple(s for p in parts for s in p.sentences),
        tuple(m for p in parts for m in p.marks),
        any(p.estimated for p in parts),
        tuple(indexes),
    )


def _segment_times(
    text: str, chunks: Sequence[AudioChunk], starts: Sequence[float]
) -> tuple[list[tuple[float, float]], bool]:
    """Start and end (in the answer) of each spoken word of a segment, and whether estimated."""
    expected = len(spoken_words(text))
    per_chunk = [spoken_words(c.text) for c in chunks]
    if sum(len(w) for w in per_chunk) != expected:  # the engine said something else: spread over all
        times: list[tuple[float, float]] = []
        for chunk, start in zip(chunks, starts, strict=True):
            times += [(start + a, start + b) for a, b in _estimate_span(chunk.audio, chunk.sample_rate)]
        if not times:
            return [], True
        weights = _weights(text, spoken_words(text))
        return _share(min(a for a, _ in times), max(b for _, b in times), weights), True
    out: list[tuple[float, float]] = []
    estimated = False
    for chunk, spans, start in zip(chunks, per_chunk, starts, strict=True):
        local = _engine_times(chunk, spans) if chunk.words else None
        estimated_here = local is None
        if local is None:
            estimated = True
            region = _estimate_span(chunk.audio, chunk.sample_rate)
            lo, hi = region[0] if region else (0.0, chunk.duration)
            local = _share(lo, hi, _weights(chunk.text, spans))
        local = _snap(local, chunk.audio, chunk.sample_rate, starts=estimated_here)
        out += [(start + a, start + b) for a, b in local]
    return out, estimated


def _engine_times(chunk: AudioChunk, spans: list[tuple[int, int]]) -> list[tuple[float, float]] | None:
    """Each word's time from the engine's timed stretches that overlap it; words no stretch
    covers share the gap between their neighbours."""
    timed = chunk.words or ()
    covering: list[tuple[int, ...]] = []
    k = 0
    for a, b in spans:
        while k < len(timed) and timed[k][1] <= a:
            k += 1
        hits = []
        m = k
        while m < len(timed) and timed[m][0] < b:
            if timed[m][1] > a:
                hits.append(m)
            m += 1
        covering.append(tuple(hits))
    if not any(covering):
        return None
    result: list[tuple[float, float] | None] = [None] * len(spans)
    i = 0
    while i < len(spans):  # words covered by the same stretches share them by length
        if not covering[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(spans) and covering[j + 1] == covering[i]:
            j += 1
        lo = min(timed[m][2] for m in covering[i])
        hi = max(timed[m][3] for m in covering[i])
        for n, times in enumerate(_share(lo, hi, _weights(chunk.text, spans[i : j + 1]))):
            result[i + n] = times
        i = j + 1
    i = 0
    while i < len(spans):  # words no stretch covers: between their neighbours
        if result[i] is not None:
            i += 1
            continue
        j = i
        while j < len(spans) and result[j] is None:
            j += 1
        before = result[i - 1] if i > 0 else None
        lo = before[1] if before is not None else 0.0
        after = result[j] if j < len(spans) else None
        hi = after[0] if after is not None else chunk.duration
        first = i
        if hi - lo < _FRAME_S and before is not None:  # no gap: the engine read them with the word before
            first, lo = i - 1, before[0]
        for n, times in enumerate(_share(lo, max(lo, hi), _weights(chunk.text, spans[first:j]))):
            result[first + n] = times
        i = j
    return [r if r is not None else (0.0, 0.0) for r in result]


def _weights(text: str, spans: Sequence[tuple[int, int]]) -> list[float]:
    """How long each word roughly takes: its letters (a CJK character counts as three), plus a
    pause after a comma or a sentence's end inside the stretch."""
    weights = []
    for n, (a, b) in enumerate(spans):
        word = text[a:b]
        letters = sum(3 if ord(c) >= 0x2E80 else 1 for c in word if c.isalnum())
        tail = text[b : spans[n + 1][0]] if n + 1 < len(spans) else ""
        pause = 3.0 if any(c in ".!?。！？" for c in word[-1:] + tail) else 0.0
        pause += 1.5 if any(c in ",;:，；：" for c in word[-1:] + tail) else 0.0
        weights.append(1.0 + letters + (pause if n + 1 < len(spans) else 0.0))
    return weights


def _share(lo: float, hi: float, weights: Sequence[float]) -> list[tuple[float, float]]:
    """Cut ``[lo, hi]`` in consecutive pieces in proportion to ``weights``."""
    total = sum(weights) or 1.0
    out = []
    at = lo
    for weight in weights:
        step = (hi - lo) * weight / total
        out.append((at, at + step))
        at += step
    return out


def _loud_frames(audio: Audio, rate: int) -> np.ndarray:
    """Per frame of :data:`_FRAME_S`, whether it is not silent."""
    size = max(1, round(rate * _FRAME_S))
    count = len(audio) // size
    if count == 0:
        return np.zeros(0, dtype=bool)
    rms = np.sqrt(np.mean(np.square(audio[: count * size].reshape(count, size), dtype=np.float64), axis=1))
    level = float(np.percentile(rms, 95))
    return np.asarray(rms > max(1e-4, level * _SILENT_RATIO))


def _estimate_span(audio: Audio, rate: int) -> list[tuple[float, float]]:
    """The stretch of ``audio`` from its first to its last sound (empty when all silent)."""
    loud = np.flatnonzero(_loud_frames(audio, rate))
    if len(loud) == 0:
        return []
    return [(float(loud[0]) * _FRAME_S, float(loud[-1] + 1) * _FRAME_S)]


def _snap(
    times: list[tuple[float, float]], audio: Audio, rate: int, *, starts: bool
) -> list[tuple[float, float]]:
    """Pull each word's end (and its start, if ``starts``) in to the last (first) sounding frame
    inside it. An engine's word start is kept: the short break before a word opens it (that is
    where a listener's "next word" begins, and where whisper puts it)."""
    loud = _loud_frames(audio, rate)
    out = []
    for start, end in times:
        a, b = int(start / _FRAME_S), min(len(loud), int(np.ceil(end / _FRAME_S)))
        inside = np.flatnonzero(loud[a:b]) if b > a else np.zeros(0, dtype=np.int64)
        if len(inside) == 0:
            out.append((start, end))
            continue
        new_start = max(start, (a + float(inside[0])) * _FRAME_S) if starts else start
        new_end = min(end, (a + float(inside[-1]) + 1) * _FRAME_S)
        out.append((new_start, max(new_start, new_end)))
    return out


_PACK_VERSION = 1
"""Layout of :func:`pack_timestamps`; another version unpacks as ``None`` (a cache miss)."""


def pack_timestamps(timed: Timestamps, text_id: str) -> bytes:
    """A whole answer's timestamps as compact UTF-8 JSON, to keep beside its audio in the cache.

    Times are kept to the millisecond (what :meth:`Timestamps.to_dict` sends), so an answer from
    the cache carries the very numbers the first one did. About 5 kB per minute of English speech.

    Args:
        timed: the answer's timestamps.
        text_id: names the text the words were taken from (:func:`unpack_timestamps` checks it):
            two texts that read alike ("$3.50", "three dollars and fifty cents") share their audio
            and its cache entry, but not their words.

    Returns:
        The packed bytes.
    """
    packed = {
        "v": _PACK_VERSION,
        "text": text_id,
        "words": [_pack_timed(w) for w in timed.words],
        "indexes": list(timed.indexes),
        "sentences": [_pack_timed(s) for s in timed.sentences],
        "marks": [[m.name, round(m.time, 3)] for m in timed.marks],
        "estimated": timed.estimated,
    }
    return json.dumps(packed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def unpack_timestamps(blob: bytes, text_id: str) -> Timestamps | None:
    """The timestamps :func:`pack_timestamps` packed for ``text_id``.

    Args:
        blob: the packed bytes.
        text_id: the text the caller needs the words of.

    Returns:
        The timestamps, or ``None`` if ``blob`` is damaged, of another layout version, or timed for
        another text.
    """
    try:
        packed = json.loads(blob.decode("utf-8"))
        if packed["v"] != _PACK_VERSION or packed["text"] != text_id:
            return None
        words = tuple(_unpack_timed(item) for item in packed["words"])
        indexes = tuple(packed["indexes"])
        sentences = tuple(_unpack_timed(item) for item in packed["sentences"])
        marks = tuple(TimedMark(str(name), float(time)) for name, time in packed["marks"])
        estimated = packed["estimated"]
    except (ValueError, TypeError, KeyError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    if not isinstance(estimated, bool) or len(indexes) != len(words):
        return None
    if not all(isinstance(i, int) for i in indexes):
        return None
    return Timestamps(words, sentences, marks, estimated, indexes)


def _pack_timed(timed: TimedText) -> list[object]:
    """``[text, start, end]``, plus ``turn, voice`` for a dialogue's words and sentences."""
    packed: list[object] = [timed.text, round(timed.start, 3), round(timed.end, 3)]
    if timed.turn is not None:
        packed += [timed.turn, timed.voice]
    return packed


def _unpack_timed(item: object) -> TimedText:
    if not (isinstance(item, list) and len(item) in (3, 5) and isinstance(item[0], str)):
        raise ValueError(f"not a timed text: {item!r}")
    if len(item) == 5:
        turn, voice = item[3], item[4]
        if not isinstance(turn, int) or not (voice is None or isinstance(voice, str)):
            raise ValueError(f"not a dialogue's timed text: {item!r}")
        return TimedText(item[0], float(item[1]), float(item[2]), turn, voice)
    return TimedText(item[0], float(item[1]), float(item[2]))
