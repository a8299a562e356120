"""Request bodies of the native API (the OpenAI-compatible schema lives with its route)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from voxgate.errors import InvalidInput
from voxgate.text.dialogue import MAX_TURNS
from voxgate.text.ssml import MAX_BREAK_S
from voxgate.types import Priority

MIN_DEADLINE_MS = 100
"""Shortest deadline a client may ask for."""


class TurnIn(BaseModel):
    """One turn of a ``dialogue``."""

    model_config = ConfigDict(extra="forbid")

    voice: str = Field(min_length=1, description="Voice id of this turn.")
    text: str = Field(min_length=1, description="What this voice says (plain text).")
    pause_ms: int | None = Field(
        default=None,
        ge=0,
        le=int(MAX_BREAK_S * 1000),
        description="Silence after this turn, before the next (default 300 ms).",
    )


class TtsRequest(BaseModel):
    """``POST /api/v1/tts``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(
        default=None,
        min_length=1,
        description=(
            "Text to speak (longer texts: POST /api/v1/jobs), or an SSML document starting with <speak> "
            "(see the README's SSML section). Give exactly one of text or dialogue."
        ),
    )
    dialogue: list[TurnIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TURNS,
        description=(
            "Turns, each spoken by its own voice, into one audio file (instead of text); the turns' "
            "texts together count against the text limit."
        ),
    )
    voice: str | None = Field(
        default=None, description="Voice id; default: the text language's default voice."
    )
    speed: float = Field(default=1.0, ge=0.5, le=2.0, description="Speaking rate.")
    format: str = Field(
        default="wav", description="wav, pcm, flac, mp3, opus, aac, mulaw or alaw (raw G.711, 8 kHz default)."
    )
    sample_rate: int | None = Field(default=None, ge=8000, le=48000, description="Output sample rate in Hz.")
    priority: Priority = Field(default=Priority.API, description="interactive, api or batch.")
    # Below ~100 ms nothing can answer; the worker that tried would be killed at the deadline.
    deadline_ms: int | None = Field(
        default=None, ge=MIN_DEADLINE_MS, le=600_000, description="Answer within this many ms (at least 100)."
    )
    stream: bool = Field(default=False, description="Chunked transfer, one piece per sentence.")
    timestamps: bool = Field(
        default=False,
        description=(
            "Answer JSON with the audio (base64) and the times of the words, sentences and SSML marks; "
            "with stream: Server-Sent Events (audio, words, done)."
        ),
    )
    emotion: dict[str, float] | str | None = Field(
        default=None,
        description=(
            "For expressive engines (IndexTTS-2): weights in [0, 1] for happy, angry, sad, afraid, "
            "disgusted, melancholic, surprised, calm (sum at most 0.8), or a short description "
            "(at most 200 characters). Other engines ignore it and say so in X-Voxgate-Ignored."
        ),
    )

    def check_source(self) -> None:
        """Exactly one of ``text`` and ``dialogue``.

        Raises:
            InvalidInput: naming ``text`` when neither is given, ``dialogue`` when both are.
        """
        if self.text is None and self.dialogue is None:
            raise InvalidInput("text", "give text (or a dialogue)")
        if self.text is not None and self.dialogue is not None:
            raise InvalidInput("dialogue", "give exactly one of text or dialogue")

    @field_validator("emotion", mode="before")
    @classmethod
    def _emotion_shape(cls, value: Any) -> Any:
        """Only the shape here (one error naming ``emotion``); names, ranges and the sum are
        :func:`voxgate.emotion.parse_emotion`'s."""
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict) and all(
            isinstance(w, int | float) and not isinstance(w, bool) for w in value.values()
        ):
            return value
        raise ValueError("must be a map of emotion names to numbers, or a short text")
