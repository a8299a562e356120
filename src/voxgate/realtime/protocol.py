"""The realtime socket's frames: client commands parsed from JSON, server messages to send.

Client → server, JSON text frames (``type`` is case-insensitive, so Deepgram's ``Speak``,
``Flush``, ``Clear`` and ``Close`` work too; unknown fields are ignored):

- ``{"type": "speak", "text": "..."}``: any fragment (an LLM token with its leading space);
- ``{"type": "flush"}``: synthesise what is buffered now, however short; ``flushed`` follows its audio;
- ``{"type": "clear"}``: barge-in: drop buffered text and synthesis in flight; ``cleared`` follows,
  and no audio from before it comes after it;
- ``{"type": "close"}``: finish what is buffered, then close (1000).

Server → client: binary frames of audio (no container; with ``encoding=opus`` the frames are
pieces of one Ogg Opus stream) and JSON frames built by the ``*_message`` functions here or by
the session (``metadata``; ``segment`` after each piece's audio, with ``engine``, ``degraded``,
``reason``, ``text``, ``duration_ms``, ``first_audio_ms`` (the piece's cut to its first audio
frame) and ``synthesis_ms`` (its synthesis call); ``flushed``, ``cleared``, and with ``timestamps=true``
``{"type": "words", "text", "words": [{"text", "start", "end"}], "timing"}`` before each piece's
audio, in seconds from the start of the connection's audio). A bad frame gets an ``error``
naming the field at fault and is otherwise ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["Command", "CommandType", "FrameError", "error_message", "parse_command", "warning_message"]


class CommandType(StrEnum):
    """What a client frame asks for."""

    SPEAK = "speak"
    FLUSH = "flush"
    CLEAR = "clear"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed client frame.

    Attributes:
        type: what it asks for.
        text: the fragment of a ``speak`` ("" otherwise).
    """

    type: CommandType
    text: str = ""


class FrameError(Exception):
    """A client frame that cannot be obeyed; ``field`` names what is wrong with it."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


def parse_command(data: str | bytes, max_bytes: int) -> Command:
    """Parse one client frame.

    Args:
        data: the frame (text, or bytes for a binary frame).
        max_bytes: the largest frame accepted, in UTF-8 bytes.

    Returns:
        The command.

    Raises:
        FrameError: binary or oversize frame (field ``frame``), not JSON or not an object
            (``frame``), missing or unknown ``type``, ``text`` missing or not a string.
    """
    if isinstance(data, bytes):
        raise FrameError("binary_frame", "frame", "send commands as JSON text frames, not binary")
    size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise FrameError(
            "frame_too_large", "frame", f"a frame of {size} bytes is over the {max_bytes}-byte limit"
        )
    try:
        value: Any = json.loads(data)
    except ValueError as exc:
        raise FrameError("invalid_json", "frame", f"the frame is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FrameError("invalid_frame", "frame", "the frame must be a JSON object with a 'type'")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise FrameError("invalid_frame", "type", "'type' is missing or not a string")
    try:
        command = CommandType(kind.lower())
    except ValueError:
        names = ", ".join(c.value for c in CommandType)
        raise FrameError("unknown_type", "type", f"unknown type {kind[:40]!r}; one of {names}") from None
    if command is not CommandType.SPEAK:
        return Command(command)
    text = value.get("text")
    if not isinstance(text, str):
        raise FrameError("invalid_frame", "text", "'text' of a speak frame must be a string")
    return Command(command, text)


def error_message(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    """An ``error`` frame: ``code``, ``message`` and the ``field`` at fault, if any."""
    return {"type": "error", "code": code, "message": message, "field": field, **extra}


def warning_message(code: str, message: str) -> dict[str, Any]:
    """A ``warning`` frame: something the client may want to know; the connection goes on."""
    return {"type": "warning", "code": code, "message": message}
