"""The in-process rate-limit storage (``async+memory://``), without a thread hop on every check.

The ``limits`` library's async memory storage (5.x) starts an expiry pass after every operation
(when the previous pass is done), and that pass hands each key's bisect to a thread
(``asyncio.to_thread``) while holding the key's lock: the next check of that key waits for the
hop. With voxgate's default limits (two, each tested then hit per request) that cost ~750 µs of
wall time and ~200 µs of CPU per request on the 2-core reference machine, against ~120 µs and
~30 µs with the pass on the loop (``bench/overhead.py`` prints the admission share).

:class:`LoopMemoryStorage` is that storage with its expiry pass run on the event loop, at most
once per ``expiry_interval_s``: a bisect per moving-window key and a dict scan, without an
``await``, so no other coroutine sees a half-expired key and no lock is needed. Expiry only
bounds memory (every check compares timestamps itself), so the limits enforced are the same.

It replaces limits' private ``__schedule_expiry`` hook (the one every operation calls); a test
checks that the hook still exists, so a limits release that renames it fails loudly instead of
silently bringing the thread hops back.
"""

from __future__ import annotations

import bisect
import time

import limits.aio.storage

__all__ = ["LoopMemoryStorage"]

EXPIRY_INTERVAL_S = 1.0
"""Shortest time between two expiry passes."""


class LoopMemoryStorage(limits.aio.storage.MemoryStorage):
    """limits' async memory storage, expiring on the event loop at most once per interval.

    Args:
        expiry_interval_s: shortest time between two expiry passes.
        wrap_exceptions: as limits' storages (wrap errors in ``StorageError``).
    """

    def __init__(
        self, *, expiry_interval_s: float = EXPIRY_INTERVAL_S, wrap_exceptions: bool = False
    ) -> None:
        super().__init__("async+memory://", wrap_exceptions=wrap_exceptions)
        self._expiry_interval_s = expiry_interval_s
        self._next_expiry = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (limits' private hook)
        now = time.time()
        if now >= self._next_expiry:
            self._next_expiry = now + self._expiry_interval_s
            self.expire(now)

    def expire(self, now: float) -> None:
        """Drop the moving-window entries and the counters that have expired by ``now``.

        Args:
            now: the time (``time.time()``, as limits keeps it).
        """
        for key, events in list(self.events.items()):
            # newest first: entries from the first one expired by now onwards are all expired
            cutoff = bisect.bisect_left(events, -now, key=lambda entry: -entry.expiry)
            del events[cutoff:]
            if not events:
                del self.events[key]
                self.locks.pop(key, None)
        for key, expires in list(self.expirations.items()):
            if expires <= now:
                self.storage.pop(key, None)
                del self.expirations[key]
                self.locks.pop(key, None)
