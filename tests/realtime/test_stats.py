"""The realtime SLA figures: sockets open, and pieces, gaps and clears within the window."""

from __future__ import annotations

from voxgate.qos.events import EventBus
from voxgate.realtime.events import PieceSpoken, SessionCleared, SocketClosed, SocketOpened
from voxgate.realtime.stats import RealtimeStats
from voxgate.testing import FakeClock
from voxgate.types import Priority


def test_the_window_keeps_recent_pieces_and_clears_and_sockets_are_counted() -> None:
    """Events on the bus feed the snapshot; pieces and clears older than the window drop out."""
    clock = FakeClock()
    bus = EventBus()
    stats = RealtimeStats(clock, window_s=60.0)
    detach = stats.attach(bus)
    bus.publish(SocketOpened("a"))
    bus.publish(SocketOpened("b"))
    bus.publish(PieceSpoken(Priority.INTERACTIVE, "piper", False, 0.5, False))
    clock.advance(61)
    for first in (0.1, 0.2, 0.3, 0.4):
        bus.publish(PieceSpoken(Priority.INTERACTIVE, "piper", first > 0.3, first, first == 0.2))
    bus.publish(SessionCleared(Priority.INTERACTIVE))
    bus.publish(SocketClosed("a"))
    snapshot = stats.snapshot()
    assert snapshot["sockets_open"] == 1
    assert (snapshot["pieces"], snapshot["gaps"], snapshot["degraded"], snapshot["clears"]) == (4, 1, 1, 1)
    assert (snapshot["first_audio_p50_ms"], snapshot["first_audio_p95_ms"]) == (300, 400)
    detach()
    bus.publish(SocketOpened("c"))
    assert stats.snapshot()["sockets_open"] == 1
