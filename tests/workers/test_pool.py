"""Real worker subprocesses: dispatch, deadlines, crashes, freezes, leaks, restarts."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from voxgate.clock import SystemClock
from voxgate.errors import EngineCrashed, EngineError, EngineTimeout, EngineUnavailable, UnknownVoice
from voxgate.settings import Settings
from voxgate.types import SynthesisOptions
from voxgate.workers.events import ExitReason, WorkerEvent, WorkerExited, WorkerStarted
from voxgate.workers.messages import Warmup, WorkerSpec
from voxgate.workers.pool import PoolConfig, WorkerPool
from voxgate.workers.process import WorkerProcess

TEXT = "Hello from a worker process."
OPTS = SynthesisOptions(language="en")


def _pool(
    data_dir: Path, events: list[WorkerEvent], *, chaos: dict[str, Any] | None = None, **config: Any
) -> WorkerPool:
    settings = Settings.load(
        data_dir=data_dir, engines={"espeak": {"chaos": {"enabled": bool(chaos), **(chaos or {})}}}
    )
    spec = WorkerSpec("espeak", settings.model_dump_json(), (Warmup("Ready.", "espeak-en-us"),))
    return WorkerPool(spec, PoolConfig(**{"size": 2, **config}), SystemClock(), events.append)


def _run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(body(), 60))


async def _until(predicate: Callable[[], bool], timeout: float) -> float:
    """Wait (bounded) until predicate holds; return the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def _exits(events: list[WorkerEvent]) -> list[WorkerExited]:
    return [e for e in events if isinstance(e, WorkerExited)]


def test_pool_starts_warm_workers_and_synthesises(data_dir: Path) -> None:
    """Both workers warm up, report WorkerStarted, and a call returns real audio."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events)
        await pool.start()
        await _until(lambda: pool.ready_count == 2, 20)
        chunks = await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10)
        assert chunks[0].sample_rate == 22050
        assert chunks[0].duration > 0.5
        await pool.stop()

    _run(body)
    started = [e for e in events if isinstance(e, WorkerStarted)]
    assert len(started) == 2
    assert {e.reason for e in _exits(events)} == {ExitReason.SHUTDOWN}


def test_engine_errors_arrive_typed_and_worker_survives(data_dir: Path) -> None:
    """An UnknownVoice raised in the worker reaches the caller as UnknownVoice; the worker keeps serving."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, size=1)
        await pool.start()
        with pytest.raises(UnknownVoice) as info:
            await pool.run(TEXT, "espeak-nope", OPTS, time.monotonic() + 10)
        assert info.value.voice == "espeak-nope"
        chunks = await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10)
        assert chunks
        await pool.stop()

    _run(body)
    assert _exits(events)[0].reason is ExitReason.SHUTDOWN


def test_killed_idle_worker_is_detected_and_replaced(data_dir: Path) -> None:
    """A worker SIGKILLed from outside is seen within a second (capacity listeners hear it) and replaced."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events)
        await pool.start()
        await _until(lambda: pool.ready_count == 2, 20)
        capacities: list[int] = []
        pool.add_capacity_listener(lambda _engine: capacities.append(pool.ready_count))
        victim = pool.snapshot()[0].pid
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        detected = await _until(lambda: bool(_exits(events)), 1.0)
        assert detected < 1.0
        assert capacities[0] == 1
        await _until(lambda: pool.ready_count == 2, 5.0)
        assert pool.restarts == 1
        await pool.stop()

    _run(body)
    assert _exits(events)[0].reason is ExitReason.CRASHED


def test_hanging_job_times_out_at_its_deadline_and_its_worker_is_killed_after_the_grace(
    data_dir: Path,
) -> None:
    """A job that never returns raises EngineTimeout at the deadline; its worker dies hang_after_s later."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, chaos={"hang_rate": 1.0}, size=1, hang_after_s=0.5)
        await pool.start()
        deadline = time.monotonic() + 1.0
        with pytest.raises(EngineTimeout):
            await pool.run(TEXT, "espeak-en-us", OPTS, deadline)
        assert time.monotonic() - deadline < 0.3
        assert not _exits(events)  # not yet: it may only be slow
        killed = await _until(lambda: any(e.reason is ExitReason.DEADLINE for e in _exits(events)), 2)
        assert killed > 0.2
        await _until(lambda: pool.ready_count == 1, 5.0)
        await pool.stop(grace_s=0)

    _run(body)


def test_slow_job_times_out_but_its_worker_finishes_and_stays(data_dir: Path) -> None:
    """A job 0.6 s late (within the hang grace) fails its caller at the deadline; its worker serves on."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, chaos={"latency_ms": 800.0}, size=1, hang_after_s=5.0)
        await pool.start()
        pid = pool.snapshot()[0].pid
        with pytest.raises(EngineTimeout):
            await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 0.2)
        chunks = await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10.0)
        assert sum(len(c.audio) for c in chunks) > 0
        assert pool.snapshot()[0].pid == pid
        assert pool.restarts == 0
        await pool.stop(grace_s=0)

    _run(body)
    assert all(e.reason is ExitReason.SHUTDOWN for e in _exits(events))


def test_crash_during_job_is_engine_crashed(data_dir: Path) -> None:
    """A worker that dies mid-job fails that job with EngineCrashed at once, not at the deadline."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, chaos={"crash_rate": 1.0}, size=1)
        await pool.start()
        started = time.monotonic()
        with pytest.raises(EngineCrashed):
            await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 8.0)
        assert time.monotonic() - started < 1.0
        await pool.stop(grace_s=0)

    _run(body)


def test_frozen_worker_is_killed_before_the_deadline(data_dir: Path) -> None:
    """A SIGSTOPped busy worker is noticed by the watchdog and killed; its job fails fast as EngineCrashed."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, chaos={"latency_ms": 1500, "latency_sigma": 0}, size=1)
        await pool.start()
        call = asyncio.ensure_future(pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 20))
        await asyncio.sleep(0.2)
        pid = pool.snapshot()[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        with pytest.raises(EngineCrashed):
            await call
        assert time.monotonic() - started < 2.0
        await _until(lambda: pool.ready_count == 1, 5.0)
        await pool.stop(grace_s=0)

    _run(body)


def test_leaking_worker_is_recycled_without_failing_a_request(data_dir: Path) -> None:
    """Above the soft RSS limit a worker is recycled after its job; every request still gets audio."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(
            data_dir, events, chaos={"leak_mb_per_call": 40}, size=1, soft_rss_mb=150, hard_rss_mb=2000
        )
        await pool.start()
        for _ in range(12):
            chunks = await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 15)
            assert chunks
            await pool.watchdog_once()
        await pool.stop()

    _run(body)
    reasons = [e.reason for e in _exits(events)]
    assert ExitReason.RECYCLED in reasons
    assert all(e.rss_mb is None or e.rss_mb < 2000 for e in _exits(events))


def test_hard_limit_kills_at_once(data_dir: Path) -> None:
    """Above the hard RSS limit the watchdog kills the worker immediately."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        # no soft limit in reach: a sample in the soft band would recycle the worker gracefully
        # if its call ended before the next sample (the race that made this test flaky)
        pool = _pool(
            data_dir, events, chaos={"leak_mb_per_call": 300}, size=1, soft_rss_mb=10_000, hard_rss_mb=250
        )
        await pool.start()
        # the call leaks 300 MB and keeps it: the watchdog kills the worker during it or right after
        with contextlib.suppress(EngineCrashed):
            await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10)
        await pool.watchdog_once()
        await _until(lambda: any(e.reason is ExitReason.MEMORY_HARD for e in _exits(events)), 10)
        await pool.stop(grace_s=0)

    _run(body)


def test_restarts_back_off_when_a_worker_keeps_dying(data_dir: Path) -> None:
    """A worker that dies on every start is restarted with growing delays, not in a tight loop."""
    events: list[WorkerEvent] = []
    exits: list[float] = []

    def record(event: WorkerEvent) -> None:
        events.append(event)
        if isinstance(event, WorkerExited):
            exits.append(time.monotonic())

    async def body() -> None:
        settings = Settings.load(
            data_dir=data_dir,
            engines={"espeak": {"chaos": {"enabled": True, "crash_rate": 1.0, "spare_warmup": False}}},
        )
        spec = WorkerSpec("espeak", settings.model_dump_json(), (Warmup("Ready.", "espeak-en-us"),))
        pool = WorkerPool(spec, PoolConfig(size=1, backoff_base_s=1.0), SystemClock(), record)
        await pool.start(wait_ready=False)
        await _until(lambda: len(exits) >= 4, 30)
        await pool.stop(grace_s=0)

    _run(body)
    gaps = [b - a for a, b in itertools.pairwise(exits)]
    # delays 0, 1 s, 2 s between the first deaths (on top of the spawn time, which is the same each time)
    assert gaps[2] - gaps[0] > 1.5, gaps
    assert all(e.reason is ExitReason.CRASHED for e in _exits(events)[:4])


def test_workers_killed_after_serving_restart_without_backoff(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Workers SIGKILLed from outside after doing work are not a crash loop: no restart delay,
    however many deaths in a row (an external kill every few seconds once escalated it to 30 s)."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, size=1, backoff_base_s=30.0)
        await pool.start()
        for _ in range(4):
            assert await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10)
            (victim,) = [w.pid for w in pool.snapshot()]
            assert victim is not None
            os.kill(victim, signal.SIGKILL)
            await _until(lambda v=victim: pool.ready_count == 1 and pool.snapshot()[0].pid != v, 20)
        await pool.stop()

    with caplog.at_level("WARNING", logger="voxgate.workers.pool"):
        _run(body)
    assert [e.reason for e in _exits(events)][:4] == [ExitReason.CRASHED] * 4
    assert not [r for r in caplog.records if "restarting in" in r.getMessage()]


def test_expired_deadline_is_refused_without_touching_a_worker(data_dir: Path) -> None:
    """A call whose deadline has already passed fails at once and no worker is killed for it."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, size=1)
        await pool.start()
        with pytest.raises(EngineTimeout):
            await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() - 0.01)
        assert await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10)
        await pool.stop()

    _run(body)
    assert [e.reason for e in _exits(events)] == [ExitReason.SHUTDOWN]


def test_warm_idle_workers_killed_from_outside_restart_at_once(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Warm workers SIGKILLed while idle, before serving anything, are not a crash loop: both are
    replaced at once, round after round (the last resort's restart once backed off to 30 s)."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        pool = _pool(data_dir, events, size=2, backoff_base_s=30.0)
        await pool.start()
        for _ in range(3):
            await _until(lambda: pool.ready_count == 2, 20)
            victims = [w.pid for w in pool.snapshot() if w.pid is not None]
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            await _until(
                lambda v=victims: pool.ready_count == 2 and not {w.pid for w in pool.snapshot()} & set(v), 20
            )
        await pool.stop()

    with caplog.at_level("WARNING", logger="voxgate.workers.pool"):
        _run(body)
    assert not [r for r in caplog.records if "restarting in" in r.getMessage()]


def test_failed_spawn_is_retried(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A spawn the OS refuses (EAGAIN) is tried again with backoff until a worker starts."""
    events: list[WorkerEvent] = []
    real_start = WorkerProcess.start
    refusals = [OSError(errno.EAGAIN, "Resource temporarily unavailable")] * 3

    def start(self: WorkerProcess) -> None:  # fault injection at the OS edge: fork fails 3 times
        if refusals:
            raise refusals.pop()
        real_start(self)

    monkeypatch.setattr(WorkerProcess, "start", start)

    async def body() -> None:
        pool = _pool(data_dir, events, size=1)
        await pool.start(timeout_s=20)
        assert not refusals
        assert await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10)
        await pool.stop()

    _run(body)


def test_cancelled_caller_still_gets_its_hung_worker_killed(data_dir: Path) -> None:
    """A caller cancelled while its job hangs: the worker is killed hang_after_s past the job's
    deadline (it used to stay busy forever) and on_settled reports the death, blaming the input."""
    events: list[WorkerEvent] = []
    settled: list[EngineError | None] = []

    async def body() -> None:
        pool = _pool(data_dir, events, chaos={"hang_rate": 1.0}, size=1, hang_after_s=0.3)
        await pool.start()
        call = asyncio.ensure_future(
            pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 0.5, settled.append)
        )
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert settled == []  # the worker still runs the abandoned job
        await _until(lambda: any(e.reason is ExitReason.DEADLINE for e in _exits(events)), 5)
        await _until(lambda: bool(settled), 1)
        assert isinstance(settled[0], EngineCrashed)
        assert settled[0].blames_input
        await pool.stop(grace_s=0)

    _run(body)


def test_on_settled_waits_for_the_job_that_outlived_its_caller(data_dir: Path) -> None:
    """A job that overran its deadline keeps its worker; on_settled fires (with None) only when the
    job has finished there, and at once for a call that completed."""
    events: list[WorkerEvent] = []
    settled: list[EngineError | None] = []

    async def body() -> None:
        pool = _pool(data_dir, events, chaos={"latency_ms": 600, "latency_sigma": 0}, size=1)
        await pool.start()
        with pytest.raises(EngineTimeout):
            await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 0.2, settled.append)
        assert settled == []
        await _until(lambda: settled == [None], 5)
        assert await pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 10, settled.append)
        assert settled == [None, None]
        await pool.stop(grace_s=0)

    _run(body)


def test_frozen_worker_death_does_not_blame_the_input(data_dir: Path) -> None:
    """A busy worker frozen from outside is killed as FROZEN and its job's EngineCrashed says the
    input is not to blame, while a poison input's crash is."""
    events: list[WorkerEvent] = []

    async def body() -> None:
        chaos = {"latency_ms": 1500, "latency_sigma": 0, "poison_text": "POISON"}
        pool = _pool(data_dir, events, chaos=chaos, size=1)
        await pool.start()
        call = asyncio.ensure_future(pool.run(TEXT, "espeak-en-us", OPTS, time.monotonic() + 20))
        await asyncio.sleep(0.2)
        pid = pool.snapshot()[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(EngineCrashed) as frozen:
            await call
        assert not frozen.value.blames_input
        await _until(lambda: pool.ready_count == 1, 10)
        with pytest.raises(EngineCrashed) as poisoned:
            await pool.run("A POISON text.", "espeak-en-us", OPTS, time.monotonic() + 20)
        assert poisoned.value.blames_input
        await pool.stop(grace_s=0)

    _run(body)
    assert [e.reason for e in _exits(events)][:2] == [ExitReason.FROZEN, ExitReason.CRASHED]


def test_worker_hung_in_start_up_is_killed_and_replaced_with_backoff(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose engine load never returns is killed at start_timeout_s (start_timeout) and
    replaced, with the crash-loop backoff; the pool's start gives up at its own timeout."""
    events: list[WorkerEvent] = []
    hung: list[WorkerExited] = []

    async def body() -> None:
        pool = _pool(
            data_dir, events, chaos={"load_hang": True}, size=1, start_timeout_s=0.5, backoff_base_s=0.5
        )
        started = time.monotonic()
        with pytest.raises(EngineUnavailable):
            await pool.start(timeout_s=1.5)
        assert time.monotonic() - started < 15  # its own timeout, with a huge margin for a busy box
        await _until(
            lambda: len([e for e in _exits(events) if e.reason is ExitReason.START_TIMEOUT]) >= 2, 20
        )
        hung.extend(e for e in _exits(events) if e.reason is ExitReason.START_TIMEOUT)
        assert pool.restarts >= 1
        await pool.stop(grace_s=0)

    with caplog.at_level("WARNING", logger="voxgate.workers.pool"):
        _run(body)
    assert len({e.worker_id for e in hung}) >= 2  # a replacement was spawned, and it was killed too
    assert not [e for e in events if isinstance(e, WorkerStarted)]
    assert [r for r in caplog.records if "restarting in" in r.getMessage()]  # backoff, not a spin
