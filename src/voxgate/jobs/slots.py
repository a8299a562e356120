"""A counting limiter whose limit is read afresh whenever it may have changed (engine load varies)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["Slots"]


class Slots:
    """At most ``limit()`` holders at once; waiters are served first come, first served.

    The limit may drop to zero (the engine is busy with other work) and rise again without any
    holder releasing: whoever knows calls :meth:`wake`, and every waiter re-reads the limit at
    least every ``recheck_s`` seconds as a safety net.

    ``release`` and ``wake`` are synchronous so they can run from a task's done-callback (which
    runs even for a task cancelled before it started) or an event subscriber. One event loop;
    not thread-safe.

    Args:
        limit: how many slots may be held now (zero or less: none more).
        recheck_s: longest a waiter goes without re-reading the limit.
    """

    def __init__(self, limit: Callable[[], int], *, recheck_s: float = 0.5) -> None:
        self._limit = limit
        self._recheck_s = recheck_s
        self._used = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def used(self) -> int:
        """Slots held now."""
        return self._used

    def _free(self) -> bool:
        return self._used < self._limit()

    async def acquire(self) -> None:
        """Wait for a slot and take it."""
        self._grant()  # the limit may have risen since the last release
        if not self._waiters and self._free():
            self._used += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            while not waiter.done():  # resolved = the slot was handed to us (already counted)
                await asyncio.wait([waiter], timeout=self._recheck_s)
                self._grant()
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot we will not use: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back and hand it to the next waiter."""
        self._used -= 1
        self._grant()

    def wake(self) -> None:
        """Re-read the limit now and let waiters in if it allows (call when it may have risen)."""
        self._grant()

    def _grant(self) -> None:
        while self._waiters and self._free():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._used += 1
                waiter.set_result(None)
