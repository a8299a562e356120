"""A real piper worker streams: the pool passes each piece on as it arrives and merges the answer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from voxgate.clock import SystemClock
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions
from voxgate.workers.messages import Warmup, WorkerSpec
from voxgate.workers.pool import PoolConfig, WorkerPool

TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."


def test_the_pool_passes_each_sentence_on_as_its_worker_sends_it(data_dir: Path) -> None:
    """espeak (which does not stream a sentence): on_chunk gets each sentence while the call still
    runs, and the returned list is the same sentences."""
    settings = Settings.load(data_dir=data_dir)
    spec = WorkerSpec("espeak", settings.model_dump_json(), (Warmup("Ready.", "espeak-en-us"),))
    given: list[tuple[AudioChunk, bool]] = []

    async def body() -> list[AudioChunk]:
        pool = WorkerPool(spec, PoolConfig(size=1), SystemClock(), lambda _event: None)
        await pool.start()
        try:
            call = asyncio.ensure_future(
                pool.run(
                    TEXT,
                    "espeak-en-us",
                    SynthesisOptions(language="en", stream=True),
                    time.monotonic() + 60,
                    on_chunk=lambda chunk: given.append((chunk, call.done())),
                )
            )
            return await call
        finally:
            await pool.stop()

    answer = asyncio.run(asyncio.wait_for(body(), 120))
    assert (
        [c.text for c, _ in given]
        == [c.text for c in answer]
        == [s.strip() + "." for s in TEXT.split(".")[:2]]
    )
    assert not any(ended for _, ended in given)


@pytest.mark.slow
def test_the_pool_passes_pieces_on_before_the_call_ends_and_returns_the_whole_answer(data_dir: Path) -> None:
    """With ``stream``, on_chunk gets piper's pieces while the call still runs; the returned list
    is one chunk per sentence, like a call without ``stream`` (same texts, words and lengths)."""
    settings = Settings.load(
        data_dir=data_dir, engines={"piper": {"threads": 1, "noise_scale": 0.0, "noise_w_scale": 0.0}}
    )
    spec = WorkerSpec("piper", settings.model_dump_json(), (Warmup("Ready.", "joe", "en"),))
    given: list[tuple[AudioChunk, bool]] = []  # each piece and whether the call had ended then

    async def body() -> tuple[list[AudioChunk], list[AudioChunk]]:
        pool = WorkerPool(spec, PoolConfig(size=1), SystemClock(), lambda _event: None)
        await pool.start()
        try:
            whole = await pool.run(TEXT, "joe", SynthesisOptions(language="en"), time.monotonic() + 60)
            call = asyncio.ensure_future(
                pool.run(
                    TEXT,
                    "joe",
                    SynthesisOptions(language="en", stream=True),
                    time.monotonic() + 60,
                    on_chunk=lambda chunk: given.append((chunk, call.done())),
                )
            )
            return whole, await call
        finally:
            await pool.stop()

    whole, streamed = asyncio.run(asyncio.wait_for(body(), 120))
    assert len(given) > len(whole) == 2  # pieces, not just the two sentences
    assert not any(ended for _, ended in given)
    assert [c.final for c, _ in given].count(True) == 2
    assert [(c.text, c.words, len(c.audio), c.final) for c in streamed] == [
        (c.text, c.words, len(c.audio), True) for c in whole
    ]
    assert sum(len(c.audio) for c, _ in given) == sum(len(c.audio) for c in whole)


def test_a_call_that_passed_audio_on_is_due_when_that_audio_has_played() -> None:
    """Before its first piece a call is due at its deadline; after, a grace after the audio given
    runs out (a slow streaming engine makes a gap, not a lost answer)."""
    from voxgate.workers.messages import Job
    from voxgate.workers.pool import _PendingJob

    async def body() -> None:
        pending = _PendingJob(Job(1, "x", "joe", 1.0, None), asyncio.get_running_loop().create_future())
        assert pending.due(10.0, 5.0) == 10.0
        pending.first_at, pending.given_s = 9.5, 2.0
        assert pending.due(10.0, 5.0) == 16.5
        assert pending.due(20.0, 5.0) == 20.0

    asyncio.run(body())
