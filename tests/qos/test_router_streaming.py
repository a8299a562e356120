"""The router and an engine that streams: pieces are passed on, and no fallback follows a piece.

The backend is fault injection (named so): its ``remote`` engine passes one piece on, then fails,
as a remote whose connection breaks mid-answer does; ``espeak`` answers whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pytest

from voxgate.errors import EngineError, NoEngineAvailable
from voxgate.qos.breaker import BreakerConfig, BreakerRegistry
from voxgate.qos.estimator import LatencyEstimator, LatencyPrior
from voxgate.qos.events import EventBus
from voxgate.qos.router import ChainStep, Routed, Router
from voxgate.qos.scheduler import PriorityScheduler
from voxgate.testing import FakeClock
from voxgate.types import AudioChunk, Priority, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import ChunkSink
from voxgate.workers.pool import Settled, WorkerSnapshot

pytestmark = pytest.mark.timeout(20)

CHAIN = [ChainStep("remote", "r-us"), ChainStep("espeak", "espeak-en-us")]


def _chunk(seconds: float = 0.1) -> AudioChunk:
    return AudioChunk(np.zeros(int(24000 * seconds), dtype=np.float32), 24000, "x")


class BreaksMidAnswerBackend:
    """Fault injection: ``remote`` gives a piece to ``on_chunk`` then fails; ``espeak`` answers whole
    (with ``fail_everywhere``, every engine fails). The texts ``hold`` (answered once ``release`` is
    set) and ``next`` are answered whole by any engine; ``slots`` is every engine's capacity."""

    def __init__(self, *, fail_everywhere: bool = False, slots: int = 2) -> None:
        self.calls: list[str] = []
        self.streamed: list[bool] = []  # each call's opts.stream
        self.fail_everywhere = fail_everywhere  # every engine fails every call, espeak too
        self.slots = slots
        self.release = asyncio.Event()  # a call of the text "hold" answers only once this is set

    async def start(self) -> None:
        return None

    async def stop(self, grace_s: float) -> None:
        return None

    def engines(self) -> Sequence[str]:
        return ["remote", "espeak"]

    def voices(self) -> Sequence[VoiceInfo]:
        return []

    def model_version(self, engine: str) -> str:
        return "test"

    def is_ready(self, engine: str) -> bool:
        return True

    def capacity(self, engine: str) -> int:
        return self.slots

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
        self.calls.append(engine)
        self.streamed.append(opts.stream)
        if text == "hold":
            await self.release.wait()
        if on_settled is not None:
            on_settled(None)
        if text in ("hold", "next"):
            return [_chunk()]
        if self.fail_everywhere:
            raise EngineError(engine, "fault injection: fails")
        if engine == "espeak":
            return [_chunk()]
        if on_chunk is not None:
            on_chunk(_chunk())
        raise EngineError(engine, "connection broke mid-answer")

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        return {}


def _router(
    backend: BreaksMidAnswerBackend, clock: FakeClock, streaming: Collection[str] = frozenset()
) -> Router:
    bus = EventBus()
    return Router(
        backend,
        PriorityScheduler(clock, backend.capacity),
        BreakerRegistry(BreakerConfig(), clock=clock, bus=bus),
        LatencyEstimator({}, default_prior=LatencyPrior(per_char_s=0.001, overhead_s=0.01)),
        clock,
        bus,
        streaming=streaming,
    )


def test_no_fallback_after_a_piece_was_passed_on() -> None:
    """An engine that failed after giving a piece ends the chain; without a sink the fallback answers."""
    clock = FakeClock()
    backend = BreaksMidAnswerBackend()
    router = _router(backend, clock)
    given: list[Routed] = []
    opts = SynthesisOptions(language="en")

    async def scenario() -> None:
        with pytest.raises(NoEngineAvailable, match="after its first audio"):
            await router.run(
                CHAIN,
                "Hello.",
                opts,
                priority=Priority.API,
                deadline=clock.monotonic() + 10,
                on_chunk=lambda routed, _chunk: given.append(routed),
            )
        assert backend.calls == ["remote"]
        assert [(r.step.engine, r.degraded) for r in given] == [("remote", False)]
        deadline = clock.monotonic() + 10
        whole = await router.run(CHAIN, "Hello.", opts, priority=Priority.API, deadline=deadline)
        assert whole.step.engine == "espeak"
        assert whole.degraded

    asyncio.run(scenario())


def test_the_503_names_every_attempt_even_an_engine_tried_twice() -> None:
    """A chain espeak → remote → espeak that fails everywhere names all three tries, in order."""
    clock = FakeClock()
    backend = BreaksMidAnswerBackend(fail_everywhere=True)
    router = _router(backend, clock)
    chain = [
        ChainStep("espeak", "espeak-en-us"),
        ChainStep("remote", "r-us"),
        ChainStep("espeak", "espeak-en-us"),
    ]

    async def scenario() -> NoEngineAvailable:
        with pytest.raises(NoEngineAvailable) as caught:
            await router.run(
                chain,
                "Hello.",
                SynthesisOptions(language="en"),
                priority=Priority.API,
                deadline=clock.monotonic() + 10,
            )
        return caught.value

    error = asyncio.run(scenario())
    assert backend.calls == ["espeak", "remote", "espeak"]
    assert [engine for engine, _ in error.attempts] == ["espeak", "remote", "espeak"]
    assert str(error).count("espeak:") == 2


def test_a_streaming_engine_is_judged_by_its_first_audio_when_the_caller_streams() -> None:
    """A long text too slow for the deadline whole goes to the fallback, unless the caller streams
    and the engine streams: then only its first audio must fit."""
    clock = FakeClock()
    backend = BreaksMidAnswerBackend()
    bus = EventBus()
    router = Router(
        backend,
        PriorityScheduler(clock, backend.capacity),
        BreakerRegistry(BreakerConfig(), clock=clock, bus=bus),
        LatencyEstimator(
            {"espeak/en": LatencyPrior(per_char_s=0.0001, overhead_s=0.01)},
            default_prior=LatencyPrior(per_char_s=0.01, overhead_s=0.01),
        ),
        clock,
        bus,
        streaming={"remote"},
    )
    text = "word " * 60  # 300 characters: 3 s estimated whole, 0.31 s for a first window

    async def scenario() -> list[str]:
        for stream in (False, True):
            opts = SynthesisOptions(language="en", stream=stream)
            await router.run(CHAIN, text, opts, priority=Priority.API, deadline=clock.monotonic() + 1.0)
        return backend.calls

    # whole: remote skipped as too slow; streamed: remote tried (it fails here, espeak answers)
    assert asyncio.run(scenario()) == ["espeak", "remote", "espeak"]


def test_a_streaming_engine_streams_only_when_it_has_a_free_slot() -> None:
    """With its one slot busy, a call that asked to stream runs whole (streaming would only add
    compute to a queue); with the slot free it streams."""
    clock = FakeClock()
    backend = BreaksMidAnswerBackend(slots=1)
    router = _router(backend, clock, streaming={"remote"})
    chain = [ChainStep("remote", "r-us")]
    opts = SynthesisOptions(language="en", stream=True)

    async def scenario() -> None:
        def call(text: str) -> asyncio.Future[Routed]:
            deadline = clock.monotonic() + 60
            run = router.run(chain, text, opts, priority=Priority.API, deadline=deadline)
            return asyncio.ensure_future(run)

        held = call("hold")
        while not backend.streamed:
            await asyncio.sleep(0)
        waiting = call("next")
        for _ in range(10):
            await asyncio.sleep(0)
        backend.release.set()
        await asyncio.gather(held, waiting)

    asyncio.run(scenario())
    assert backend.streamed == [True, False]
