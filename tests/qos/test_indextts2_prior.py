"""The local IndexTTS-2 engine's latency prior: interactive requests pass it by, batch work uses it.

Its weights are not here, so the engine is declared by a stand-in backend (its voice, ready, one
slot) that records every call and answers with silence; espeak runs in real worker processes, and
the router, estimator and priors are the ones ``build_synthesizer`` wires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import numpy as np
import pytest

from voxgate.clock import SystemClock
from voxgate.placement import CompositeBackend
from voxgate.qos.events import EventBus
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.types import AudioChunk, Gender, Priority, SynthesisOptions, VoiceInfo
from voxgate.wiring import build_synthesizer
from voxgate.workers.backend import ChunkSink, LocalBackend
from voxgate.workers.pool import Settled, WorkerSnapshot

ZH = "今天的天气很好，我们去公园散步吧。"
EN = "The birch canoe slid on the smooth planks."


class IndexTTS2StandIn:
    """Stand-in for the ``indextts2`` engine (no weights here): ready, one slot, records its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self, grace_s: float) -> None:
        """Nothing to stop."""

    def engines(self) -> Sequence[str]:
        return ["indextts2"]

    def voices(self) -> Sequence[VoiceInfo]:
        return [VoiceInfo("idx-a", "indextts2", ("zh", "en"), Gender.UNKNOWN, 22050, honours=frozenset())]

    def model_version(self, engine: str) -> str:
        return "stand-in"

    def is_ready(self, engine: str) -> bool:
        return True

    def capacity(self, engine: str) -> int:
        return 1

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """Its capacity never changes."""

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
        self.calls.append(text)
        if on_settled is not None:
            on_settled(None)
        return [AudioChunk(np.zeros(11025, dtype=np.float32), 22050, text)]

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        return {}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """espeak only (one worker), so the chain of an IndexTTS-2 voice is ``indextts2 → espeak``."""
    return Settings.load(
        data_dir=tmp_path_factory.mktemp("idx-prior"),
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        cache={"url": "memory://?max_bytes=0"},
    )


def run_with(
    settings: Settings, stand_in: IndexTTS2StandIn, body: Callable[[Synthesizer], Awaitable[None]]
) -> None:
    """Start a Synthesizer over real espeak workers plus the stand-in, run ``body``, stop it."""
    import asyncio

    async def main() -> None:
        bus, clock = EventBus(), SystemClock()
        backend = CompositeBackend([LocalBackend(settings, clock, bus.publish), stand_in])
        synth = build_synthesizer(settings, clock=clock, bus=bus, backend=backend)
        await synth.start()
        try:
            await body(synth)
        finally:
            await synth.stop(grace_s=1)

    asyncio.run(asyncio.wait_for(main(), 90))


def test_interactive_requests_route_past_it_and_batch_work_uses_it(settings: Settings) -> None:
    """Unmeasured, a 3 s interactive request goes to espeak (indextts2:too_slow); a batch one to indextts2."""
    stand_in = IndexTTS2StandIn()

    async def body(synth: Synthesizer) -> None:
        for text in (ZH, "好。", EN, "Hi."):
            request = SynthesisRequest(text, voice="idx-a", priority=Priority.INTERACTIVE, deadline_s=3.0)
            result = await synth.synthesize(request)
            assert (result.meta.engine, result.meta.fallback_reason) == ("espeak", "indextts2:too_slow")
        assert stand_in.calls == []
        batch = await synth.synthesize(SynthesisRequest(ZH, voice="idx-a", priority=Priority.BATCH))
        assert batch.meta.engine == "indextts2"
        assert not batch.meta.degraded
        assert stand_in.calls == [ZH]

    run_with(settings, stand_in, body)
