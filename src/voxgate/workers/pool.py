"""A pool of worker processes for one engine: dispatch with deadlines, restart, memory watchdog."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voxgate.clock import Clock
from voxgate.errors import EngineCrashed, EngineTimeout, EngineUnavailable
from voxgate.types import AudioChunk, SynthesisOptions
from voxgate.workers.events import EventSink, ExitReason, WorkerExited, WorkerRss, WorkerStarted
from voxgate.workers.messages import (
    ChunkReady,
    FromWorker,
    Job,
    JobDone,
    JobFailed,
    LoadFailed,
    Ready,
    WorkerSpec,
)
from voxgate.workers.process import WorkerProcess, WorkerState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """How one engine's pool behaves.

    Attributes:
        size: worker processes.
        soft_rss_mb: recycle a worker after its job above this RSS.
        hard_rss_mb: kill a worker at once above this RSS.
        watchdog_interval_s: seconds between RSS samples.
        stable_after_s: a worker that lived this long after becoming ready resets the crash backoff
            (so does one that finished a job: only deaths before any work count as a crash loop).
        backoff_base_s: restart delay after the second crash-loop death in a row (doubles each time).
        backoff_max_s: longest restart delay.
        hang_after_s: a job still running this long after its deadline is a hang; its worker is
            killed (0: kill at the deadline).
    """

    size: int = 2
    soft_rss_mb: float = 1500.0
    hard_rss_mb: float = 2500.0
    watchdog_interval_s: float = 0.25
    stable_after_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    hang_after_s: float = 5.0


@dataclass(slots=True)
class _PendingJob:
    job: Job
    future: asyncio.Future[list[AudioChunk]]
    chunks: list[AudioChunk] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class WorkerSnapshot:
    """One worker as seen by the pool (for /metrics and the SLA view)."""

    worker_id: int
    pid: int | None
    state: str
    rss_mb: float | None
    jobs_done: int


class WorkerPool:
    """Worker processes for one engine, as one async ``run`` call with an absolute deadline.

    Args:
        spec: what each worker builds.
        config: pool size, memory limits, backoff.
        clock: monotonic time for deadlines and backoff.
        on_event: receives ``WorkerStarted`` / ``WorkerExited`` / ``WorkerRss``.
    """

    def __init__(self, spec: WorkerSpec, config: PoolConfig, clock: Clock, on_event: EventSink) -> None:
        self.engine = spec.engine
        self._spec = spec
        self._config = config
        self._clock = clock
        self._emit = on_event
        self._workers: dict[int, WorkerProcess] = {}
        self._pending: dict[int, tuple[WorkerProcess, _PendingJob]] = {}
        self._ids = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._idle_changed: asyncio.Condition | None = None
        self._capacity_listeners: list[Callable[[str], None]] = []
        self._quick_deaths = 0
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Future[None] | None = None
        self.restarts = 0
        self.model_version: str | None = None

    # ---- introspection -------------------------------------------------------------------------
    @property
    def ready_count(self) -> int:
        """Workers that are warm and alive (idle or busy)."""
        live = (WorkerState.IDLE, WorkerState.BUSY, WorkerState.DRAINING)
        return sum(w.state in live for w in self._workers.values())

    @property
    def idle_count(self) -> int:
        """Workers waiting for a job."""
        return sum(w.state is WorkerState.IDLE for w in self._workers.values())

    def snapshot(self) -> list[WorkerSnapshot]:
        """Every current worker."""
        return [
            WorkerSnapshot(w.worker_id, w.pid, w.state.value, w.last_rss_mb, w.jobs_done)
            for w in self._workers.values()
        ]

    def add_capacity_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(engine)`` whenever a worker becomes ready to take a job, or a ready one dies."""
        self._capacity_listeners.append(listener)

    # ---- life cycle ----------------------------------------------------------------------------
    async def start(self, *, wait_ready: bool = True, timeout_s: float = 180.0) -> None:
        """Spawn the workers; optionally wait until at least one is warm.

        Raises:
            EngineUnavailable: no worker became ready within ``timeout_s`` (only with ``wait_ready``).
        """
        self._idle_changed = asyncio.Condition()
        await asyncio.gather(*(self._spawn() for _ in range(self._config.size)))
        self._watchdog = asyncio.ensure_future(self._watchdog_loop())
        if wait_ready:
            await self.wait_ready(timeout_s)

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until at least one worker is warm.

        Raises:
            EngineUnavailable: none became ready in time.
        """
        assert self._idle_changed is not None
        async with self._idle_changed:
            try:
                await asyncio.wait_for(self._idle_changed.wait_for(lambda: self.ready_count > 0), timeout_s)
            except TimeoutError:
                raise EngineUnavailable(self.engine, f"no worker ready after {timeout_s:.0f} s") from None

    async def stop(self, grace_s: float = 10.0) -> None:
        """Let running jobs finish (up to ``grace_s``), then stop every worker and reap it."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        running = [p.future for _, p in self._pending.values()]
        if running:
            await asyncio.wait(running, timeout=grace_s)
        workers = list(self._workers.values())
        for worker in workers:
            worker.kill_reason = worker.kill_reason or ExitReason.SHUTDOWN
            worker.send(None)
        await asyncio.gather(*(asyncio.to_thread(w.join, 2.0) for w in workers))
        for worker in workers:
            worker.kill(ExitReason.SHUTDOWN)
        # every exit is reported through the reader threads; wait (bounded) for them to land
        for _ in range(250):
            if not self._workers:
                break
            await asyncio.sleep(0.02)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- the one call --------------------------------------------------------------------------
    async def run(self, text: str, voice: str, opts: SynthesisOptions, deadline: float) -> list[AudioChunk]:
        """Synthesise ``text`` in an idle worker before the monotonic ``deadline``.

        At the deadline the caller gets ``EngineTimeout`` (so it can fall back); the job goes on in
        its worker, whose answer is dropped, and only if it is still running ``hang_after_s`` later
        is the worker taken as hung, SIGKILLed and replaced in the background. A slow sentence thus
        costs one worker for a moment, not an engine reload (seconds for kokoro). Likewise if the
        caller is cancelled (a lost hedge), the job finishes in its worker.

        Raises:
            EngineTimeout: no worker was free, or the job overran, before the deadline.
            EngineCrashed: the worker died during the job.
            InvalidInput / EngineError: raised by the engine inside the worker.
        """
        if deadline - self._clock.monotonic() <= 0:  # never start (and then kill) a job that is already late
            raise EngineTimeout(self.engine, 0.0)
        worker = await self._acquire(deadline)
        remaining = deadline - self._clock.monotonic()
        if remaining <= 0:
            self._release_unused(worker)
            raise EngineTimeout(self.engine, 0.0)
        job = Job(next(self._job_ids), text, voice, opts.speed, opts.language)
        pending = _PendingJob(job, asyncio.get_running_loop().create_future())
        # a dropped caller (hedge lost, deadline) never reads the outcome: consume it so a later
        # worker death is not reported as "Future exception was never retrieved"
        pending.future.add_done_callback(_consume)
        self._pending[job.job_id] = (worker, pending)
        worker.send(job)
        try:
            return await asyncio.wait_for(asyncio.shield(pending.future), remaining)
        except TimeoutError:
            self._background(self._kill_if_hung(worker, pending.future))
            raise EngineTimeout(self.engine, remaining) from None

    async def _kill_if_hung(self, worker: WorkerProcess, outcome: asyncio.Future[list[AudioChunk]]) -> None:
        """Kill ``worker`` if the job behind ``outcome`` is still running after the hang grace."""
        await asyncio.wait([outcome], timeout=self._config.hang_after_s)  # never cancels it
        if not outcome.done():
            log.warning(
                "%s worker %s overran a deadline by %.1f s; killing it",
                self.engine,
                worker.pid,
                self._config.hang_after_s,
            )
            worker.kill(ExitReason.DEADLINE)

    def _release_unused(self, worker: WorkerProcess) -> None:
        if worker.state is WorkerState.BUSY:
            worker.move(WorkerState.IDLE)
            self._notify_idle()

    async def _acquire(self, deadline: float) -> WorkerProcess:
        assert self._idle_changed is not None, "pool not started"
        async with self._idle_changed:
            while True:
                for worker in self._workers.values():
                    if worker.state is WorkerState.IDLE:
                        worker.move(WorkerState.BUSY)
                        return worker
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0 or self._stopping:
                    raise EngineTimeout(self.engine, 0.0)
                try:
                    await asyncio.wait_for(self._idle_changed.wait(), remaining)
                except TimeoutError:
                    raise EngineTimeout(self.engine, 0.0) from None

    # ---- messages from workers (on the loop) ---------------------------------------------------
    def _on_message(self, worker: WorkerProcess, message: FromWorker) -> None:
        if isinstance(message, Ready):
            self.model_version = message.model_version
            worker.ready_at = self._clock.monotonic()
            worker.move(WorkerState.IDLE)
            self._emit(
                WorkerStarted(self.engine, worker.worker_id, message.pid, message.load_s, message.warmup_s)
            )
            self._notify_idle()
            for listener in self._capacity_listeners:
                listener(self.engine)
        elif isinstance(message, LoadFailed):
            log.error("worker %s/%d failed to load: %s", self.engine, worker.worker_id, message.error)
            worker.kill_reason = ExitReason.LOAD_FAILED
        elif isinstance(message, ChunkReady):
            entry = self._pending.get(message.job_id)
            if entry is not None:
                audio = np.frombuffer(message.samples, dtype="<f4").astype(np.float32)
                entry[1].chunks.append(AudioChunk(audio, message.sample_rate, message.text))
        elif isinstance(message, JobDone | JobFailed):
            self._finish_job(worker, message)

    def _finish_job(self, worker: WorkerProcess, message: JobDone | JobFailed) -> None:
        entry = self._pending.pop(message.job_id, None)
        if entry is not None and not entry[1].future.done():
            if isinstance(message, JobDone):
                entry[1].future.set_result(entry[1].chunks)
            else:
                entry[1].future.set_exception(message.error)
        worker.jobs_done += 1
        if worker.state is WorkerState.DRAINING:
            worker.kill_reason = worker.kill_reason or ExitReason.RECYCLED  # a hard-limit kill stays one
            worker.send(None)  # exits after this; the exit handler spawns a replacement
        elif worker.state is WorkerState.BUSY:
            worker.move(WorkerState.IDLE)
            self._notify_idle()

    def _on_exit(self, worker: WorkerProcess) -> None:
        reason = worker.kill_reason or ExitReason.CRASHED
        if worker.state is not WorkerState.DEAD:
            worker.move(WorkerState.DEAD)
        self._workers.pop(worker.worker_id, None)
        for listener in self._capacity_listeners:
            listener(self.engine)
        for job_id, (owner, pending) in list(self._pending.items()):
            if owner is worker:
                del self._pending[job_id]
                if not pending.future.done():
                    pending.future.set_exception(
                        EngineCrashed(
                            self.engine, f"worker {worker.pid} died during the job ({reason.value})"
                        )
                    )
        self._background(self._reap_and_replace(worker, reason))

    async def _reap_and_replace(self, worker: WorkerProcess, reason: ExitReason) -> None:
        await asyncio.to_thread(worker.join, 5.0)
        self._emit(
            WorkerExited(
                self.engine, worker.worker_id, worker.pid, reason, worker.exitcode, worker.last_rss_mb
            )
        )
        if self._stopping:
            return
        if self._is_crash_loop(worker, reason):
            self._quick_deaths += 1
        else:
            self._quick_deaths = 0
        delay = 0.0
        if self._quick_deaths >= 2:
            delay = min(
                self._config.backoff_max_s, self._config.backoff_base_s * 2 ** (self._quick_deaths - 2)
            )
        if delay:
            log.warning(
                "%s worker died %d times in a row; restarting in %.1f s",
                self.engine,
                self._quick_deaths,
                delay,
            )
            await asyncio.sleep(delay)
        if not self._stopping:
            self.restarts += 1
            await self._spawn()

    def _is_crash_loop(self, worker: WorkerProcess, reason: ExitReason) -> bool:
        """Whether this death looks like a crash loop, which restarts back off from.

        A worker that finished a job before dying was killed from outside (an operator, the OOM
        killer, the hang watchdog) or by a rare input; restarting it at once is right, however
        often it happens (SIGKILL every 5 s used to escalate the delay to 30 s, leaving piper
        down most of the time). A worker that dies while loading, warming up or on its first job,
        soon after start, is what a restart cannot fix: those deaths back off.
        """
        if reason in (ExitReason.RECYCLED, ExitReason.MEMORY_HARD) or worker.jobs_done > 0:
            return False
        lived = self._clock.monotonic() - worker.ready_at if worker.ready_at is not None else 0.0
        return lived < self._config.stable_after_s

    async def _spawn(self) -> None:
        worker = WorkerProcess(
            next(self._ids), self._spec, asyncio.get_running_loop(), self._on_message, self._on_exit
        )
        self._workers[worker.worker_id] = worker
        try:
            await asyncio.to_thread(worker.start)
        except OSError as exc:
            self._workers.pop(worker.worker_id, None)
            log.error("cannot spawn a %s worker: %s", self.engine, exc)

    def _notify_idle(self) -> None:
        if self._idle_changed is None:
            return

        async def notify(condition: asyncio.Condition) -> None:
            async with condition:
                condition.notify_all()

        self._background(notify(self._idle_changed))

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- memory watchdog -----------------------------------------------------------------------
    async def _watchdog_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self._config.watchdog_interval_s)
            await self.watchdog_once()

    async def watchdog_once(self) -> None:
        """Sample every worker's RSS once and act on the limits; also kill frozen (SIGSTOPped) workers."""
        workers = [w for w in self._workers.values() if w.state is not WorkerState.DEAD and w.pid is not None]
        samples = await asyncio.to_thread(lambda: [(w, w.sample()) for w in workers])
        for worker, sample in samples:
            if sample is None or worker.state is WorkerState.DEAD:
                continue
            rss, stopped = sample
            self._emit(WorkerRss(self.engine, worker.worker_id, worker.pid or 0, rss))
            if stopped:
                log.warning("%s worker %s is stopped (SIGSTOP); killing it", self.engine, worker.pid)
                worker.kill(ExitReason.CRASHED)
            elif rss > self._config.hard_rss_mb:
                log.warning("%s worker %s at %.0f MiB > hard limit; killing", self.engine, worker.pid, rss)
                worker.kill_reason = ExitReason.MEMORY_HARD  # even if it was on its way out as a recycle
                worker.kill(ExitReason.MEMORY_HARD)
            elif rss > self._config.soft_rss_mb:
                self._recycle(worker)

    def _recycle(self, worker: WorkerProcess) -> None:
        if worker.state is WorkerState.BUSY:
            worker.move(WorkerState.DRAINING)
        elif worker.state is WorkerState.IDLE:
            worker.move(WorkerState.DEAD)  # out of rotation at once; the exit handler replaces it
            worker.kill_reason = ExitReason.RECYCLED
            worker.send(None)


def _consume(future: asyncio.Future[list[AudioChunk]]) -> None:
    if not future.cancelled():
        future.exception()
