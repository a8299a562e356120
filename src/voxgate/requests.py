"""What a client asks the Synthesizer for, and what it gets back."""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.text import PreparedText
from voxgate.text.dialogue import DialogueTurn
from voxgate.text.lexicon import Lexicon
from voxgate.timestamps import Timestamps
from voxgate.types import AudioFormat, Emotion, Priority

__all__ = ["SynthesisMeta", "SynthesisRequest", "SynthesisResult"]


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """What a client asks for.

    Attributes:
        text: raw text (cleaned and normalised here).
        voice: voice id; ``None`` picks the default voice of the text's language.
        speed: speaking rate, 1.0 = natural.
        format: output format.
        sample_rate: output rate; ``None`` = the format's default for the voice.
        priority: scheduling class.
        deadline_s: seconds from arrival; ``None`` = the default for the priority and length.
        client_id: API key or remote address, for rate limits and quotas.
        rate_limited: count against the client's request-rate limits (the job runner's segments
            do not: a job is paced by engine capacity and the character quota).
        use_cache: look up and store the answer in the audio cache (a book's segments would
            only push interactive answers out of it).
        emotion: for engines that honour it (checked: :func:`voxgate.emotion.parse_emotion`).
        ssml: ``text`` is an SSML document (see :mod:`voxgate.text.ssml`).
        text_field: the client's name for ``text`` (``input`` on the OpenAI route), for errors.
        dialogue: turns, each in its own voice, spoken instead of ``text`` (see
            :mod:`voxgate.text.dialogue`); ``voice`` is then the voice of the answer's headers.
        lexicon: the caller's pronunciation lexicon (see :mod:`voxgate.text.lexicon`).
        timestamps: time the user's words, sentences and SSML marks (the answer carries
            :class:`voxgate.timestamps.Timestamps`); answered from the cache only by an entry
            stored with timestamps for the same text (the key is the audio's).
        prepared: the text already through the front end (a job's segment, prepared when the
            job was submitted): spoken as it is; ``text`` is then only the user's words that
            timestamps name.
    """

    text: str
    voice: str | None = None
    speed: float = 1.0
    format: AudioFormat = AudioFormat.WAV
    sample_rate: int | None = None
    priority: Priority = Priority.API
    deadline_s: float | None = None
    client_id: str = "local"
    rate_limited: bool = True
    use_cache: bool = True
    emotion: Emotion | None = None
    ssml: bool = False
    text_field: str = "text"
    dialogue: tuple[DialogueTurn, ...] | None = None
    lexicon: Lexicon | None = None
    timestamps: bool = False
    prepared: PreparedText | None = None


@dataclass(frozen=True, slots=True)
class SynthesisMeta:
    """How a request was answered (for response headers, logs and the web UI)."""

    voice: str
    engine: str
    degraded: bool
    fallback_reason: str | None
    cache_hit: bool
    media_type: str
    sample_rate: int
    ignored: tuple[str, ...] = ()
    """Request options the answering engine did not act on (``emotion``, ``speed``), and SSML
    elements and attributes dropped (``ssml:foo``, ``ssml:prosody@contour``, ``ssml:pitch``)."""
    spoken_by: tuple[str, ...] = ()
    """``voice@engine`` of every voice that spoke part of the answer, in order of first use
    (several with SSML ``<voice>`` or a fallback); a cache hit repeats the first answer's."""
    degraded_turns: tuple[int, ...] = ()
    """A dialogue's turns (indexes from 0) that a fallback engine spoke part of."""


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    """A finished answer (``timestamps`` when the request asked for them)."""

    audio: bytes
    meta: SynthesisMeta
    duration_s: float
    latency_s: float
    timestamps: Timestamps | None = None
