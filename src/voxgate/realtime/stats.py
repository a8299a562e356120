"""The realtime part of the SLA view: open sockets, and per-piece first audio, gaps and clears in a window.

Fed by the session events on the Synthesizer's bus (like the metrics); read by ``GET /api/v1/sla``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from voxgate.clock import Clock
from voxgate.qos.events import EventBus
from voxgate.realtime.events import PieceSpoken, SessionCleared, SocketClosed, SocketOpened

__all__ = ["DEFAULT_WINDOW_S", "RealtimeStats"]

DEFAULT_WINDOW_S = 300.0
"""The window of the realtime figures (the SLA view's short window)."""
_MAX_SAMPLES = 20_000
"""Pieces and clears kept at most (a bound on memory, whatever the traffic)."""


class RealtimeStats:
    """Counts sockets and summarises recent pieces.

    Args:
        clock: monotonic time.
        window_s: how far back the piece and clear figures reach.
    """

    def __init__(self, clock: Clock, window_s: float = DEFAULT_WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._open = 0
        self._pieces: deque[tuple[float, float, bool, bool]] = deque(maxlen=_MAX_SAMPLES)
        self._clears: deque[float] = deque(maxlen=_MAX_SAMPLES)

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to ``bus``; returns the function that unsubscribes."""
        undo = [
            bus.subscribe(SocketOpened, self._opened),
            bus.subscribe(SocketClosed, self._closed),
            bus.subscribe(PieceSpoken, self._piece),
            bus.subscribe(SessionCleared, self._cleared),
        ]

        def detach() -> None:
            for unsubscribe in undo:
                unsubscribe()

        return detach

    def snapshot(self) -> dict[str, Any]:
        """Sockets open now; pieces, first-audio P50/P95 (ms), gaps, degraded pieces, clears in the window."""
        since = self._clock.monotonic() - self._window_s
        pieces = [p for p in self._pieces if p[0] >= since]
        firsts = sorted(p[1] for p in pieces)

        def pct(q: float) -> int | None:
            return round(1000 * firsts[min(len(firsts) - 1, int(q * len(firsts)))]) if firsts else None

        return {
            "sockets_open": self._open,
            "window_s": self._window_s,
            "pieces": len(pieces),
            "first_audio_p50_ms": pct(0.5),
            "first_audio_p95_ms": pct(0.95),
            "gaps": sum(1 for p in pieces if p[2]),
            "degraded": sum(1 for p in pieces if p[3]),
            "clears": sum(1 for t in self._clears if t >= since),
        }

    def _opened(self, _event: SocketOpened) -> None:
        self._open += 1

    def _closed(self, _event: SocketClosed) -> None:
        self._open = max(0, self._open - 1)

    def _piece(self, event: PieceSpoken) -> None:
        self._pieces.append((self._clock.monotonic(), event.first_audio_s, event.gap, event.degraded))

    def _cleared(self, _event: SessionCleared) -> None:
        self._clears.append(self._clock.monotonic())
