"""The job slot limiter: a live limit (zero too), first come first served, cancellation never loses a slot."""

from __future__ import annotations

import asyncio
import time

import pytest

from voxgate.jobs.slots import Slots


def test_holders_never_exceed_the_limit_and_waiters_go_in_order() -> None:
    """With a limit of 2, six tasks run at most two at a time and start in arrival order."""

    async def main() -> list[int]:
        slots = Slots(lambda: 2)
        started: list[int] = []
        peak = 0

        async def one(i: int) -> None:
            nonlocal peak
            await slots.acquire()
            try:
                started.append(i)
                peak = max(peak, slots.used)
                await asyncio.sleep(0.01)
            finally:
                slots.release()

        await asyncio.gather(*(one(i) for i in range(6)))
        assert peak == 2
        assert slots.used == 0
        return started

    assert asyncio.run(main()) == list(range(6))


def test_a_limit_of_zero_makes_waiters_wait_until_wake_lets_them_in() -> None:
    """Limit 0 (the engine is busy with others): nobody gets a slot until the limit rises and wake() runs."""

    async def main() -> None:
        limit = [0]
        slots = Slots(lambda: limit[0], recheck_s=60)
        first = asyncio.ensure_future(slots.acquire())
        second = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not second.done()
        limit[0] = 2
        slots.wake()
        await asyncio.wait_for(asyncio.gather(first, second), 1)
        assert slots.used == 2

    asyncio.run(main())


def test_waiters_reread_a_risen_limit_on_their_own() -> None:
    """Without a wake(), a waiter still notices a risen limit within its re-check interval."""

    async def main() -> float:
        limit = [0]
        slots = Slots(lambda: limit[0], recheck_s=0.05)
        waiter = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0.12)
        assert not waiter.done()
        limit[0] = 1
        started = time.monotonic()
        await asyncio.wait_for(waiter, 1)
        return time.monotonic() - started

    assert asyncio.run(main()) < 0.5


def test_a_release_under_a_fallen_limit_does_not_let_a_waiter_in() -> None:
    """A holder leaving while the limit has fallen to 0 keeps the waiter waiting."""

    async def main() -> None:
        limit = [1]
        slots = Slots(lambda: limit[0], recheck_s=60)
        await slots.acquire()
        waiter = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        limit[0] = 0
        slots.release()
        await asyncio.sleep(0.05)
        assert not waiter.done()
        assert slots.used == 0
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        limit[0] = 1
        slots.wake()
        assert slots.used == 0  # the cancelled waiter left no claim behind

    asyncio.run(main())


def test_a_cancelled_waiter_passes_its_turn_on() -> None:
    """A waiter cancelled right after being woken hands the slot to the next waiter."""

    async def main() -> None:
        slots = Slots(lambda: 1)
        await slots.acquire()
        first = asyncio.ensure_future(slots.acquire())
        second = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        slots.release()  # wakes `first`...
        first.cancel()  # ...which is cancelled before it runs
        await asyncio.wait_for(second, 1)
        with pytest.raises(asyncio.CancelledError):
            await first
        assert slots.used == 1

    asyncio.run(main())
