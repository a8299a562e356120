"""Per-client daily character quotas: the store Protocol, its memory implementation, UTC days.

A quota day is a UTC calendar day, named by its ISO date (``"2026-05-28"``) and computed
from wall-clock epoch seconds; Unix time has no leap seconds, so every day is exactly
86 400 s long and the next reset is at the following UTC midnight.

Stores are chosen by URL (``memory://``); a shared store (Redis) would implement the same
Protocol with an atomic check-and-increment so several gateways enforce one quota.

Concurrency: the memory store is used from one asyncio event loop; its methods do not
await, so each is atomic with respect to other coroutines. It is not thread-safe.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlparse

__all__ = [
    "SECONDS_PER_DAY",
    "MemoryQuotaStore",
    "QuotaStore",
    "quota_store_from_url",
    "seconds_until_utc_midnight",
    "utc_day",
]

SECONDS_PER_DAY = 86_400


def utc_day(wall: float) -> str:
    """Name the UTC day containing an instant.

    Args:
        wall: seconds since the Unix epoch.

    Returns:
        The ISO date of that UTC day, e.g. ``"2026-05-28"``.
    """
    return datetime.fromtimestamp(wall, tz=UTC).date().isoformat()


def seconds_until_utc_midnight(wall: float) -> float:
    """Seconds from ``wall`` to the next UTC midnight, in (0, 86 400].

    Args:
        wall: seconds since the Unix epoch.

    Returns:
        The time left until the quota day rolls over.
    """
    next_midnight = (math.floor(wall / SECONDS_PER_DAY) + 1) * SECONDS_PER_DAY
    return next_midnight - wall


class QuotaStore(Protocol):
    """Character usage per client and UTC day."""

    async def used(self, client_id: str, day: str) -> int:
        """Return the characters ``client_id`` has been charged on ``day``."""
        ...

    async def try_charge(self, client_id: str, day: str, chars: int, limit: int) -> bool:
        """Atomically add ``chars`` to the day's usage unless that would exceed ``limit``.

        Args:
            client_id: the client.
            day: the UTC day (``utc_day``).
            chars: characters to charge, ≥ 0.
            limit: the client's daily allowance.

        Returns:
            Whether the charge was made.
        """
        ...

    async def refund(self, client_id: str, day: str, chars: int) -> None:
        """Give back up to ``chars`` charged on ``day``; usage never drops below zero."""
        ...


class MemoryQuotaStore:
    """In-process ``QuotaStore``; forgets every earlier day once a later one is seen.

    A refund for a day that has already rolled over is ignored: that day's allowance is
    gone anyway, and crediting it to today would hand out characters twice.
    """

    def __init__(self) -> None:
        self._day = ""
        self._used: dict[str, int] = {}

    async def used(self, client_id: str, day: str) -> int:
        """Return the characters ``client_id`` has been charged on ``day``."""
        return self._used.get(client_id, 0) if day == self._day else 0

    async def try_charge(self, client_id: str, day: str, chars: int, limit: int) -> bool:
        """Add ``chars`` to ``client_id``'s usage on ``day`` unless it would pass ``limit``.

        Args:
            client_id: the client.
            day: the UTC day (``utc_day``).
            chars: characters to charge.
            limit: the client's daily allowance.

        Returns:
            Whether the charge was made.

        Raises:
            ValueError: if ``chars`` is negative.
        """
        if chars < 0:
            raise ValueError(f"chars must be ≥ 0, got {chars}")
        if day < self._day:
            return False  # a late call for a finished day: nothing left to grant there
        if day > self._day:
            self._day, self._used = day, {}
        used = self._used.get(client_id, 0)
        if used + chars > limit:
            return False
        self._used[client_id] = used + chars
        return True

    async def refund(self, client_id: str, day: str, chars: int) -> None:
        """Give back up to ``chars`` charged on ``day`` (ignored once the day is over)."""
        if day != self._day or client_id not in self._used:
            return
        left = self._used[client_id] - max(chars, 0)
        if left > 0:
            self._used[client_id] = left
        else:
            del self._used[client_id]


def quota_store_from_url(url: str) -> QuotaStore:
    """Build a quota store from its URL.

    Args:
        url: ``memory://`` (the only store bundled so far).

    Returns:
        A new, empty store.

    Raises:
        ValueError: if the scheme is not supported.
    """
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryQuotaStore()
    raise ValueError(f"unsupported quota store URL {url!r} (supported: memory://)")
