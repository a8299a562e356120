"""Quota days and the quota stores (memory and Redis under one contract)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from voxgate.qos.quota import (
    MemoryQuotaStore,
    QuotaStore,
    quota_store_from_url,
    quota_url_for_limits,
    seconds_until_utc_midnight,
    utc_day,
)


def epoch(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    """Epoch seconds of a UTC date and time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("wall", "day", "left"),
    [
        (epoch(2026, 5, 28, 0, 0, 0), "2026-05-28", 86_400.0),
        (epoch(2026, 5, 28, 12, 0, 0), "2026-05-28", 43_200.0),
        (epoch(2026, 5, 28, 23, 59, 59) + 0.5, "2026-05-28", 0.5),
        (epoch(2026, 12, 31, 23, 0, 0), "2026-12-31", 3_600.0),
    ],
)
def test_utc_day_and_time_to_midnight(wall: float, day: str, left: float) -> None:
    """Days are UTC calendar days; the reset is the next UTC midnight."""
    assert utc_day(wall) == day
    assert seconds_until_utc_midnight(wall) == pytest.approx(left)


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> Callable[[], QuotaStore]:
    """A maker of quota stores of each kind; Redis stores made by one maker share one database."""
    if request.param == "redis":
        from voxgate.qos.quota_redis import RedisQuotaStore
        from voxgate.redis_store import connection_pool

        url = request.getfixturevalue("redis_url")  # generous bounds: these tests are about semantics
        return lambda: RedisQuotaStore(connection_pool(url, 5.0), timeout_s=5.0)
    return MemoryQuotaStore


async def closed(*stores: QuotaStore) -> None:
    """Close the stores that hold connections (Redis)."""
    for store in stores:
        close = getattr(store, "close", None)
        if close is not None:
            await close()


def test_store_charges_up_to_the_limit_and_refunds_floor_at_zero(make_store) -> None:
    """try_charge is all-or-nothing against the limit; refunds never go below zero."""

    async def scenario() -> None:
        store = make_store()
        try:
            assert await store.try_charge("a", "2026-05-28", 70, 100)
            assert not await store.try_charge("a", "2026-05-28", 31, 100)
            assert await store.try_charge("b", "2026-05-28", 100, 100)
            assert await store.used("a", "2026-05-28") == 70
            await store.refund("a", "2026-05-28", 30)
            assert await store.used("a", "2026-05-28") == 40
            await store.refund("a", "2026-05-28", 500)
            assert await store.used("a", "2026-05-28") == 0
            assert await store.used("nobody", "2026-05-28") == 0
            with pytest.raises(ValueError, match="chars"):
                await store.try_charge("a", "2026-05-28", -1, 100)
        finally:
            await closed(store)

    asyncio.run(scenario())


def test_concurrent_charges_never_pass_the_limit(make_store) -> None:
    """Racing charges (from two stores: two gateways, for Redis) grant exactly the limit, no more."""

    async def scenario() -> None:
        one, two = make_store(), make_store()
        stores = [one, two] if not isinstance(one, MemoryQuotaStore) else [one, one]
        try:
            granted = await asyncio.gather(
                *(stores[i % 2].try_charge("c", "2026-05-28", 10, 95) for i in range(40))
            )
            assert sum(granted) == 9
            assert await stores[1].used("c", "2026-05-28") == 90
        finally:
            await closed(one, two)

    asyncio.run(scenario())


def test_memory_store_forgets_past_days_and_ignores_late_calls_for_them() -> None:
    """A new day starts empty; charges and refunds for a finished day change nothing."""

    async def scenario() -> None:
        store = MemoryQuotaStore()
        assert await store.try_charge("a", "2026-05-28", 100, 100)
        assert await store.try_charge("a", "2026-05-29", 100, 100)
        assert await store.used("a", "2026-05-28") == 0
        assert not await store.try_charge("a", "2026-05-28", 1, 100)
        await store.refund("a", "2026-05-28", 100)
        assert await store.used("a", "2026-05-29") == 100

    asyncio.run(scenario())


def test_store_factory_knows_memory_and_redis() -> None:
    """memory:// builds a MemoryQuotaStore, redis:// a RedisQuotaStore; other schemes are refused."""
    assert isinstance(quota_store_from_url("memory://"), MemoryQuotaStore)
    with pytest.raises(ValueError, match="unsupported"):
        quota_store_from_url("mongodb://localhost")


@pytest.mark.parametrize(
    ("limits_uri", "quota_url"),
    [
        ("async+memory://", "memory://"),
        ("async+redis://h:6379/2", "redis://h:6379/2"),
        ("async+rediss://:pw@h:6380/0", "rediss://:pw@h:6380/0"),
        ("redis://h:6379", "redis://h:6379"),
    ],
)
def test_quotas_live_where_the_rate_limits_live(limits_uri: str, quota_url: str) -> None:
    """The quota store follows qos.limits.storage_uri: the same Redis database, else this process."""
    assert quota_url_for_limits(limits_uri) == quota_url


def test_redis_quota_keys_are_namespaced_by_day_and_expire(redis_url: str) -> None:
    """One counter per client and day under voxgate:quota:v1:, with an expiry of two days."""
    import redis

    from voxgate.qos.quota_redis import KEY_TTL_S

    async def scenario() -> None:
        store = quota_store_from_url(redis_url)
        try:
            assert await store.try_charge("client:x", "2026-05-28", 5, 10)
        finally:
            await closed(store)

    asyncio.run(scenario())
    with redis.Redis.from_url(redis_url) as client:
        assert client.keys("*") == [b"voxgate:quota:v1:2026-05-28:client:x"]
        assert 0 < client.ttl("voxgate:quota:v1:2026-05-28:client:x") <= KEY_TTL_S
