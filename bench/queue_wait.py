"""Per-call cost of ``Router.queue_wait`` with 10/100/1000 queued waiters: before and after.

    nice -n 5 .venv/bin/python bench/queue_wait.py            # a few seconds
    nice -n 5 .venv/bin/python bench/queue_wait.py --segments 476

``queue_wait`` runs on every routing try (and in admission) on the event loop. It used to sum one
estimate per queued waiter (``old`` below, reproduced inline from the code before the change);
it now reads the scheduler's running totals and sums the estimates in one call (``new``). Both
run against the same real scheduler, with a real estimator that has learned a line (past its
prior), two slots busy and the waiters spread over the three priority classes; each row asks at
``BATCH`` priority (every waiter counts), the worst case. Printed: µs per call (median of
rounds), estimator calls per call, and the largest relative difference between the two answers.

The last line is one request of ``--segments`` segments (a 16 KB SSML document of ``<voice>``
switches makes ~476): the loop time of one ``queue_wait`` per segment while its earlier
segments are queued, as each segment's routing try sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import cast

from voxgate.qos.breaker import BreakerConfig, BreakerRegistry
from voxgate.qos.estimator import LatencyEstimator, LatencyPrior
from voxgate.qos.events import EventBus
from voxgate.qos.router import Router
from voxgate.qos.scheduler import PriorityScheduler
from voxgate.testing import FakeClock
from voxgate.types import Priority
from voxgate.workers.backend import ExecutionBackend

SLOTS = 2
ENGINE = "kokoro"
LANGUAGE = "en"


class TwoSlotStandIn:
    """Stand-in backend: ``queue_wait`` only reads an engine's capacity; nothing runs."""

    def capacity(self, engine: str) -> int:
        return SLOTS


class CountingEstimator(LatencyEstimator):
    """The real estimator, counting the calls made to it."""

    calls = 0

    def estimate(self, engine: str, chars: int, quantile: float = 0.95) -> float:
        self.calls += 1
        return super().estimate(engine, chars, quantile)

    def estimate_total(self, engine: str, calls: int, chars: int, quantile: float = 0.95) -> float:
        self.calls += 1
        return super().estimate_total(engine, calls, chars, quantile)


def old_queue_wait(router: Router, scheduler: PriorityScheduler, engine: str, priority: Priority) -> float:
    """``Router.queue_wait`` as it was: one estimate per queued waiter."""
    slots = SLOTS
    queued = scheduler.queued_work(engine, priority)
    ahead = sum(router.estimate(engine, chars, LANGUAGE) for chars in queued)
    if scheduler.in_flight(engine) >= slots:
        ahead += router.estimate(engine, max(queued, default=100), LANGUAGE) / 2
    return ahead / slots


def build() -> tuple[Router, PriorityScheduler, CountingEstimator]:
    clock = FakeClock()
    scheduler = PriorityScheduler(clock, lambda _engine: SLOTS)
    estimator = CountingEstimator({}, default_prior=LatencyPrior(per_char_s=0.01, overhead_s=0.2))
    rng = random.Random(1)
    for _ in range(200):
        chars = rng.randint(5, 400)
        estimator.observe(f"{ENGINE}/{LANGUAGE}", chars, (0.15 + 0.008 * chars) * rng.uniform(0.8, 1.6))
    bus = EventBus()
    breakers = BreakerRegistry(BreakerConfig(), clock=clock, bus=bus)
    backend = cast(ExecutionBackend, TwoSlotStandIn())
    return Router(backend, scheduler, breakers, estimator, clock, bus), scheduler, estimator


async def fill(
    scheduler: PriorityScheduler,
    lengths: Sequence[int],
    *,
    slots: int = SLOTS,
    priority: Priority | None = None,
) -> list[asyncio.Task[None]]:
    """Take ``slots`` slots, then queue one waiter per length (in ``priority``, else classes in turn)."""
    hold = asyncio.Event()

    async def client(priority: Priority, chars: int) -> None:
        async with scheduler.slot(ENGINE, priority=priority, deadline=1e9, chars=chars):
            await hold.wait()

    classes = list(Priority)
    tasks = [asyncio.create_task(client(Priority.INTERACTIVE, 50)) for _ in range(slots)]
    tasks += [asyncio.create_task(client(priority or classes[i % 3], c)) for i, c in enumerate(lengths)]
    for _ in range(3):
        await asyncio.sleep(0)
    return tasks


def per_call_us(fn: Callable[[], float], calls: int, rounds: int) -> float:
    """Median over ``rounds`` of the µs per call of ``calls`` calls in a row."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(samples)


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(2)
    print(
        f"{'queued':>7} {'old µs/call':>12} {'new µs/call':>12} {'speed-up':>9} "
        f"{'old est.':>9} {'new est.':>9} {'max rel diff':>13}"
    )
    for waiting in (10, 100, 1000):
        router, scheduler, estimator = build()
        tasks = await fill(scheduler, [rng.randint(20, 600) for _ in range(waiting)])
        calls = max(20, 20_000 // waiting)

        old = functools.partial(old_queue_wait, router, scheduler, ENGINE, Priority.BATCH)
        new = functools.partial(router.queue_wait, ENGINE, Priority.BATCH, LANGUAGE)
        diff = max(abs(new() - old()) / old() for _ in range(3))
        estimator.calls = 0
        old()
        old_calls = estimator.calls
        estimator.calls = 0
        new()
        new_calls = estimator.calls
        old_us = per_call_us(old, calls, args.rounds)
        new_us = per_call_us(new, max(calls, 2000), args.rounds)
        print(
            f"{waiting:>7} {old_us:>12.1f} {new_us:>12.2f} {old_us / new_us:>8.0f}x "
            f"{old_calls:>9} {new_calls:>9} {diff:>13.1e}"
        )
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    segments = [rng.randint(10, 60) for _ in range(args.segments)]
    print(await request_cost(args.segments, segments))


async def request_cost(count: int, segments: Sequence[int]) -> str:
    """Loop time of one ``queue_wait`` per segment as the segments before it queue up."""
    results = []
    for name in ("old", "new"):
        router, scheduler, _ = build()
        tasks = await fill(scheduler, [])
        spent = 0.0
        for chars in segments:
            started = time.perf_counter()
            if name == "old":
                old_queue_wait(router, scheduler, ENGINE, Priority.API)
            else:
                router.queue_wait(ENGINE, Priority.API, LANGUAGE)
            spent += time.perf_counter() - started
            tasks += await fill(scheduler, [chars], slots=0, priority=Priority.API)
        results.append(f"{name} {spent * 1e3:.2f} ms")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return f"one request of {count} segments, queue_wait loop time: " + ", ".join(results)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per row (median)")
    parser.add_argument("--segments", type=int, default=476, help="segments of the one-request line")
    asyncio.run(main(parser.parse_args()))
