"""Per-client limits of realtime connections: open sockets, and characters per minute.

Kept in this gateway's memory (like breakers and SLA windows); times come from the injected clock.
"""

from __future__ import annotations

from collections import defaultdict, deque

from voxgate.clock import Clock

__all__ = ["WINDOW_S", "RealtimeLimits"]

WINDOW_S = 60.0
"""The characters-per-minute window."""


class RealtimeLimits:
    """Counts each client's open sockets and the characters it sent in the last minute.

    Args:
        clock: monotonic time.
        max_sockets: open sockets allowed per client.
        chars_per_minute: characters per client per sliding minute; ``None`` = unlimited.
    """

    def __init__(self, clock: Clock, max_sockets: int, chars_per_minute: int | None) -> None:
        self._clock = clock
        self._max_sockets = max_sockets
        self._chars_per_minute = chars_per_minute
        self._open: dict[str, int] = defaultdict(int)
        self._sent: dict[str, deque[tuple[float, int]]] = defaultdict(deque)

    def open(self, client_id: str) -> bool:
        """Count a new socket of ``client_id``; False (and nothing counted) when it has its maximum."""
        if self._open[client_id] >= self._max_sockets:
            return False
        self._open[client_id] += 1
        return True

    def close(self, client_id: str) -> None:
        """Forget one socket of ``client_id``."""
        left = self._open[client_id] - 1
        if left > 0:
            self._open[client_id] = left
        else:
            self._open.pop(client_id, None)
            self._sent.pop(client_id, None)

    def open_sockets(self, client_id: str) -> int:
        """Sockets ``client_id`` has open."""
        return self._open.get(client_id, 0)

    def charge(self, client_id: str, chars: int) -> float | None:
        """Charge ``chars`` to ``client_id``'s minute.

        Returns:
            None when charged; otherwise the seconds until the minute has room (nothing charged).
        """
        limit = self._chars_per_minute
        if limit is None:
            return None
        now = self._clock.monotonic()
        window = self._sent[client_id]
        while window and window[0][0] <= now - WINDOW_S:
            window.popleft()
        used = sum(n for _, n in window)
        if used + chars > limit:
            if not window:
                return WINDOW_S  # a single fragment over the whole budget
            return max(0.001, window[0][0] + WINDOW_S - now)
        window.append((now, chars))
        return None
