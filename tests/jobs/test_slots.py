"""The job slot limiter: a live limit, first come first served, cancellation never loses a slot."""

from __future__ import annotations

import asyncio

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


def test_a_limit_of_zero_still_grants_one_slot_and_a_raised_limit_is_used() -> None:
    """Capacity 0 (engine restarting) still lets one segment run; raising the limit lets waiters in."""

    async def main() -> None:
        limit = [0]
        slots = Slots(lambda: limit[0])
        await slots.acquire()
        second = asyncio.ensure_future(slots.acquire())
        third = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0)
        assert not second.done()
        limit[0] = 3
        slots.release()  # wakes the second, which sees room for the third too
        await asyncio.wait_for(asyncio.gather(second, third), 1)
        assert slots.used == 2

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
