"""Shared type aliases and frozen value objects used across layers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

Audio = NDArray[np.float32]
"""Mono float32 samples in [-1, 1]."""

LanguageCode = str
"""A BCP-47-ish language tag as voxgate uses it: ``en``, ``zh``, ``ja``, or an espeak code like ``de``."""

WordTimes = tuple[tuple[int, int, float, float], ...]
"""An engine's own word alignment of a chunk: ``(first char, end char, start s, end s)`` per
stretch of the chunk's text it timed (usually one word), in order, times from the chunk's start."""


class AudioFormat(StrEnum):
    """Container/codec formats voxgate can return."""

    WAV = "wav"
    PCM = "pcm"
    FLAC = "flac"
    MP3 = "mp3"
    OPUS = "opus"
    AAC = "aac"
    MULAW = "mulaw"
    ALAW = "alaw"


class Priority(StrEnum):
    """Scheduling classes, most urgent first."""

    INTERACTIVE = "interactive"
    API = "api"
    BATCH = "batch"


class Gender(StrEnum):
    """Voice gender as the model card states it."""

    FEMALE = "female"
    MALE = "male"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One piece of synthesised audio, normally one sentence.

    Attributes:
        audio: mono float32 samples in [-1, 1].
        sample_rate: samples per second of ``audio``.
        text: the text this chunk speaks (for captions and debugging).
        words: the engine's word alignment of ``text`` (espeak's word events, piper's phoneme
            alignments, kokoro's phoneme durations); ``None`` when the engine has none (timestamps are
            then estimated).
        final: ``False`` for a piece of a sentence streamed in pieces (``SynthesisOptions.stream``):
            its ``text`` is empty and ``words`` ``None``; the sentence's last piece is ``final`` and
            carries the text and the words of the whole sentence, timed from the start of its
            first piece. :func:`merge_partials` makes each such run one chunk.
    """

    audio: Audio
    sample_rate: int
    text: str = ""
    words: WordTimes | None = None
    final: bool = True

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.audio) / self.sample_rate


def merge_partials(chunks: Sequence[AudioChunk]) -> list[AudioChunk]:
    """``chunks`` with each run of pieces (``final=False``) and the final chunk after it made one
    chunk: the pieces' audio then the final's, with the final's text and words (which already time
    the whole sentence). Chunks that are whole stay as they are (the same objects); a run with no
    final chunk after it (a stream cut short) becomes one chunk without text.
    """
    merged: list[AudioChunk] = []
    run: list[AudioChunk] = []
    for chunk in chunks:
        if not chunk.final:
            run.append(chunk)
            continue
        if run:
            audio = np.concatenate([c.audio for c in (*run, chunk)]).astype(np.float32)
            chunk = AudioChunk(audio, chunk.sample_rate, chunk.text, chunk.words)
            run = []
        merged.append(chunk)
    if run:
        audio = np.concatenate([c.audio for c in run]).astype(np.float32)
        merged.append(AudioChunk(audio, run[-1].sample_rate))
    return merged


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """A voice an engine offers.

    Attributes:
        id: globally unique voice id (what clients send).
        engine: name of the engine that owns it.
        languages: languages it can read, primary first.
        gender: as stated by the voice's model card.
        sample_rate: native output rate in Hz.
        description: one human-readable line.
        honours: request options its engine acts on (``stream``: it gives a sentence in pieces
            with ``SynthesisOptions.stream``; the router then judges it by its first audio).
    """

    id: str
    engine: str
    languages: tuple[LanguageCode, ...]
    gender: Gender
    sample_rate: int
    description: str = ""
    honours: frozenset[str] = frozenset({"speed"})
    """Request options its engine acts on (``speed``, ``emotion``); the others are ignored and
    listed in the answer's ``X-Voxgate-Ignored`` header."""


EMOTIONS = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
"""The emotions an expressive engine can be asked for, in IndexTTS-2's vector order."""


@dataclass(frozen=True, slots=True)
class Emotion:
    """How an expressive engine should colour the speech: a weight per emotion, or a description.

    Exactly one of the two is set; build it with :func:`voxgate.emotion.parse_emotion`, which checks it.

    Attributes:
        weights: one weight in [0, 1] per :data:`EMOTIONS` name, in that order.
        text: a short description (``"quietly furious"``) the engine turns into weights itself.
    """

    weights: tuple[float, ...] | None = None
    text: str | None = None

    def key(self) -> str:
        """A stable string for cache keys (weights rounded to 3 decimals)."""
        if self.weights is not None:
            return "v:" + ",".join(f"{round(w, 3) + 0.0:.3f}" for w in self.weights)
        return f"t:{self.text}"


@dataclass(frozen=True, slots=True)
class Prosody:
    """SSML prosody of a piece of text.

    Attributes:
        rate: speaking-rate factor (multiplies the request's speed).
        pitch_st: pitch change in semitones (0 = the voice's own).
        volume_db: gain applied to the finished audio (``-inf`` = silent).
    """

    rate: float = 1.0
    pitch_st: float = 0.0
    volume_db: float = 0.0


@dataclass(frozen=True, slots=True)
class SynthesisOptions:
    """Per-call options; ``None`` means the voice's default.

    Attributes:
        speed: speaking-rate factor, 1.0 = natural.
        language: language of the text; ``None`` lets the engine detect it per run.
        emotion: for engines that honour it (remote ``indextts2``); the others ignore it (and
            local worker processes are never sent it).
        pitch_st: pitch change in semitones (SSML ``prosody pitch``), for engines that honour
            ``pitch``.
        phonemes: what to say instead of the text (SSML ``phoneme``), for engines that honour
            ``phoneme``; the others speak the text.
        alphabet: ``ipa`` or ``pinyin``, the alphabet of ``phonemes``.
        stream: the caller plays audio as it arrives (the realtime socket, HTTP streaming): an
            engine that can may give each sentence in pieces (``AudioChunk.final``); the others
            ignore it. The same speech either way (within the tolerance each engine's test
            proves), so it is never part of an audio cache key.
    """

    speed: float = 1.0
    language: LanguageCode | None = None
    emotion: Emotion | None = None
    pitch_st: float = 0.0
    phonemes: str | None = None
    alphabet: str = "ipa"
    stream: bool = False
