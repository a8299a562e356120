"""What every Redis-backed store shares: a bounded client, and a cool-down after a failure.

The audio cache, the rate limits and the daily quotas may live in Redis so several gateways share
them. Each is an optimisation or a policy, never the answer itself, so a slow or dead Redis must
cost a request a few milliseconds at most, never stall it:

- every call is bounded (``socket_timeout``, ``socket_connect_timeout`` and an ``asyncio`` timeout
  around the call) and never retried (redis-py retries 3 times with back-off by default, which
  would turn one lost packet into seconds);
- after a failure the store is *cooling down*: its calls fail at once without touching the
  network, so a dead Redis costs one timeout per cool-down, not one per request. The cool-down
  doubles with each failure in a row (1 s, 2 s, 4 s, ... 30 s) and a success resets it, so a Redis
  that stays down costs one bounded call every 30 s, and one that comes back is used within 30 s.
  Stores on one Redis server share one cool-down (:func:`voxgate.wiring.build_synthesizer` hands
  the cache and the limits the same one), so an outage costs one timeout, not one per store.

The ``redis`` client (redis-py) is an optional dependency: ``pip install 'voxgate[scale]'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from voxgate.clock import Clock

if TYPE_CHECKING:
    import redis.asyncio

__all__ = [
    "DEFAULT_COOLDOWN_S",
    "DEFAULT_TIMEOUT_S",
    "INSTALL_HINT",
    "Cooldown",
    "SharedStoreError",
    "bounded",
    "connection_pool",
]

DEFAULT_TIMEOUT_S = 0.25
"""Bound on one Redis call (a LAN round trip is well under 1 ms; a 1 MB value ~10 ms)."""

DEFAULT_COOLDOWN_S = 1.0
"""After a failure, calls fail at once for this long before Redis is tried again."""

MAX_COOLDOWN_S = 30.0
"""The longest cool-down, reached after failures in a row."""

INSTALL_HINT = "the Redis stores need the redis client: pip install 'voxgate[scale]'"

T = TypeVar("T")


class SharedStoreError(Exception):
    """A shared store could not answer (Redis down, slow or refusing); the caller goes on without it."""


class Cooldown:
    """Remembers that a store failed, so its calls fail fast for a while.

    Args:
        clock: monotonic time.
        cooldown_s: how long after a first failure calls are refused without trying; doubled per
            failure in a row, up to ``max_s``.
        max_s: the longest cool-down.
    """

    def __init__(
        self, clock: Clock, cooldown_s: float = DEFAULT_COOLDOWN_S, max_s: float = MAX_COOLDOWN_S
    ) -> None:
        self._clock = clock
        self._cooldown_s = cooldown_s
        self._max_s = max(max_s, cooldown_s)
        self._until = float("-inf")
        self._failures = 0

    def check(self) -> None:
        """Raise at once while the store is cooling down.

        Raises:
            SharedStoreError: within ``cooldown_s`` of the last failure.
        """
        if self._clock.monotonic() < self._until:
            raise SharedStoreError("cooling down after a failure")

    def failed(self) -> None:
        """Start a cool-down now, twice as long as the last if no call succeeded in between."""
        wait = min(self._max_s, self._cooldown_s * 2 ** min(self._failures, 16))
        self._failures += 1
        self._until = self._clock.monotonic() + wait

    def succeeded(self) -> None:
        """A call worked: the next failure starts the shortest cool-down again."""
        self._failures = 0


async def bounded(call: Awaitable[T], timeout_s: float, cooldown: Cooldown) -> T:
    """Await one Redis call within ``timeout_s``; any failure starts a cool-down.

    Args:
        call: the redis-py coroutine.
        timeout_s: bound on the call.
        cooldown: the store's cool-down (checked before, started on failure).

    Returns:
        The call's result.

    Raises:
        SharedStoreError: while cooling down, or when the call failed or timed out.
    """
    import redis.exceptions

    try:
        cooldown.check()
    except SharedStoreError:
        if asyncio.iscoroutine(call):
            call.close()  # never awaited: close it quietly
        raise
    try:
        async with asyncio.timeout(timeout_s):
            result = await call
    except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
        cooldown.failed()
        detail = str(exc) or f"no answer within {timeout_s:g} s"
        raise SharedStoreError(f"{type(exc).__name__}: {detail}") from exc
    cooldown.succeeded()
    return result


def connection_pool(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.asyncio.ConnectionPool:
    """A redis-py connection pool for ``url`` whose calls are bounded and never retried.

    Args:
        url: ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS, ``unix://``).
        timeout_s: socket connect and read timeout.

    Returns:
        A pool; no connection is made until the first call. Disconnect it when done.

    Raises:
        ImportError: if the ``redis`` client is not installed (:data:`INSTALL_HINT`).
        ValueError: if redis-py cannot parse ``url``.
    """
    try:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(INSTALL_HINT) from exc
    return redis.asyncio.ConnectionPool.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )
