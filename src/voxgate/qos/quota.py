"""Per-client daily character quotas: the store Protocol, its memory implementation, UTC days.

A quota day is a UTC calendar day, named by its ISO date (``"2026-05-28"``) and computed
from wall-clock epoch seconds; Unix time has no leap seconds, so every day is exactly
86 400 s long and the next reset is at the following UTC midnight.

Stores are chosen by URL: ``memory://``, or ``redis://host:port/db``
(:class:`~voxgate.qos.quota_redis.RedisQuotaStore`, an atomic check-and-increment on the server, so
several gateways enforce one quota). :func:`quota_url_for_limits` puts the quotas in the Redis the
rate limits use.

Concurrency: the memory store is used from one asyncio event loop; its methods do not
await, so each is atomic with respect to other coroutines. It is not thread-safe.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlparse, urlsplit, urlunsplit

from voxgate.clock import Clock
from voxgate.redis_store import DEFAULT_TIMEOUT_S, Cooldown

__all__ = [
    "SECONDS_PER_DAY",
    "MemoryQuotaStore",
    "QuotaStore",
    "quota_store_from_url",
    "quota_url_for_limits",
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


def quota_store_from_url(
    url: str,
    *,
    clock: Clock | None = None,
    cooldown: Cooldown | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> QuotaStore:
    """Build a quota store from its URL.

    Args:
        url: ``memory://``, or ``redis://[:password@]host:port/db`` (``rediss://`` for TLS).
        clock: monotonic time for the Redis store's cool-down after a failure.
        cooldown: a cool-down shared with other users of the same Redis (the rate limits), so one
            outage costs one timeout; the store makes its own if omitted.
        timeout_s: bound on each Redis call.

    Returns:
        A new store (a Redis store connects on first use).

    Raises:
        ValueError: if the scheme is not supported.
        ImportError: for ``redis://`` without the redis client (``pip install 'voxgate[scale]'``).
    """
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryQuotaStore()
    if scheme in ("redis", "rediss"):
        from voxgate.qos.quota_redis import RedisQuotaStore

        return RedisQuotaStore.from_url(url, clock=clock, cooldown=cooldown, timeout_s=timeout_s)
    raise ValueError(f"unsupported quota store URL {url!r} (supported: memory://, redis://)")


def quota_url_for_limits(storage_uri: str) -> str:
    """Where the daily quotas live, given the rate limits' ``limits`` storage URI.

    Quotas follow the rate limits: ``async+redis://h:6379/0`` (or ``redis://…``) keeps them in the
    same Redis database (``redis://h:6379/0``), so one setting shares both across gateways; any
    other storage keeps them in this process (``memory://``).

    Args:
        storage_uri: ``qos.limits.storage_uri``.

    Returns:
        A URL for :func:`quota_store_from_url`.
    """
    parts = urlsplit(storage_uri)
    scheme = parts.scheme.removeprefix("async+")
    if scheme not in ("redis", "rediss"):
        return "memory://"
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))
