"""Redis tier of the audio cache: one Redis shared by every gateway.

Each entry is one Redis string under ``voxgate:audio:v1:<cache key>`` holding the same blob as a
disk-cache file (:func:`~voxgate.audio.cache_disk.pack_entry`: magic, JSON header with the
metadata, the key and a CRC-32, then the audio and the answer's word timestamps if it had them),
so one ``GET`` or ``SET`` moves a whole entry and a damaged or foreign value is a miss. ``v1`` names
the blob layout; the cache key's own schema tag names what the audio means, so either changing
makes old entries miss. (Timestamps extended ``v1`` without breaking it: entries written before
them read as entries without timestamps; a gateway older than them reads an entry with timestamps
as damaged, a miss, so during a rolling upgrade old and new gateways may each store the answer again.)

Size and lifetime are Redis's business, honestly so: which entries go when memory is short is
decided by the server, not by each gateway. Run Redis with ``maxmemory <bytes>`` and
``maxmemory-policy allkeys-lru`` (the least recently used entries are evicted, whoever wrote
them); with the default ``noeviction`` a full Redis refuses writes (each one is counted as a
cache error and dropped). Give the cache a database of its own (``/1``): :meth:`RedisCache.stats`
reports the server's memory and the database's key count. ``max_bytes`` in the URL is therefore
the largest single entry kept (default 16 MiB, ~6 minutes of 22 kHz WAV); a larger answer is
simply not cached. ``ttl_s`` (default 0: none) expires entries regardless of use.

Every call is bounded and a failure starts a cool-down (:mod:`voxgate.redis_store`); the errors
reach the caller as :class:`~voxgate.redis_store.SharedStoreError`, which
:class:`~voxgate.audio.cache.FailOpenCache` turns into a miss or a dropped write, counted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from voxgate.audio.cache import CachedAudio, CacheStats, _parse_url
from voxgate.audio.cache_disk import pack_entry, unpack_entry
from voxgate.clock import Clock, SystemClock
from voxgate.redis_store import DEFAULT_COOLDOWN_S, DEFAULT_TIMEOUT_S, Cooldown, bounded, connection_pool

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["DEFAULT_REDIS_MAX_ENTRY_BYTES", "KEY_PREFIX", "RedisCache", "redis_cache_from_url"]

DEFAULT_REDIS_MAX_ENTRY_BYTES = 16 * 1024 * 1024
"""Largest entry a :class:`RedisCache` keeps unless its URL says otherwise."""

KEY_PREFIX = "voxgate:audio:v1:"
"""Namespace and blob version of every cache entry in Redis."""

_PARAMS = frozenset({"max_bytes", "ttl_s", "timeout_ms", "cooldown_ms"})

_EVICTING_POLICIES = frozenset({"allkeys-lru", "allkeys-lfu", "allkeys-random"})
"""Policies under which a full Redis makes room for new entries whoever wrote the old ones."""

log = logging.getLogger(__name__)


class RedisCache:
    """An audio cache in Redis, shared by every gateway that points at it.

    ``hits`` and ``misses`` count this gateway's lookups; evictions, bytes, items and the budget
    in :meth:`stats` are the server's.

    Args:
        pool: a redis-py pool (:func:`voxgate.redis_store.connection_pool`); this store owns it.
        max_entry_bytes: the largest entry stored (audio and timestamps); larger ones are skipped.
        ttl_s: expire entries after this many seconds (0: never; Redis's LRU policy evicts).
        timeout_s: bound on each call.
        cooldown_s: after a failure, calls fail at once for this long (doubling while it fails).
        clock: monotonic time for the cool-down.
        cooldown: a cool-down shared with the other stores on the same server (then
            ``cooldown_s`` and ``clock`` are not used).

    Raises:
        ValueError: if a size or time is negative.
    """

    def __init__(
        self,
        pool: redis.asyncio.ConnectionPool,
        *,
        max_entry_bytes: int = DEFAULT_REDIS_MAX_ENTRY_BYTES,
        ttl_s: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        cooldown_s: float = DEFAULT_COOLDOWN_S,
        clock: Clock | None = None,
        cooldown: Cooldown | None = None,
    ) -> None:
        import redis.asyncio

        if min(max_entry_bytes, ttl_s, timeout_s, cooldown_s) < 0:
            raise ValueError("max_bytes, ttl_s, timeout_ms and cooldown_ms must be >= 0")
        self._pool = pool
        self._client = redis.asyncio.Redis(connection_pool=pool)
        self._max_entry_bytes = max_entry_bytes
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._cooldown = cooldown or Cooldown(clock or SystemClock(), cooldown_s)
        self.hits = 0
        self.misses = 0
        self._warned = False

    @property
    def max_entry_bytes(self) -> int:
        """The largest entry stored (audio and timestamps)."""
        return self._max_entry_bytes

    async def get(self, key: str, *, timestamps: bool = False) -> CachedAudio | None:
        """Return the entry for ``key`` (Redis marks it used for its LRU), or ``None``.

        Args:
            key: a key from :func:`~voxgate.audio.cache.cache_key`.
            timestamps: only an entry with timestamps will do.

        Returns:
            The cached audio, or ``None`` if absent or damaged.

        Raises:
            SharedStoreError: Redis failed, timed out, or is cooling down after a failure.
        """
        blob = await bounded(self._client.get(KEY_PREFIX + key), self._timeout_s, self._cooldown)
        value = unpack_entry(key, blob) if isinstance(blob, bytes) else None
        if value is None or (timestamps and value.timestamps is None):
            self.misses += 1
            return None
        self.hits += 1
        return value

    async def put(self, key: str, value: CachedAudio) -> None:
        """Store ``value`` under ``key``, replacing any entry; skip it if larger than the limit
        (its audio and timestamps, :attr:`~voxgate.audio.cache.CachedAudio.size`).

        Args:
            key: a key from :func:`~voxgate.audio.cache.cache_key`.
            value: the audio to keep.

        Raises:
            SharedStoreError: as :meth:`get`; also when a full Redis without an eviction policy
                refuses the write.
        """
        if value.size > self._max_entry_bytes:
            return
        blob = pack_entry(key, value)
        call = self._client.set(KEY_PREFIX + key, blob, ex=self._ttl_s or None)
        await bounded(call, self._timeout_s, self._cooldown)

    async def stats(self) -> CacheStats:
        """This gateway's hits and misses; the server's evictions, memory in use, budget; the db's keys.

        The first call warns (a log line) when the server's ``maxmemory-policy`` does not evict
        any key to make room (``noeviction``, ``volatile-*``).

        Raises:
            SharedStoreError: as :meth:`get`.
        """
        pipe = self._client.pipeline(transaction=False)
        pipe.info("memory")
        pipe.info("stats")
        pipe.dbsize()
        memory, stats, items = await bounded(pipe.execute(), self._timeout_s, self._cooldown)
        policy = str(memory.get("maxmemory_policy", ""))
        if policy not in _EVICTING_POLICIES and not self._warned:
            self._warned = True
            log.warning(
                "the Redis of the audio cache runs with maxmemory-policy %r (maxmemory %s): once full it "
                "refuses new entries (counted as cache put errors) or evicts only keys with a TTL; "
                "run it with maxmemory-policy allkeys-lru",
                policy,
                memory.get("maxmemory", 0),
            )
        return CacheStats(
            hits=self.hits,
            misses=self.misses,
            evictions=int(stats.get("evicted_keys", 0)),
            bytes=int(memory.get("used_memory", 0)),
            items=int(items),
            max_bytes=int(memory.get("maxmemory", 0)),
        )

    async def close(self) -> None:
        """Close the connections (the gateway is stopping)."""
        await self._pool.disconnect()


def redis_cache_from_url(
    url: str, *, clock: Clock | None = None, cooldown: Cooldown | None = None
) -> RedisCache:
    """Build a :class:`RedisCache` from ``redis://[:password@]host:port/db?max_bytes=...``.

    Parameters (integers): ``max_bytes`` (largest entry, default 16 MiB), ``ttl_s`` (default 0:
    no expiry), ``timeout_ms`` (bound on each call, default 250), ``cooldown_ms`` (fail fast for
    this long after a failure, default 1000). Anything else in the query is refused.

    Args:
        url: the store URL (``redis://`` or ``rediss://``).
        clock: monotonic time for the cool-down.
        cooldown: a cool-down shared with the other stores on the same server.

    Returns:
        The store; it connects on first use.

    Raises:
        ValueError: on an unknown parameter or a non-integer value.
        ImportError: without the redis client (``pip install 'voxgate[scale]'``).
    """
    parsed = _parse_url(url, {"redis": _PARAMS, "rediss": _PARAMS})
    parts = urlsplit(url)
    server = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode({}), ""))
    p = parsed.params
    timeout_s = p.get("timeout_ms", round(DEFAULT_TIMEOUT_S * 1000)) / 1000
    return RedisCache(
        connection_pool(server, timeout_s),
        max_entry_bytes=p.get("max_bytes", DEFAULT_REDIS_MAX_ENTRY_BYTES),
        ttl_s=p.get("ttl_s", 0),
        timeout_s=timeout_s,
        cooldown_s=p.get("cooldown_ms", round(DEFAULT_COOLDOWN_S * 1000)) / 1000,
        clock=clock,
        cooldown=cooldown,
    )
