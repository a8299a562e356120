"""Router.queue_wait reads the queue in O(1): no per-waiter estimates, same answer as summing them.

The backend is a stand-in (no engine runs here): ``queue_wait`` only reads its capacity.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager

import pytest

from voxgate.qos.breaker import BreakerConfig, BreakerRegistry
from voxgate.qos.estimator import LatencyEstimator, LatencyPrior
from voxgate.qos.events import EventBus
from voxgate.qos.router import Router
from voxgate.qos.scheduler import PriorityScheduler
from voxgate.testing import FakeClock
from voxgate.types import AudioChunk, Priority, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import ChunkSink
from voxgate.workers.pool import Settled, WorkerSnapshot

pytestmark = pytest.mark.timeout(20)

SLOTS = 2


class TwoSlotStandIn:
    """Stand-in backend: two slots per engine, never runs anything (``queue_wait`` reads capacity)."""

    async def start(self) -> None:
        return None

    async def stop(self, grace_s: float) -> None:
        return None

    def engines(self) -> Sequence[str]:
        return ["e"]

    def voices(self) -> Sequence[VoiceInfo]:
        return []

    def model_version(self, engine: str) -> str:
        return "test"

    def is_ready(self, engine: str) -> bool:
        return True

    def capacity(self, engine: str) -> int:
        return SLOTS

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        return None

    async def run(
        self,
        engine: str,
        text: str,
        voice: str,
        opts: SynthesisOptions,
        deadline: float,
        on_settled: Settled | None = None,
        on_chunk: ChunkSink | None = None,
    ) -> list[AudioChunk]:
        raise AssertionError("the stand-in runs nothing")

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        return {}


class CountingEstimator(LatencyEstimator):
    """A real estimator that counts how often it is asked (a spy, it answers as the real one)."""

    calls = 0

    def estimate(self, engine: str, chars: int, quantile: float = 0.95) -> float:
        self.calls += 1
        return super().estimate(engine, chars, quantile)

    def estimate_total(self, engine: str, calls: int, chars: int, quantile: float = 0.95) -> float:
        self.calls += 1
        return super().estimate_total(engine, calls, chars, quantile)


def _estimator(learned: bool) -> CountingEstimator:
    estimator = CountingEstimator({}, default_prior=LatencyPrior(per_char_s=0.002, overhead_s=0.05))
    if learned:  # past min_observations: the fitted line times a residual quantile answers
        rng = random.Random(7)
        for _ in range(40):
            chars = rng.randint(5, 400)
            estimator.observe("e/en", chars, (0.03 + 0.001 * chars) * rng.uniform(0.8, 1.6))
    return estimator


@asynccontextmanager
async def _queued(
    scheduler: PriorityScheduler, waiters: Sequence[tuple[Priority, int]]
) -> AsyncIterator[None]:
    """Fill every slot of ``e``, then queue ``waiters``; cancel them all on exit."""
    tasks: list[asyncio.Task[None]] = []
    hold = asyncio.Event()

    async def client(priority: Priority, chars: int) -> None:
        async with scheduler.slot("e", priority=priority, deadline=1e9, chars=chars):
            await hold.wait()

    for priority, chars in [(Priority.INTERACTIVE, 10)] * SLOTS + list(waiters):
        tasks.append(asyncio.create_task(client(priority, chars)))
    for _ in range(4):
        await asyncio.sleep(0)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _router(scheduler: PriorityScheduler, estimator: LatencyEstimator, clock: FakeClock) -> Router:
    bus = EventBus()
    registry = BreakerRegistry(BreakerConfig(), clock=clock, bus=bus)
    return Router(TwoSlotStandIn(), scheduler, registry, estimator, clock, bus)


def test_queue_wait_does_not_estimate_each_waiter() -> None:
    """queue_wait asks the estimator as often with 300 queued waiters as with 10 (it was once each)."""

    async def calls_with(waiting: int) -> int:
        clock = FakeClock()
        scheduler = PriorityScheduler(clock, lambda _engine: SLOTS)
        estimator = _estimator(learned=True)
        router = _router(scheduler, estimator, clock)
        async with _queued(scheduler, [(Priority.API, 50 + i) for i in range(waiting)]):
            assert scheduler.queued("e") == waiting
            estimator.calls = 0
            router.queue_wait("e", Priority.BATCH, "en")
            return estimator.calls

    few, many = asyncio.run(calls_with(10)), asyncio.run(calls_with(300))
    assert few == many <= 2


@pytest.mark.parametrize("learned", [False, True], ids=["prior", "learned"])
def test_queue_wait_equals_the_sum_of_each_waiters_estimate(learned: bool) -> None:
    """queue_wait gives what summing every queued waiter's estimate gave, for each priority."""

    async def scenario() -> None:
        clock = FakeClock()
        scheduler = PriorityScheduler(clock, lambda _engine: SLOTS)
        router = _router(scheduler, _estimator(learned), clock)
        rng = random.Random(3)
        waiters = [(rng.choice(list(Priority)), rng.randint(0, 900)) for _ in range(120)]
        async with _queued(scheduler, waiters):
            for priority in Priority:
                queued = scheduler.queued_work("e", priority)
                old = sum(router.estimate("e", chars, "en") for chars in queued)
                old += router.estimate("e", max(queued, default=100), "en") / 2
                assert router.queue_wait("e", priority, "en") == pytest.approx(old / SLOTS, rel=1e-9)

    asyncio.run(scenario())
