"""Daily character quotas in Redis, so a client's allowance holds across every gateway.

One counter per client and UTC day, ``voxgate:quota:v1:<day>:<client id>``, expiring two days
after it is first charged (a day's counter is only read on that day). The check-and-charge and the
refund are Lua scripts, so each is one atomic step on the server however many gateways race: a
charge that would pass the limit changes nothing, a refund never takes usage below zero.

Every call is bounded and a failure starts a cool-down (:mod:`voxgate.redis_store`); failures
reach the caller as :class:`~voxgate.redis_store.SharedStoreError`. What admission does then (it
fails open) is decided and counted in :mod:`voxgate.qos.admission`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voxgate.clock import Clock, SystemClock
from voxgate.redis_store import DEFAULT_COOLDOWN_S, DEFAULT_TIMEOUT_S, Cooldown, bounded, connection_pool

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["KEY_PREFIX", "KEY_TTL_S", "RedisQuotaStore"]

KEY_PREFIX = "voxgate:quota:v1:"
"""Namespace and layout version of the quota counters."""

KEY_TTL_S = 2 * 86_400
"""A day's counter outlives its day by at least a day (clock skew between gateways), then goes."""

# KEYS[1] counter; ARGV chars, limit, ttl. Returns 1 if charged, 0 if it would pass the limit.
_CHARGE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local chars = tonumber(ARGV[1])
if used + chars > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBY', KEYS[1], chars)
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

# KEYS[1] counter; ARGV chars. Takes back at most what was charged; deletes an empty counter.
_REFUND = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = used - tonumber(ARGV[1])
if left > 0 then redis.call('DECRBY', KEYS[1], ARGV[1]) else redis.call('DEL', KEYS[1]) end
return 1
"""


class RedisQuotaStore:
    """A :class:`~voxgate.qos.quota.QuotaStore` in Redis, shared by every gateway pointing at it.

    Args:
        pool: a redis-py pool (:func:`voxgate.redis_store.connection_pool`); this store owns it.
        timeout_s: bound on each call.
        cooldown_s: after a failure, calls fail at once for this long.
        clock: monotonic time for the cool-down.
        cooldown: a cool-down shared with the rate limits in the same Redis (then ``cooldown_s``
            and ``clock`` are not used).
    """

    def __init__(
        self,
        pool: redis.asyncio.ConnectionPool,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Clock | None = None,
        cooldown: Cooldown | None = None,
    ) -> None:
        import redis.asyncio

        self._pool = pool
        self._client = redis.asyncio.Redis(connection_pool=pool)
        self._charge = self._client.register_script(_CHARGE)
        self._refund = self._client.register_script(_REFUND)
        self._timeout_s = timeout_s
        self._cooldown = cooldown or Cooldown(clock or SystemClock(), cooldown_s)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        cooldown: Cooldown | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> RedisQuotaStore:
        """Build the store for ``redis://host:port/db``, each call bounded by ``timeout_s``.

        Raises:
            ImportError: without the redis client (``pip install 'voxgate[scale]'``).
        """
        return cls(connection_pool(url, timeout_s), timeout_s=timeout_s, clock=clock, cooldown=cooldown)

    async def used(self, client_id: str, day: str) -> int:
        """Return the characters ``client_id`` has been charged on ``day``.

        Raises:
            SharedStoreError: Redis failed, timed out, or is cooling down.
        """
        value = await bounded(self._client.get(_key(client_id, day)), self._timeout_s, self._cooldown)
        return int(value) if value is not None else 0

    async def try_charge(self, client_id: str, day: str, chars: int, limit: int) -> bool:
        """Atomically add ``chars`` to the day's usage unless that would pass ``limit``.

        Raises:
            ValueError: if ``chars`` is negative.
            SharedStoreError: as :meth:`used`.
        """
        if chars < 0:
            raise ValueError(f"chars must be ≥ 0, got {chars}")
        call = self._charge(keys=[_key(client_id, day)], args=[chars, limit, KEY_TTL_S])
        return bool(await bounded(call, self._timeout_s, self._cooldown))

    async def refund(self, client_id: str, day: str, chars: int) -> None:
        """Give back up to ``chars`` charged on ``day``; usage never drops below zero.

        Raises:
            SharedStoreError: as :meth:`used`.
        """
        if chars <= 0:
            return
        call = self._refund(keys=[_key(client_id, day)], args=[chars])
        await bounded(call, self._timeout_s, self._cooldown)

    async def close(self) -> None:
        """Close the connections (the gateway is stopping)."""
        await self._pool.disconnect()


def _key(client_id: str, day: str) -> str:
    return f"{KEY_PREFIX}{day}:{client_id}"  # the day has a fixed shape: no ambiguity
