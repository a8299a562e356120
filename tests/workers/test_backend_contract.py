"""The ExecutionBackend contract, run over every backend: local worker processes and Ray Serve.

One backend per kind for the module (a Ray start costs tens of seconds here), with real espeak
workers or replicas; faults come from the chaos wrapper (a call whose text holds ``HANG`` never
returns) and from SIGKILLs of the workers' processes. The tests run in file order and each leaves
the backend with its full capacity. The Ray half carries the ``scale`` marker (``-m scale``) and
skips when ray is not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from voxgate.clock import SystemClock
from voxgate.errors import EngineCrashed, EngineError, EngineTimeout, UnknownVoice
from voxgate.settings import Settings
from voxgate.types import SynthesisOptions
from voxgate.workers.backend import ExecutionBackend, LocalBackend, backend_from_url
from voxgate.workers.events import ExitReason, WorkerEvent, WorkerExited, WorkerRss, WorkerStarted

ENGINE = "espeak"
VOICE = "espeak-en-us"
OPTS = SynthesisOptions(language="en")
HANG = "HANG"
T = TypeVar("T")


@dataclass
class Harness:
    """A started backend, the event loop it lives in, and what it reported before and during start."""

    url: str
    settings: Settings
    backend: ExecutionBackend
    runner: asyncio.Runner
    ready_before_start: bool
    capacity_before_start: int
    events: list[WorkerEvent]
    capacities: list[int] = field(default_factory=list)

    def run(self, body: Callable[[], Awaitable[T]], timeout: float = 120.0) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(body(), timeout)

        return self.runner.run(bounded())

    def pids(self) -> set[int]:
        return {w.pid for w in self.backend.workers()[ENGINE] if w.pid is not None}

    async def until(self, predicate: Callable[[], bool], timeout: float) -> None:
        start = time.monotonic()
        while not predicate():
            if time.monotonic() - start > timeout:
                raise AssertionError(f"condition not met within {timeout} s on {self.url}")
            await asyncio.sleep(0.05)

    async def speak(self, text: str = "Hello from the contract suite.", budget_s: float = 20.0) -> float:
        chunks = await self.backend.run(ENGINE, text, VOICE, OPTS, time.monotonic() + budget_s)
        return sum(len(c.audio) / c.sample_rate for c in chunks)


def _settings(data_dir: Path) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"enabled": False},
            "espeak": {
                "workers": 2,
                "hang_after_s": 1.0,
                "chaos": {"enabled": True, "poison_text": HANG, "poison_effect": "hang"},
            },
        },
    )


def _backend(url: str, settings: Settings, events: list[WorkerEvent]) -> ExecutionBackend:
    if url.startswith("ray"):
        from voxgate.workers.ray_backend import RayBackend

        return RayBackend(url, settings, SystemClock(), events.append, poll_s=0.25)
    return backend_from_url(url, settings, SystemClock(), events.append)


@pytest.fixture(scope="module", params=["local://", pytest.param("ray://local", marks=pytest.mark.scale)])
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A started backend of each kind, with 2 espeak workers (or replicas) that hang on ``HANG``."""
    url: str = request.param
    if url.startswith("ray"):
        request.getfixturevalue("ray_session")
    settings = _settings(tmp_path_factory.mktemp("contract"))
    events: list[WorkerEvent] = []
    backend = _backend(url, settings, events)
    runner = asyncio.Runner()
    h = Harness(url, settings, backend, runner, backend.is_ready(ENGINE), backend.capacity(ENGINE), events)
    backend.on_capacity(lambda engine: h.capacities.append(backend.capacity(engine)))
    try:
        h.run(backend.start, timeout=300)
        yield h
    finally:
        with contextlib.suppress(Exception):
            h.run(lambda: backend.stop(2.0), timeout=60)
        runner.close()


def test_warm_before_traffic(harness: Harness) -> None:
    """No capacity before start; start returns with a warm worker that answers at once."""
    assert not harness.ready_before_start
    assert harness.capacity_before_start == 0
    assert harness.backend.is_ready(ENGINE)
    assert harness.run(harness.speak) > 0.5


def test_capacity_events_count_every_warm_worker(harness: Harness) -> None:
    """Capacity listeners hear each worker come up; capacity reaches the configured 2."""

    async def body() -> None:
        await harness.until(lambda: harness.backend.capacity(ENGINE) == 2, 120)
        await harness.until(lambda: len(harness.pids()) == 2, 30)

    harness.run(body)
    assert harness.capacities
    assert harness.capacities[-1] == 2


def test_local_workers_run_at_the_configured_niceness(harness: Harness) -> None:
    """Local workers add ``engines.<name>.nice`` (default 5) to the gateway's niceness, so the
    gateway's loop goes first under CPU contention (Ray replicas are left as Ray starts them)."""
    if not harness.url.startswith("local"):
        pytest.skip("niceness applies to local worker processes")
    assert harness.settings.engines.espeak.nice == 5
    mine = os.nice(0)
    assert {os.getpriority(os.PRIO_PROCESS, pid) for pid in harness.pids()} == {min(mine + 5, 19)}


def test_worker_events_name_every_worker_and_its_memory(harness: Harness) -> None:
    """Each running worker was announced by a WorkerStarted with its pid, and its memory is sampled."""

    async def body() -> None:
        await harness.until(lambda: harness.pids() <= _started(harness), 60)
        await harness.until(lambda: harness.pids() <= _sampled(harness), 60)

    harness.run(body)
    rss = [e.rss_mb for e in harness.events if isinstance(e, WorkerRss) and e.engine == ENGINE]
    assert all(0 < mb < 4096 for mb in rss)


def _started(harness: Harness) -> set[int]:
    return {e.pid for e in harness.events if isinstance(e, WorkerStarted) and e.engine == ENGINE}


def _sampled(harness: Harness) -> set[int]:
    return {e.pid for e in harness.events if isinstance(e, WorkerRss) and e.engine == ENGINE}


def _exits(harness: Harness, pids: set[int]) -> dict[int | None, ExitReason]:
    return {
        e.pid: e.reason
        for e in harness.events
        if isinstance(e, WorkerExited) and e.engine == ENGINE and e.pid in pids
    }


def test_engine_errors_arrive_typed(harness: Harness) -> None:
    """An UnknownVoice raised inside a worker/replica reaches the caller as UnknownVoice, unwrapped."""

    async def body() -> None:
        with pytest.raises(UnknownVoice):
            await harness.backend.run(ENGINE, "Hello.", "no-such-voice", OPTS, time.monotonic() + 20)

    harness.run(body)


def test_deadline_kept_on_a_hung_call_and_the_hung_worker_replaced(harness: Harness) -> None:
    """A hung call ends in EngineTimeout at its deadline; the next call works; the hung worker is replaced."""
    settled: list[EngineError | None] = []

    async def body() -> float:
        before = harness.pids()
        start = time.monotonic()
        with pytest.raises(EngineTimeout):
            await harness.backend.run(ENGINE, f"{HANG} now.", VOICE, OPTS, start + 1.0, settled.append)
        elapsed = time.monotonic() - start
        assert await harness.speak() > 0.5  # another worker takes the next call
        await harness.until(lambda: len(settled) == 1, 60)
        await harness.until(lambda: len(harness.pids() & before) < len(before), 120)
        await harness.until(lambda: harness.backend.capacity(ENGINE) == 2 and len(harness.pids()) == 2, 120)
        return elapsed

    elapsed = harness.run(body, timeout=300)
    assert elapsed < 1.0 + 4.0  # the deadline, with a huge margin for a noisy machine
    assert len(settled) == 1


def test_crash_is_engine_crashed_and_workers_are_replaced(harness: Harness) -> None:
    """Killing the workers mid-call raises EngineCrashed and WorkerExited(crashed); capacity comes back."""

    async def body() -> None:
        await harness.until(lambda: len(harness.pids()) == 2, 60)
        victims = harness.pids()
        seen = len(harness.capacities)
        call = asyncio.ensure_future(
            harness.backend.run(ENGINE, f"{HANG} until killed.", VOICE, OPTS, time.monotonic() + 60)
        )
        await asyncio.sleep(1.5)  # the call is running in one of them
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with pytest.raises(EngineCrashed):
            await call
        await harness.until(lambda: any(c < 2 for c in harness.capacities[seen:]), 60)
        await harness.until(lambda: harness.backend.capacity(ENGINE) == 2, 120)
        await harness.until(lambda: len(harness.pids()) == 2 and not harness.pids() & victims, 60)
        assert await harness.speak() > 0.5
        await harness.until(lambda: len(_exits(harness, victims)) == len(victims), 30)
        await harness.until(lambda: harness.pids() <= _started(harness), 30)
        assert set(_exits(harness, victims).values()) == {ExitReason.CRASHED}

    harness.run(body, timeout=300)


def test_ray_url_without_ray_installed_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """``ray://`` without ray installed fails with the pip command that installs it."""
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "voxgate.workers.ray_backend", raising=False)
    with pytest.raises(ValueError, match=r"pip install 'voxgate\[ray\]'"):
        backend_from_url("ray://local", settings, SystemClock(), lambda _event: None)


def test_local_url_still_builds_the_local_backend(settings: Settings) -> None:
    """``local://`` keeps building the worker-pool backend."""
    assert isinstance(
        backend_from_url("local://", settings, SystemClock(), lambda _event: None), LocalBackend
    )


@pytest.mark.scale
def test_a_second_gateway_attaches_to_the_same_deployment(harness: Harness, tmp_path: Path) -> None:
    """A gateway with the same engine settings but its own data_dir attaches to the running application."""
    if not harness.url.startswith("ray"):
        pytest.skip("Ray only: local workers belong to one gateway")
    from voxgate.workers.ray_backend import RayBackend

    first = harness.backend
    assert isinstance(first, RayBackend)
    elsewhere = harness.settings.model_copy(update={"data_dir": tmp_path / "another-gateway"})
    second = RayBackend(harness.url, elsewhere, SystemClock(), lambda _event: None, poll_s=0.25)
    assert second.deployment_name(ENGINE) == first.deployment_name(ENGINE)

    async def body() -> None:
        await second.start()
        try:
            assert second.capacity(ENGINE) == 2
            assert not second.deployed  # attached, nothing deployed
            chunks = await second.run(ENGINE, "Hello again.", VOICE, OPTS, time.monotonic() + 20)
            assert chunks
        finally:
            await second.stop(1.0)

    harness.run(body)
    assert first.is_ready(ENGINE)  # the second gateway's stop left the first one's replicas running


@pytest.mark.scale
def test_changed_engine_settings_change_the_deployment_name(tmp_path: Path) -> None:
    """A changed engine setting names a different deployment; another engine's or the data_dir do not."""
    pytest.importorskip("ray", reason="ray is not installed: pip install 'voxgate[ray]'")
    from voxgate.workers.ray_backend import RayBackend

    def name(workers: int, piper_threads: int = 1, data_dir: str = "a") -> str:
        settings = Settings.load(
            data_dir=tmp_path / data_dir,
            engines={
                "kokoro": {"enabled": False},
                "piper": {"threads": piper_threads},
                "espeak": {"workers": workers},
            },
        )
        return RayBackend("ray://local", settings, SystemClock(), lambda _event: None).deployment_name(ENGINE)

    assert name(2) == name(2, piper_threads=2)
    assert name(2) == name(2, data_dir="b")  # a gateway path: the replicas resolve their own models
    assert name(2) != name(3)
    assert name(2).startswith("espeak-")
