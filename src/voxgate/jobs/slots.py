"""A counting limiter whose limit is read afresh at every acquire (engine capacity changes at run time)."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["Slots"]


class Slots:
    """At most ``limit()`` holders at once; waiters are served first come, first served.

    ``release`` is synchronous so it can run from a task's done-callback (which runs even for
    a task cancelled before it started). One event loop; not thread-safe.

    Args:
        limit: the current number of slots (at least one is always granted).
    """

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._used = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def used(self) -> int:
        """Slots held now."""
        return self._used

    def _free(self) -> bool:
        return self._used < max(1, self._limit())

    async def acquire(self) -> None:
        """Wait for a slot and take it."""
        self._grant()  # the limit may have risen since the last release
        if not self._waiters and self._free():
            self._used += 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter  # resolved = the slot was handed to us (already counted)
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

    def _grant(self) -> None:
        while self._waiters and self._free():
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._used += 1
                waiter.set_result(None)
