"""Faults on every engine, the last resort included, on real worker subprocesses (issue 11).

Every worker of an engine killed or frozen under concurrent load, poison inputs, calls abandoned
while their worker runs, and short deadlines that must not open a breaker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from voxgate.errors import NoEngineAvailable
from voxgate.qos.breaker import BreakerState
from voxgate.qos.poison import InputPoisoned
from voxgate.qos.router import ChainStep
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import with_synthesizer
from voxgate.types import Priority, SynthesisOptions
from voxgate.workers.pool import WorkerPool

pytestmark = pytest.mark.long  # fault drills: run by CI after the default suite (`-m long`)

EN = "Request number {} reads a short sentence for the test."
ZH = "这是第{}个请求，请读一个短句。"
EN_OPTS = SynthesisOptions(language="en")


def _settings(
    data_dir: Path,
    *,
    piper: dict[str, Any] | None = None,
    espeak: dict[str, Any] | None = None,
) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"workers": 2, **(piper or {})},
            "espeak": {"workers": 2, **(espeak or {})},
        },
    )


def _pool(synth: Synthesizer, engine: str) -> WorkerPool:
    pool: WorkerPool = synth.backend.pools[engine]  # type: ignore[attr-defined]
    return pool


async def _until(predicate: Any, timeout: float) -> None:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, "condition not met in time"
        await asyncio.sleep(0.02)


async def _load_with_fault(synth: Synthesizer, engine: str, sig: signal.Signals) -> list[str]:
    """30 requests (English: piper → espeak; Chinese: espeak alone), every worker of ``engine`` hit
    with ``sig`` while they run, 10 more arriving while it is down; returns each answer's engine."""
    pool = _pool(synth, engine)
    await _until(lambda: pool.ready_count == 2, 20)

    async def one(i: int) -> str:
        text = (EN if i % 2 else ZH).format(i)
        voice = "joe" if i % 2 else None
        result = await synth.synthesize(
            SynthesisRequest(text, voice=voice, priority=Priority.INTERACTIVE, deadline_s=6.0)
        )
        assert result.audio
        return result.meta.engine

    calls = [asyncio.ensure_future(one(i)) for i in range(30)]
    await asyncio.sleep(0.15)
    victims = [w.pid for w in pool.snapshot() if w.pid is not None]
    for pid in victims:
        os.kill(pid, sig)
    calls += [asyncio.ensure_future(one(i)) for i in range(30, 40)]
    engines = list(await asyncio.gather(*calls))
    await _until(lambda: pool.ready_count == 2 and not {w.pid for w in pool.snapshot()} & set(victims), 20)
    return engines


@pytest.mark.parametrize("engine", ["espeak", "piper"])
def test_every_worker_of_an_engine_killed_under_load_fails_no_request(data_dir: Path, engine: str) -> None:
    """SIGKILL every worker of piper, or of the last resort espeak, under 40 concurrent requests:
    every request is answered (the last resort waits for its restart instead of "not_ready")."""

    async def body(synth: Synthesizer) -> None:
        engines = await _load_with_fault(synth, engine, signal.SIGKILL)
        assert len(engines) == 40

    with_synthesizer(_settings(data_dir), body, timeout_s=120)


def test_every_last_resort_worker_frozen_under_load_fails_no_request(data_dir: Path) -> None:
    """SIGSTOP both espeak workers under 40 concurrent requests: the watchdog kills them, the calls
    they held are retried on the replacements, and every request is answered."""

    async def body(synth: Synthesizer) -> None:
        engines = await _load_with_fault(synth, "espeak", signal.SIGSTOP)
        assert len(engines) == 40

    with_synthesizer(_settings(data_dir), body, timeout_s=120)


def test_poison_input_goes_straight_to_the_next_engine_after_two_deaths(data_dir: Path) -> None:
    """A text that crashes piper is answered by espeak; after its second crash it is not given to
    piper again (reason piper:poisoned, no worker lost) and InputPoisoned is published."""

    async def body(synth: Synthesizer) -> None:
        pool = _pool(synth, "piper")
        request = SynthesisRequest("This sentence is POISON for piper.", voice="joe", deadline_s=8.0)
        with synth.bus.capture() as events:
            reasons = []
            for _ in range(3):
                await _until(lambda: pool.ready_count == 1, 30)  # the replacement of the last victim
                result = await synth.synthesize(request)
                assert (result.meta.engine, result.meta.degraded) == ("espeak", True)
                reasons.append(result.meta.fallback_reason)
        assert reasons == ["piper:crashed", "piper:crashed", "piper:poisoned"]
        assert pool.restarts == 2
        poisoned = [e for e in events if isinstance(e, InputPoisoned)]
        assert [(e.engine, e.deaths) for e in poisoned] == [("piper", 1), ("piper", 2)]
        assert Priority.INTERACTIVE in poisoned[-1].priorities
        clean = await synth.synthesize(SynthesisRequest("A clean sentence.", voice="joe"))
        assert clean.meta.engine == "piper"

    piper = {"workers": 1, "chaos": {"enabled": True, "poison_text": "POISON", "poison_effect": "crash"}}
    with_synthesizer(_settings(data_dir, piper=piper), body, timeout_s=120)


@pytest.mark.parametrize("effect", ["crash", "hang", "oom"])
def test_batch_segment_is_not_retried_on_an_engine_that_died_on_it(data_dir: Path, effect: str) -> None:
    """A job segment that crashed, hung (killed by the hang watchdog) or blew piper's memory limit
    once goes to espeak on its retry without touching piper (threshold 1 for BATCH)."""

    async def body(synth: Synthesizer) -> None:
        pool = _pool(synth, "piper")
        request = SynthesisRequest(
            "Chapter one holds a POISON segment.", voice="joe", priority=Priority.BATCH, deadline_s=4.0
        )
        first = await synth.synthesize(request)
        assert first.meta.engine == "espeak"
        await _until(lambda: pool.restarts == 1 and pool.ready_count == 1, 30)  # the death was seen
        second = await synth.synthesize(request)
        assert (second.meta.engine, second.meta.fallback_reason) == ("espeak", "piper:poisoned")
        assert pool.restarts == 1

    piper = {
        "workers": 1,
        "hang_after_s": 0.3,
        "soft_rss_mb": 900,
        "hard_rss_mb": 900,
        "chaos": {"enabled": True, "poison_text": "POISON", "poison_effect": effect},
    }
    with_synthesizer(_settings(data_dir, piper=piper), body, timeout_s=120)


def test_abandoned_call_keeps_its_slot_until_its_worker_is_free(data_dir: Path) -> None:
    """A call that times out, or is cancelled, while its worker runs keeps its scheduler slot until
    the worker has finished, so the engine is never granted more calls than it can run."""

    async def body(synth: Synthesizer) -> None:
        chain = [ChainStep("espeak", "espeak-en-us")]
        sched = synth.scheduler
        with pytest.raises(NoEngineAvailable):
            await synth.router.run(
                chain, "Slow.", EN_OPTS, priority=Priority.API, deadline=time.monotonic() + 0.3
            )
        assert sched.in_flight("espeak") == 1  # the worker still speaks the abandoned call
        await _until(lambda: sched.in_flight("espeak") == 0, 10)
        call = asyncio.ensure_future(
            synth.router.run(chain, "Gone.", EN_OPTS, priority=Priority.API, deadline=time.monotonic() + 5)
        )
        await asyncio.sleep(0.3)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert sched.in_flight("espeak") == 1
        await _until(lambda: sched.in_flight("espeak") == 0, 10)
        assert synth.breakers.get("espeak").state is BreakerState.CLOSED

    espeak = {"workers": 1, "chaos": {"enabled": True, "latency_ms": 1000, "latency_sigma": 0}}
    with_synthesizer(_settings(data_dir, espeak=espeak), body, timeout_s=60)


def test_timeouts_on_deadlines_below_the_median_do_not_open_the_breaker(data_dir: Path) -> None:
    """Ten calls with a 0.1 s deadline on an engine whose median is 0.4 s all time out, but its
    breaker stays closed: a client's tiny deadline is not the engine's failure."""

    async def body(synth: Synthesizer) -> None:
        chain = [ChainStep("espeak", "espeak-en-us")]
        for i in range(5):  # the estimator learns the engine's median
            await synth.router.run(
                chain, f"Warm {i}.", EN_OPTS, priority=Priority.API, deadline=time.monotonic() + 5
            )
        for i in range(10):
            with pytest.raises(NoEngineAvailable):
                await synth.router.run(
                    chain, f"Hurry {i}.", EN_OPTS, priority=Priority.API, deadline=time.monotonic() + 0.1
                )
        assert synth.breakers.get("espeak").state is BreakerState.CLOSED

    espeak = {"workers": 2, "chaos": {"enabled": True, "latency_ms": 400, "latency_sigma": 0}}
    with_synthesizer(_settings(data_dir, espeak=espeak), body, timeout_s=90)


def test_a_primary_timeout_leaves_the_last_resort_time_to_answer_when_it_is_slowed(
    data_dir: Path,
) -> None:
    """Piper hangs; espeak is slowed (as on a saturated machine) beyond its estimate: piper's
    timeout still leaves espeak enough of the deadline to answer (50 ms of reserve did not: 503s
    under 3x overload)."""

    async def body(synth: Synthesizer) -> None:
        for i in range(4):
            result = await synth.synthesize(SynthesisRequest(EN.format(i), voice="joe", deadline_s=2.0))
            assert result.meta.engine == "espeak"  # piper: timeout, or queue_timeout once both hang

    piper = {"hang_after_s": 0.2, "chaos": {"enabled": True, "hang_rate": 1.0}}
    espeak = {"chaos": {"enabled": True, "latency_ms": 250, "latency_sigma": 0}}  # its prior: 0.14 s
    with_synthesizer(_settings(data_dir, piper=piper, espeak=espeak), body, timeout_s=90)
