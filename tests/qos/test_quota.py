"""Quota days and the memory quota store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from voxgate.qos.quota import MemoryQuotaStore, quota_store_from_url, seconds_until_utc_midnight, utc_day


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


def test_memory_store_charges_up_to_the_limit_and_refunds_floor_at_zero() -> None:
    """try_charge is all-or-nothing against the limit; refunds never go below zero."""

    async def scenario() -> None:
        store = MemoryQuotaStore()
        assert await store.try_charge("a", "2026-05-28", 70, 100)
        assert not await store.try_charge("a", "2026-05-28", 31, 100)
        assert await store.try_charge("b", "2026-05-28", 100, 100)
        assert await store.used("a", "2026-05-28") == 70
        await store.refund("a", "2026-05-28", 500)
        assert await store.used("a", "2026-05-28") == 0
        with pytest.raises(ValueError, match="chars"):
            await store.try_charge("a", "2026-05-28", -1, 100)

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


def test_store_factory_knows_memory_only() -> None:
    """memory:// builds a MemoryQuotaStore; other schemes are refused."""
    assert isinstance(quota_store_from_url("memory://"), MemoryQuotaStore)
    with pytest.raises(ValueError, match="unsupported"):
        quota_store_from_url("redis://localhost")
