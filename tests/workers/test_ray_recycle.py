"""Soft-RSS recycling of a Ray Serve replica, driven by the chaos wrapper's memory leak (marker ``scale``).

Its own module, after the backend contract suite: it deploys ``voxgate-espeak`` with other settings,
which would replace the contract suite's application if both were up at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest

from voxgate.clock import SystemClock
from voxgate.settings import Settings
from voxgate.types import SynthesisOptions
from voxgate.workers.events import ExitReason, WorkerEvent, WorkerExited, WorkerStarted

if TYPE_CHECKING:
    from voxgate.workers.ray_backend import RayBackend

pytestmark = pytest.mark.scale

ENGINE = "espeak"
VOICE = "espeak-en-us"
OPTS = SynthesisOptions(language="en")
LEAK_MB = 400
SOFT_MB = 350  # above a fresh replica (Ray's worker process: ~100-200 MiB), below one after a call


@dataclass
class Leaky:
    """The started backend, the loop it lives in, and the worker events it emitted."""

    backend: RayBackend
    runner: asyncio.Runner
    events: list[WorkerEvent] = field(default_factory=list)


@pytest.fixture(scope="module")
def leaky(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leaky]:
    """One espeak replica whose engine leaks 400 MB per call, with a 350 MiB soft limit."""
    from voxgate.workers.ray_backend import RayBackend

    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("recycle"),
        engines={
            "kokoro": {"enabled": False},
            "piper": {"enabled": False},
            "indextts2": {"enabled": False},
            "espeak": {
                "workers": 1,
                "soft_rss_mb": SOFT_MB,
                "hard_rss_mb": 4000,
                "chaos": {"enabled": True, "leak_mb_per_call": LEAK_MB},
            },
        },
    )
    events: list[WorkerEvent] = []
    backend = RayBackend("ray://local", settings, SystemClock(), events.append, poll_s=0.25)
    runner = asyncio.Runner()
    try:
        runner.run(asyncio.wait_for(backend.start(), 300))
        yield Leaky(backend, runner, events)
    finally:
        runner.run(asyncio.wait_for(backend.stop(2.0), 60))
        runner.close()


def test_replica_above_the_soft_limit_answers_then_is_recycled(leaky: Leaky) -> None:
    """The call that leaks past the soft limit is answered, the next one too, by the replica's replacement."""
    backend, events = leaky.backend, leaky.events

    def started() -> list[int]:
        return [e.pid for e in events if isinstance(e, WorkerStarted)]

    async def body() -> None:
        start = time.monotonic()
        while not started():
            assert time.monotonic() - start < 60, "no WorkerStarted"
            await asyncio.sleep(0.1)
        first = started()[0]
        chunks = await backend.run(ENGINE, "This call leaks.", VOICE, OPTS, time.monotonic() + 30)
        assert chunks  # the call that crossed the limit is not dropped
        # the replica refuses further calls; this one waits (the gateway retries) for the fresh one
        chunks = await backend.run(ENGINE, "And this one is answered.", VOICE, OPTS, time.monotonic() + 120)
        assert chunks
        while not any(isinstance(e, WorkerExited) and e.pid == first for e in events):
            assert time.monotonic() - start < 120, "the recycled replica's exit was not seen"
            await asyncio.sleep(0.1)
        exits = [e for e in events if isinstance(e, WorkerExited) and e.pid == first]
        assert exits[0].reason is ExitReason.RECYCLED
        assert len(set(started())) >= 2

    leaky.runner.run(asyncio.wait_for(body(), 240))
