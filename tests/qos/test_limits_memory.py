"""The in-process rate-limit storage: limits' own limits, no thread hop, expiry still bounds memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import limits
import limits.aio.storage
import limits.aio.strategies

from voxgate.qos.admission import Admission, AdmissionConfig
from voxgate.qos.limits_memory import LoopMemoryStorage
from voxgate.testing import FakeClock
from voxgate.types import Priority


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor, counting what is handed to it (``asyncio.to_thread`` included)."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Count, then run as usual."""
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_admission_never_leaves_the_event_loop() -> None:
    """Admitting requests under the default in-memory rate limits hands no work to a thread."""

    async def scenario() -> int:
        executor = CountingExecutor()
        asyncio.get_running_loop().set_default_executor(executor)
        admission = Admission(
            AdmissionConfig(rate_limit="1000/minute;10000/hour"), FakeClock(wall_start=time.time())
        )
        for i in range(50):
            await admission.admit(f"client{i % 3}", Priority.API, 10, 30.0, lambda _p, _c: 0.0, queued=0)
            await asyncio.sleep(0)  # let any background expiry run
        return executor.submitted

    assert asyncio.run(scenario()) == 0


def test_limits_are_enforced_as_before() -> None:
    """A moving window of 3 per minute admits 3 hits and refuses the 4th, per key."""

    async def scenario() -> list[bool]:
        limiter = limits.aio.strategies.MovingWindowRateLimiter(LoopMemoryStorage())
        item = limits.parse("3/minute")
        return [await limiter.hit(item, key) for key in ("a", "a", "a", "a", "b")]

    assert asyncio.run(scenario()) == [True, True, True, False, True]


def test_expired_entries_and_counters_are_dropped() -> None:
    """An expiry pass leaves no trace of windows and counters that have run out."""

    async def scenario() -> LoopMemoryStorage:
        storage = LoopMemoryStorage()
        await limits.aio.strategies.MovingWindowRateLimiter(storage).hit(limits.parse("5/minute"), "a")
        await limits.aio.strategies.FixedWindowRateLimiter(storage).hit(limits.parse("5/minute"), "b")
        assert storage.events
        assert storage.storage
        storage.expire(time.time() + 120)
        return storage

    storage = asyncio.run(scenario())
    assert (storage.events, dict(storage.storage), storage.expirations, dict(storage.locks)) == (
        {},
        {},
        {},
        {},
    )


def test_every_operation_runs_the_expiry_pass() -> None:
    """limits' private hook still exists and reaches our pass: an operation on one key expires another."""
    assert hasattr(limits.aio.storage.MemoryStorage, "_MemoryStorage__schedule_expiry")

    async def scenario() -> list[str]:
        storage = LoopMemoryStorage(expiry_interval_s=0.0)
        limiter = limits.aio.strategies.MovingWindowRateLimiter(storage)
        await limiter.hit(limits.parse("5/minute"), "old")
        for entry in storage.events[next(iter(storage.events))]:
            entry.expiry = 0.0  # as if it had run out long ago
        await limiter.hit(limits.parse("5/minute"), "new")
        return list(storage.events)

    assert len(asyncio.run(scenario())) == 1
