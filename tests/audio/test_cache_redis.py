"""The Redis audio cache: shared between gateways, namespaced, bounded in time when Redis stops answering."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

from voxgate.audio.cache import CachedAudio, CacheError, FailOpenCache, cache_from_url, cache_key
from voxgate.audio.cache_redis import KEY_PREFIX, RedisCache
from voxgate.testing import FakeClock

KEY = cache_key(
    normalized_text="Hello.",
    voice="en_joe",
    speed=1.0,
    fmt="mp3",
    sample_rate=22050,
    engine="piper",
    model_version="1",
)
ENTRY = CachedAudio(b"ID3" + b"x" * 5000, "audio/mpeg", "piper", 22050, 1.5, 1_780_000_000.0)


def redis_cache(url: str, clock: FakeClock | None = None, **params: int) -> RedisCache:
    """A RedisCache from its URL with ``params`` as query parameters."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    store = cache_from_url(f"{url}?{query}" if query else url, clock=clock)
    assert isinstance(store, RedisCache)
    return store


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    """SIGSTOP a process (it holds its sockets open and answers nothing), SIGCONT it afterwards."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def test_an_entry_written_by_one_gateway_is_a_hit_on_another(redis_url: str) -> None:
    """Two stores on one Redis (two gateways) share entries, under the namespaced, versioned key."""
    import redis

    async def body() -> None:
        one, two = redis_cache(redis_url), redis_cache(redis_url)
        try:
            await one.put(KEY, ENTRY)
            assert await two.get(KEY) == ENTRY
            assert (two.hits, two.misses) == (1, 0)
        finally:
            await one.close()
            await two.close()

    asyncio.run(body())
    with redis.Redis.from_url(redis_url) as client:
        assert client.keys("*") == [f"{KEY_PREFIX}{KEY}".encode()]
        assert client.ttl(f"{KEY_PREFIX}{KEY}") == -1  # no expiry unless ttl_s is set


def test_ttl_and_damaged_values(redis_url: str) -> None:
    """ttl_s sets an expiry; a damaged or foreign value under a key is a miss, not an error."""
    import redis

    async def body() -> None:
        store = redis_cache(redis_url, ttl_s=60)
        try:
            await store.put(KEY, ENTRY)
            with redis.Redis.from_url(redis_url) as client:
                assert 0 < client.ttl(f"{KEY_PREFIX}{KEY}") <= 60
                client.setrange(f"{KEY_PREFIX}{KEY}", 200, b"damaged")
            assert await store.get(KEY) is None
            other = cache_key(
                normalized_text="Other.",
                voice="en_joe",
                speed=1.0,
                fmt="mp3",
                sample_rate=22050,
                engine="piper",
                model_version="1",
            )
            with redis.Redis.from_url(redis_url) as client:
                client.set(f"{KEY_PREFIX}{other}", client.get(f"{KEY_PREFIX}{KEY}") or b"")
                client.set(f"{KEY_PREFIX}{KEY}", b"not an entry")
            assert await store.get(KEY) is None
            assert await store.get(other) is None  # its header names another key
            stats = await store.stats()
            assert (stats.hits, stats.misses, stats.items) == (0, 3, 2)
            assert stats.max_bytes == 64 * 1024 * 1024  # the server's maxmemory
        finally:
            await store.close()

    asyncio.run(body())


def test_a_stopped_redis_costs_one_bounded_timeout_then_nothing(redis_server, redis_url: str) -> None:
    """Redis SIGSTOPped: the first call gives up at its timeout, later ones fail at once; all counted.

    After the cool-down (a fake clock advanced) and SIGCONT, the cache works again.
    """
    errors: list[CacheError] = []
    clock = FakeClock()

    async def body() -> None:
        store = redis_cache(redis_url, clock, timeout_ms=200, cooldown_ms=1000)
        cache = FailOpenCache(store, errors.append, clock=clock)
        try:
            await cache.put(KEY, ENTRY)  # connect while Redis answers
            with stopped(redis_server.process.pid):
                started = time.perf_counter()
                assert await cache.get(KEY) is None
                first = time.perf_counter() - started
                started = time.perf_counter()
                for _ in range(20):
                    assert await cache.get(KEY) is None
                    await cache.put(KEY, ENTRY)
                later = time.perf_counter() - started
            assert first < 5.0  # 0.2 s bound; a huge margin for a loaded machine
            assert later < first  # 40 calls in the cool-down cost less than one timeout
            assert len(errors) == 41
            clock.advance(1.5)
            assert await cache.get(KEY) == ENTRY
        finally:
            await cache.close()

    asyncio.run(body())
    assert {e.op for e in errors} == {"get", "put"}


def test_a_redis_that_does_not_evict_is_named_in_the_log(redis_url: str, caplog) -> None:
    """With maxmemory-policy noeviction the first stats() warns once; allkeys-lru (the fixture's) does not."""
    import redis

    async def body() -> None:
        store = redis_cache(redis_url)
        try:
            await store.stats()
            assert "maxmemory-policy" not in caplog.text
            with redis.Redis.from_url(redis_url) as client:
                client.config_set("maxmemory-policy", "noeviction")
            try:
                await store.stats()
                await store.stats()
            finally:
                with redis.Redis.from_url(redis_url) as client:
                    client.config_set("maxmemory-policy", "allkeys-lru")
        finally:
            await store.close()

    asyncio.run(body())
    assert caplog.text.count("run it with maxmemory-policy allkeys-lru") == 1
