"""PriorityScheduler: dispatch order, capacity, expiry, cancellation, no leaked slots."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from voxgate.errors import VoxgateError
from voxgate.qos.scheduler import PriorityScheduler, QueueTimeout
from voxgate.testing import FakeClock
from voxgate.types import Priority

pytestmark = pytest.mark.timeout(20)  # a scheduling bug shows as a hang: fail fast instead

INTER, API, BATCH = Priority.INTERACTIVE, Priority.API, Priority.BATCH


def run(coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one test scenario in a fresh event loop."""
    asyncio.run(coro_fn())


async def settle(rounds: int = 6) -> None:
    """Let every runnable task take its next steps (a yield, not a sleep)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Harness:
    """Starts named clients that take a slot and hold it until released."""

    def __init__(self, scheduler: PriorityScheduler) -> None:
        self.scheduler = scheduler
        self.granted: list[str] = []
        self.holding: set[str] = set()
        self._release: dict[str, asyncio.Event] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, engine: str = "e", **kwargs: Any) -> asyncio.Task[None]:
        kwargs.setdefault("deadline", 1e9)
        event = asyncio.Event()
        self._release[name] = event

        async def client() -> None:
            async with self.scheduler.slot(engine, **kwargs):
                self.granted.append(name)
                self.holding.add(name)
                try:
                    await event.wait()
                finally:
                    self.holding.discard(name)

        task = asyncio.create_task(client())
        self.tasks[name] = task
        return task

    async def release(self, name: str) -> None:
        self._release[name].set()
        await settle()


def fixed(capacity: int) -> Callable[[str], int]:
    """A capacity function giving every engine ``capacity`` slots."""
    return lambda _engine: capacity


@pytest.mark.parametrize(
    ("arrivals", "expected"),
    [
        pytest.param(
            [("b", BATCH, 10.0), ("a", API, 50.0), ("i", INTER, 100.0)],
            ["i", "a", "b"],
            id="class-beats-deadline",
        ),
        pytest.param(
            [("late", API, 90.0), ("early", API, 30.0), ("mid", API, 60.0)],
            ["early", "mid", "late"],
            id="edf",
        ),
        pytest.param(
            [("first", API, 50.0), ("second", API, 50.0), ("third", API, 50.0)],
            ["first", "second", "third"],
            id="fifo-tie",
        ),
        pytest.param(
            [
                ("b1", BATCH, 5.0),
                ("a2", API, 70.0),
                ("i2", INTER, 80.0),
                ("a1", API, 60.0),
                ("i1", INTER, 20.0),
                ("b0", BATCH, 1.0),
            ],
            ["i1", "i2", "a1", "a2", "b0", "b1"],
            id="mixed",
        ),
    ],
)
def test_dispatch_order(arrivals: list[tuple[str, Priority, float]], expected: list[str]) -> None:
    """Waiters are served by class, then earliest deadline, then arrival order."""

    async def scenario() -> None:
        harness = Harness(PriorityScheduler(FakeClock(), fixed(1)))
        harness.start("blocker")
        await settle()
        for name, priority, deadline in arrivals:
            harness.start(name, priority=priority, deadline=deadline)
        await settle()
        assert harness.granted == ["blocker"]
        for name in ["blocker", *expected]:
            await harness.release(name)
        assert harness.granted == ["blocker", *expected]

    run(scenario)


def test_capacity_bounds_in_flight_per_engine() -> None:
    """No more than capacity(engine) leases are held; each engine has its own bound."""

    async def scenario() -> None:
        sched = PriorityScheduler(FakeClock(), {"x": 2, "y": 1}.__getitem__)
        harness = Harness(sched)
        for n in range(5):
            harness.start(f"x{n}", engine="x")
        for n in range(3):
            harness.start(f"y{n}", engine="y")
        await settle()
        assert harness.holding == {"x0", "x1", "y0"}
        assert (sched.in_flight("x"), sched.queued("x"), sched.in_flight("y"), sched.queued("y")) == (
            2,
            3,
            1,
            2,
        )
        await harness.release("x0")
        assert harness.holding == {"x1", "x2", "y0"}
        assert sched.in_flight("x") == 2

    run(scenario)


def test_notify_capacity_dispatches_after_growth_and_shrink_waits_for_releases() -> None:
    """Growth takes effect on notify_capacity; a shrink holds waiters back until releases."""

    async def scenario() -> None:
        caps = {"e": 0}
        sched = PriorityScheduler(FakeClock(), caps.__getitem__)
        harness = Harness(sched)
        for n in range(4):
            harness.start(f"w{n}")
        await settle()
        caps["e"] = 2
        await settle()
        assert harness.holding == set()  # nobody polls capacity by itself
        sched.notify_capacity("e")
        await settle()
        assert harness.holding == {"w0", "w1"}
        caps["e"] = 1
        await harness.release("w0")
        assert harness.holding == {"w1"}
        await harness.release("w1")
        assert harness.holding == {"w2"}

    run(scenario)


def test_waiters_with_a_fallback_leave_when_the_engine_loses_its_last_worker() -> None:
    """At capacity 0, leave_if_down waiters get QueueTimeout at once; the others wait for a restart."""

    async def scenario() -> None:
        caps = {"e": 1}
        sched = PriorityScheduler(FakeClock(), caps.__getitem__)
        harness = Harness(sched)
        harness.start("running")
        await settle()
        leaver = harness.start("leaver", leave_if_down=True, give_up_at=1e9)
        stayer = harness.start("stayer", give_up_at=1e9)
        await settle()
        sched.notify_capacity("e")  # a change that leaves capacity: nobody leaves
        await settle()
        assert not leaver.done()
        caps["e"] = 0  # the last worker died
        sched.notify_capacity("e")
        await settle()
        with pytest.raises(QueueTimeout):
            await leaver
        assert not stayer.done()
        caps["e"] = 1  # restarted
        await harness.release("running")
        assert harness.holding == {"stayer"}

    run(scenario)


def test_expire_fails_overdue_waiters_with_queue_timeout() -> None:
    """expire() wakes waiters past give_up_at with QueueTimeout; they are never dispatched."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(1))
        harness = Harness(sched)
        harness.start("blocker")
        await settle()
        doomed = harness.start("doomed", priority=INTER, give_up_at=clock.monotonic() + 5)
        harness.start("patient", priority=BATCH)
        await settle()
        clock.advance(4.9)
        assert sched.expire() == 0
        clock.advance(1.1)
        assert sched.expire() == 1
        await settle()
        assert doomed.done()
        with pytest.raises(QueueTimeout) as info:
            await doomed
        assert info.value.engine == "e"
        assert info.value.waited_s == pytest.approx(6.0)
        assert isinstance(info.value, VoxgateError)
        assert sched.queued("e") == 1
        await harness.release("blocker")
        assert harness.granted == ["blocker", "patient"]
        assert sched.snapshot()["e"].timed_out == 1

    run(scenario)


def test_overdue_waiter_is_skipped_at_dispatch_without_expire() -> None:
    """A release checks give_up_at against the clock and skips an overdue head waiter."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(1))
        harness = Harness(sched)
        harness.start("blocker")
        await settle()
        doomed = harness.start("doomed", priority=INTER, give_up_at=clock.monotonic() + 1)
        harness.start("next", priority=BATCH)
        await settle()
        clock.advance(2)
        await harness.release("blocker")
        assert harness.granted == ["blocker", "next"]
        assert doomed.done()
        with pytest.raises(QueueTimeout):
            await doomed

    run(scenario)


def test_give_up_at_in_the_past_is_refused_even_with_free_capacity() -> None:
    """A request arriving after its give_up_at gets QueueTimeout, not a slot."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(4))
        harness = Harness(sched)
        task = harness.start("late", give_up_at=clock.monotonic() - 0.5)
        await settle()
        assert task.done()
        with pytest.raises(QueueTimeout):
            await task
        assert (harness.granted, sched.in_flight("e"), sched.queued("e")) == ([], 0, 0)

    run(scenario)


def test_safety_net_timer_expires_waiter_once_the_clock_says_so() -> None:
    """The asyncio timer re-checks the clock: it waits while time remains, then expires."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(0))
        harness = Harness(sched)
        task = harness.start("w", give_up_at=clock.monotonic() + 0.002)
        done, _ = await asyncio.wait({task}, timeout=0.05)  # timer fires, clock has not moved: re-armed
        assert not done
        assert sched.queued("e") == 1
        clock.advance(0.01)
        with pytest.raises(QueueTimeout):
            await asyncio.wait_for(task, timeout=2.0)  # no expire() call: the timer does it
        assert sched.queued("e") == 0

    run(scenario)


def test_cancelled_waiter_is_removed_and_cancelled_holder_frees_its_slot() -> None:
    """Cancelling a queued waiter dequeues it; cancelling a holder releases its slot."""

    async def scenario() -> None:
        sched = PriorityScheduler(FakeClock(), fixed(1))
        harness = Harness(sched)
        holder = harness.start("holder")
        await settle()
        queued = harness.start("queued", priority=INTER)
        harness.start("last", priority=BATCH)
        await settle()
        queued.cancel()
        await settle()
        assert (sched.queued("e"), sched.snapshot()["e"].cancelled) == (1, 1)
        holder.cancel()
        await settle()
        assert harness.granted == ["holder", "last"]
        assert sched.in_flight("e") == 1

    run(scenario)


def test_waiter_cancelled_between_grant_and_resume_hands_the_slot_on() -> None:
    """A waiter granted a slot but cancelled before it runs passes the slot to the next."""

    async def scenario() -> None:
        sched = PriorityScheduler(FakeClock(), fixed(1))
        harness = Harness(sched)
        victim_box: list[asyncio.Task[None]] = []

        async def holder() -> None:
            async with sched.slot("e", deadline=1.0):
                await settle()
            victim_box[0].cancel()  # granted on release just above, has not resumed yet

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        victim_box.append(harness.start("victim", priority=INTER))
        harness.start("heir", priority=BATCH)
        await first
        await settle()
        assert victim_box[0].cancelled()
        assert harness.granted == ["heir"]
        assert sched.in_flight("e") == 1

    run(scenario)


def test_introspection_counts_queued_work_by_class() -> None:
    """queued, queued_work and snapshot describe the queue by class and characters."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(1))
        harness = Harness(sched)
        harness.start("blocker", chars=999)
        await settle()
        for name, priority, chars in [("b", BATCH, 300), ("a", API, 200), ("i", INTER, 100), ("a2", API, 50)]:
            harness.start(name, priority=priority, chars=chars)
        await settle()
        clock.advance(3)
        assert sched.queued("e", API) == 2
        assert sched.queued("other") == 0
        assert sched.queued_work("e", INTER) == [100]
        assert sched.queued_work("e", API) == [200, 100, 50]
        assert sched.queued_work("e", BATCH) == [300, 200, 100, 50]
        snap = sched.snapshot()["e"]
        assert (snap.capacity, snap.in_flight, snap.granted, snap.oldest_wait_s) == (1, 1, 1, 3.0)
        assert dict(snap.queued) == {INTER: 1, API: 2, BATCH: 1}

    run(scenario)


@pytest.mark.parametrize(("ageing_s", "first"), [(None, "api"), (10.0, "batch")])
def test_optional_ageing_promotes_old_batch_waiters_one_class(ageing_s: float | None, first: str) -> None:
    """With ageing, a batch waiter older than ageing_s competes as api (by deadline); without, it waits."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(1), ageing_s=ageing_s)
        harness = Harness(sched)
        harness.start("blocker")
        await settle()
        harness.start("batch", priority=BATCH, deadline=clock.monotonic() + 20)
        harness.start("api", priority=API, deadline=clock.monotonic() + 30)
        harness.start("interactive", priority=INTER, deadline=clock.monotonic() + 60)
        await settle()
        clock.advance(11)
        await harness.release("blocker")
        await harness.release("interactive")
        assert harness.granted[2] == first

    run(scenario)


def test_ageing_must_be_positive() -> None:
    """A non-positive ageing period is a configuration error."""
    with pytest.raises(ValueError, match="ageing_s"):
        PriorityScheduler(FakeClock(), fixed(1), ageing_s=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_acquire_release_cancel_never_leaks_a_slot(seed: int) -> None:
    """1000 random operations keep in_flight equal to the real holders and end at zero."""

    async def scenario() -> None:
        rng = random.Random(seed)
        clock = FakeClock()
        caps = {"x": 2, "y": 1}
        sched = PriorityScheduler(clock, caps.__getitem__, ageing_s=rng.choice([None, 5.0]))
        held: dict[str, set[int]] = {"x": set(), "y": set()}
        events: dict[int, asyncio.Event] = {}
        tasks: list[asyncio.Task[None]] = []

        async def client(n: int, engine: str, priority: Priority, give_up_at: float | None) -> None:
            event = events[n] = asyncio.Event()
            try:
                async with sched.slot(
                    engine,
                    priority=priority,
                    deadline=clock.monotonic() + rng.uniform(1, 30),
                    give_up_at=give_up_at,
                ):
                    held[engine].add(n)
                    try:
                        await event.wait()
                    finally:
                        held[engine].discard(n)
            except QueueTimeout:
                pass

        for n in range(1000):
            op = rng.random()
            if op < 0.4:
                give_up = clock.monotonic() + rng.uniform(0, 10) if rng.random() < 0.5 else None
                engine, priority = rng.choice("xy"), rng.choice(list(Priority))
                tasks.append(asyncio.create_task(client(n, engine, priority, give_up)))
            elif op < 0.65 and (holders := sorted(held["x"] | held["y"])):
                events[rng.choice(holders)].set()
            elif op < 0.8 and (live := [t for t in tasks if not t.done()]):
                rng.choice(live).cancel()
            elif op < 0.9:
                clock.advance(rng.uniform(0, 4))
                sched.expire()
            else:
                engine = rng.choice("xy")
                caps[engine] = rng.randint(0, 3)
                sched.notify_capacity(engine)
            await settle()
            for engine in caps:
                assert sched.in_flight(engine) == len(held[engine])

        caps.update(x=3, y=3)
        for engine in caps:
            sched.notify_capacity(engine)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert [(sched.in_flight(e), sched.queued(e)) for e in caps] == [(0, 0), (0, 0)]

    run(scenario)


def test_kept_lease_holds_its_slot_until_freed_once() -> None:
    """A lease kept past its body (work its engine goes on with) stays in flight, so the next
    waiter is not granted until the kept slot is freed; freeing twice frees once."""

    async def scenario() -> None:
        sched = PriorityScheduler(FakeClock(), fixed(1))
        async with sched.slot("e", deadline=10.0) as lease:
            free = lease.keep()
        assert sched.in_flight("e") == 1
        waiter = asyncio.ensure_future(_enter_and_leave(sched))
        await settle()
        assert not waiter.done()
        assert sched.queued("e") == 1
        free()
        free()
        await settle()
        assert waiter.done()
        assert sched.in_flight("e") == 0

    run(scenario)


async def _enter_and_leave(sched: PriorityScheduler) -> None:
    async with sched.slot("e", deadline=10.0):
        pass


def test_queued_load_keeps_pace_with_the_queue() -> None:
    """queued_load sums what queued_work lists through grants, cancels, expiry and ageing."""

    async def scenario() -> None:
        clock = FakeClock()
        sched = PriorityScheduler(clock, fixed(2), ageing_s=5.0)
        harness = Harness(sched)
        rng = random.Random(11)

        def check() -> None:
            for priority in Priority:
                work = sched.queued_work("e", priority)
                load = sched.queued_load("e", priority)
                expected = (len(work), sum(work), max(work, default=0))
                assert (load.calls, load.chars, load.max_chars) == expected

        for step in range(300):
            action = rng.random()
            if action < 0.5:
                give_up = clock.monotonic() + rng.uniform(1, 20) if rng.random() < 0.3 else None
                priority, chars = rng.choice(list(Priority)), rng.randint(0, 60)
                harness.start(f"w{step}", priority=priority, chars=chars, give_up_at=give_up)
            elif action < 0.65 and harness.holding:
                await harness.release(rng.choice(sorted(harness.holding)))
            elif action < 0.8:
                queued = [t for t in harness.tasks.values() if not t.done()]
                if queued:
                    rng.choice(queued).cancel()
            else:
                clock.advance(rng.uniform(0, 3))
                sched.expire()
            await settle()
            check()
        for task in harness.tasks.values():
            task.cancel()
        await asyncio.gather(*harness.tasks.values(), return_exceptions=True)
        check()
        assert sched.queued_load("e", BATCH) == sched.queued_load("nobody", BATCH)

    run(scenario)
