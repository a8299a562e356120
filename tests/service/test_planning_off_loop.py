"""The text front end of a synchronous request, and the assembly of its answer, run off the event
loop (they are linear, not free)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import voxgate.service
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import with_synthesizer

ADVERSARIAL = ("a中" * 2048)[:4096]
"""4 096 characters in 4 096 language runs: the slowest text front end input found (~0.5-0.9 s)."""


async def _ticks_while(work: asyncio.Future[object]) -> int:
    """How often a 5 ms ticker ran on the event loop while ``work`` ran (0 if work held the loop)."""
    ticks = 0
    while not work.done():
        await asyncio.sleep(0.005)
        ticks += 1
    await work
    return ticks


def test_planning_a_new_text_does_not_hold_the_event_loop(data_dir: Path) -> None:
    """While an adversarial 4 096-character text is planned, the loop keeps ticking."""
    settings = Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
    )

    async def body(synth: Synthesizer) -> None:
        started = time.perf_counter()
        work = asyncio.ensure_future(synth.planner.plan_async(SynthesisRequest(ADVERSARIAL, speed=1.25)))
        ticks = await _ticks_while(work)
        took = time.perf_counter() - started
        # A front end run on the loop lets the ticker run at most once; in a thread it keeps ticking.
        assert ticks >= 5, (ticks, took)
        synth.planner.plan(SynthesisRequest(ADVERSARIAL, speed=1.5))  # the sync path still works
        assert synth.planner.texts_prepared == 2
        repeat = asyncio.ensure_future(synth.planner.plan_async(SynthesisRequest(ADVERSARIAL, speed=1.25)))
        await repeat
        assert synth.planner.plans_reused == 1  # a remembered plan is answered on the loop

    with_synthesizer(settings, body)


def test_assembling_a_whole_answer_does_not_hold_the_event_loop(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's audio is put together in a thread: a 16 KB SSML document of 476 voice switches
    is ~380 s of audio from 476 segments, whose assembly held the loop (and /healthz) ~170 ms."""
    settings = Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
    )
    threads: list[threading.Thread] = []
    real = voxgate.service.assemble

    def assemble_spy(*args: Any, **kwargs: Any) -> np.ndarray:
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(voxgate.service, "assemble", assemble_spy)

    async def body(synth: Synthesizer) -> None:
        result = await synth.synthesize(SynthesisRequest("One. Two. Three.", use_cache=False))
        assert result.audio

    with_synthesizer(settings, body)
    assert threads
    assert threading.main_thread() not in threads
