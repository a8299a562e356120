"""The one engine shape every adapter implements.

Engines are synchronous and run inside worker processes. They receive text that the
text front end has already normalised, and yield one ``AudioChunk`` per sentence at
their native sample rate.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo


@runtime_checkable
class Engine(Protocol):
    """A speech-synthesis engine.

    Attributes:
        name: short engine name (``kokoro``, ``piper``, ``espeak``); used in chains and headers.
        model_version: identifies the weights; part of the audio cache key.
    """

    name: str
    model_version: str

    def voices(self) -> Sequence[VoiceInfo]:
        """Return the voices this engine offers (available before ``load``)."""
        ...

    def load(self) -> None:
        """Load weights and libraries; idempotent.

        Raises:
            EngineUnavailable: if the engine cannot be loaded.
        """
        ...

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak normalised ``text``; one chunk per sentence.

        Args:
            text: normalised text (see ``voxgate.text``).
            voice: a voice id from :meth:`voices`.
            opts: speed factor and (optionally) the language of the text.

        Yields:
            Float32 mono chunks at the engine's sample rate.

        Raises:
            EmptyText: nothing speakable.
            UnknownVoice: the voice is not one of this engine's.
            UnsupportedLanguage: the voice cannot read ``opts.language``.
            EngineError: the engine failed.
        """
        ...
