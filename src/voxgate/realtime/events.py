"""Events of realtime connections (metrics subscribe to them on the Synthesizer's bus)."""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.types import Priority

__all__ = ["PieceSpoken", "SessionCleared", "SocketClosed", "SocketOpened"]


@dataclass(frozen=True, slots=True)
class SocketOpened:
    """A realtime connection was accepted."""

    client_id: str


@dataclass(frozen=True, slots=True)
class SocketClosed:
    """A realtime connection ended (closed, idle, or its client gone)."""

    client_id: str


@dataclass(frozen=True, slots=True)
class PieceSpoken:
    """A piece's audio was sent.

    Attributes:
        priority: the connection's class.
        engine: the engine that spoke it.
        degraded: a fallback engine spoke it.
        first_audio_s: from the piece's cut (its boundary arrived, a flush, the buffer timer) to
            its first audio frame sent.
        gap: the listener ran out of audio before this piece arrived although its text was there
            in time (its cut came before the earlier audio ran out).
    """

    priority: Priority
    engine: str
    degraded: bool
    first_audio_s: float
    gap: bool


@dataclass(frozen=True, slots=True)
class SessionCleared:
    """A client barged in (``clear``)."""

    priority: Priority
