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
from voxgate.errors import EngineCrashed, EngineError, EngineTimeout, EngineUnavailable
from voxgate.types import AudioChunk, SynthesisOptions, merge_partials
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
from voxgate.workers.restart import Death, RestartPolicy

log = logging.getLogger(__name__)

Settled = Callable[[EngineError | None], None]
"""Told once, when a worker no longer runs a call: ``None`` if it finished, else why not."""
ChunkSink = Callable[[AudioChunk], None]
"""Receives pieces of an answer as they arrive (see :meth:`WorkerPool.run`)."""

_BLAMES_INPUT = frozenset({ExitReason.CRASHED, ExitReason.DEADLINE, ExitReason.MEMORY_HARD})
"""Deaths during a job that its input may have caused (crash, hang, memory blow-up)."""


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """How one engine's pool behaves.

    Attributes:
        size: worker processes.
        soft_rss_mb: recycle a worker after its job above this RSS.
        hard_rss_mb: kill a worker at once above this RSS.
        watchdog_interval_s: seconds between RSS samples.
        stable_after_s: a worker dying on its first job this long after becoming ready is not a
            crash loop (see :mod:`voxgate.workers.restart`: only deaths before or on the first job
            back off; a warm worker killed from outside is replaced at once).
        backoff_base_s: restart delay after the second crash-loop death in a row (doubles each time).
        backoff_max_s: longest restart delay, and longest delay between retries of a failed spawn.
        hang_after_s: a job still running this long after its deadline is a hang; its worker is
            killed (0: kill at the deadline).
        start_timeout_s: a worker not ready (loaded and warmed up) this long after its spawn is
            hung in start-up: the watchdog kills it and it is replaced like any worker that died
            before becoming ready (with the crash-loop backoff, so an engine that always hangs
            does not spin).
    """

    size: int = 2
    soft_rss_mb: float = 1500.0
    hard_rss_mb: float = 2500.0
    watchdog_interval_s: float = 0.25
    stable_after_s: float = 10.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    hang_after_s: float = 5.0
    start_timeout_s: float = 120.0


@dataclass(slots=True)
class _PendingJob:
    job: Job
    future: asyncio.Future[list[AudioChunk]]
    chunks: list[AudioChunk] = field(default_factory=list)
    on_chunk: ChunkSink | None = None  # dropped when the caller stops waiting
    first_at: float | None = None  # when the first piece was passed on
    given_s: float = 0.0  # seconds of audio passed on

    def due(self, deadline: float, grace_s: float) -> float:
        """When the caller gives up: its deadline; once pieces were passed on (the caller plays
        them and can no longer fall back to another engine), ``grace_s`` after the audio passed on
        runs out, if that is later: a slow engine makes a gap, not a lost answer."""
        if self.first_at is None:
            return deadline
        return max(deadline, self.first_at + self.given_s + grace_s)


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
        self._restart = RestartPolicy(config.backoff_base_s, config.backoff_max_s, config.stable_after_s)
        self._stopping = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._respawns: set[asyncio.Task[None]] = set()
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
        for respawn in list(self._respawns):  # a backoff or spawn-retry delay must not hold up the stop
            respawn.cancel()
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
    async def run(
        self,
        text: str,
        voice: str,
        opts: SynthesisOptions,
        deadline: float,
        on_settled: Settled | None = None,
        on_chunk: ChunkSink | None = None,
    ) -> list[AudioChunk]:
        """Synthesise ``text`` in an idle worker before the monotonic ``deadline``.

        At the deadline the caller gets ``EngineTimeout`` (so it can fall back); the job goes on in
        its worker, whose answer is dropped, and only if it is still running ``hang_after_s`` later
        is the worker taken as hung, SIGKILLed and replaced in the background. A slow sentence thus
        costs one worker for a moment, not an engine reload (seconds for kokoro). Likewise if the
        caller is cancelled (a lost hedge, a client that left): the job finishes in its worker, and
        a worker still on it ``hang_after_s`` past its deadline is killed.

        Args:
            text, voice, opts: what to say, and how.
            deadline: absolute monotonic time by which the caller wants the audio.
            on_settled: called exactly once, when no worker runs this call any more: at once if it
                never started or ended with this call, else when the abandoned job ends in its
                worker (finished, failed, or its worker died). Its argument is ``None`` when the job
                finished, else the error that ended it: ``EngineCrashed.blames_input`` says whether
                the input may have killed the worker, even after the caller left.
            on_chunk: receives each chunk as the worker sends it, while this call waits (never
                after it returned or raised): pieces of streamed sentences (``opts.stream``) and
                whole ones. The returned list has each run of pieces merged with its final chunk
                (:func:`~voxgate.types.merge_partials`), as if the engine had not streamed. The
                caller plays what it was given and cannot fall back any more: once a piece was
                given, the call times out only ``hang_after_s`` after the audio given has run
                out (from the first piece on), if that is past ``deadline``.

        Raises:
            EngineTimeout: no worker was free, or the job overran, before the deadline.
            EngineCrashed: the worker died during the job.
            InvalidInput / EngineError: raised by the engine inside the worker.
        """
        outcome: asyncio.Future[list[AudioChunk]] | None = None
        try:
            if deadline - self._clock.monotonic() <= 0:  # never start (and then kill) a late job
                raise EngineTimeout(self.engine, 0.0)
            worker = await self._acquire(deadline)
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                self._release_unused(worker)
                raise EngineTimeout(self.engine, 0.0)
            job = Job(
                next(self._job_ids),
                text,
                voice,
                opts.speed,
                opts.language,
                pitch_st=opts.pitch_st,
                phonemes=opts.phonemes,
                alphabet=opts.alphabet,
                stream=opts.stream,
            )
            pending = _PendingJob(job, asyncio.get_running_loop().create_future(), on_chunk=on_chunk)
            # a dropped caller (hedge lost, deadline) never reads the outcome: consume it so a later
            # worker death is not reported as "Future exception was never retrieved"
            pending.future.add_done_callback(_consume)
            outcome = pending.future
            self._pending[job.job_id] = (worker, pending)
            worker.send(job)
            try:
                return await self._outcome(pending, deadline)
            except TimeoutError:
                pending.on_chunk = None
                self._background(self._kill_if_hung(worker, outcome, self._due(pending, deadline)))
                raise EngineTimeout(self.engine, remaining) from None
            except asyncio.CancelledError:
                pending.on_chunk = None
                if not outcome.done():
                    self._background(self._kill_if_hung(worker, outcome, self._due(pending, deadline)))
                raise
        finally:
            if on_settled is not None:
                _settle_when_done(outcome, on_settled)

    async def _outcome(self, pending: _PendingJob, deadline: float) -> list[AudioChunk]:
        """The job's answer, waited for until it is due (see :meth:`_PendingJob.due`).

        Raises:
            TimeoutError: it was not there when due.
        """
        while True:
            remaining = self._due(pending, deadline) - self._clock.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                return await asyncio.wait_for(asyncio.shield(pending.future), remaining)
            except TimeoutError:
                if self._due(pending, deadline) <= self._clock.monotonic():
                    raise

    def _due(self, pending: _PendingJob, deadline: float) -> float:
        return pending.due(deadline, self._config.hang_after_s)

    async def _kill_if_hung(
        self, worker: WorkerProcess, outcome: asyncio.Future[list[AudioChunk]], deadline: float
    ) -> None:
        """Kill ``worker`` if the job behind ``outcome`` still runs ``hang_after_s`` past ``deadline``."""
        grace = max(0.0, deadline + self._config.hang_after_s - self._clock.monotonic())
        await asyncio.wait([outcome], timeout=grace)  # never cancels it
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
                chunk = AudioChunk(audio, message.sample_rate, message.text, message.words, message.final)
                pending = entry[1]
                pending.chunks.append(chunk)
                if pending.on_chunk is not None and not pending.future.done():
                    if pending.first_at is None:
                        pending.first_at = self._clock.monotonic()
                    pending.given_s += chunk.duration
                    try:
                        pending.on_chunk(chunk)
                    except Exception:  # the caller's bug must not kill the pool's reader
                        log.exception("%s on_chunk callback failed", self.engine)
                        pending.on_chunk = None
        elif isinstance(message, JobDone | JobFailed):
            self._finish_job(worker, message)

    def _finish_job(self, worker: WorkerProcess, message: JobDone | JobFailed) -> None:
        entry = self._pending.pop(message.job_id, None)
        if entry is not None and not entry[1].future.done():
            if isinstance(message, JobDone):
                entry[1].future.set_result(merge_partials(entry[1].chunks))
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
        previous = worker.state
        if worker.state is not WorkerState.DEAD:
            worker.move(WorkerState.DEAD)
        self._workers.pop(worker.worker_id, None)
        death = Death(
            reason,
            became_ready=worker.ready_at is not None,
            on_first_job=worker.jobs_done == 0 and previous in (WorkerState.BUSY, WorkerState.DRAINING),
            lived_s=self._clock.monotonic() - worker.ready_at if worker.ready_at is not None else 0.0,
        )
        if not self._stopping:  # the replacement starts before anything else: capacity comes back first
            self._respawn(self._restart.after_death(death))
        for listener in self._capacity_listeners:
            listener(self.engine)
        for job_id, (owner, pending) in list(self._pending.items()):
            if owner is worker:  # the death is the job's outcome: attributed to the input it ran
                del self._pending[job_id]
                if not pending.future.done():
                    pending.future.set_exception(
                        EngineCrashed(
                            self.engine,
                            f"worker {worker.pid} died during the job ({reason.value})",
                            blames_input=reason in _BLAMES_INPUT,
                        )
                    )
        self._background(self._reap(worker, reason))

    async def _reap(self, worker: WorkerProcess, reason: ExitReason) -> None:
        await asyncio.to_thread(worker.join, 5.0)
        self._emit(
            WorkerExited(
                self.engine, worker.worker_id, worker.pid, reason, worker.exitcode, worker.last_rss_mb
            )
        )

    def _respawn(self, delay: float, *, replaces_dead: bool = True) -> None:
        """Spawn a worker after ``delay`` seconds, in the background (cancelled by ``stop``)."""
        if delay and replaces_dead:
            log.warning("%s workers keep dying before they serve; restarting in %.1f s", self.engine, delay)

        async def respawn() -> None:
            if delay:
                await asyncio.sleep(delay)
            if not self._stopping:
                self.restarts += replaces_dead
                await self._spawn()

        task = asyncio.ensure_future(respawn())
        self._respawns.add(task)
        task.add_done_callback(self._respawns.discard)

    async def _spawn(self) -> None:
        """Start one worker; if the OS refuses (fork/exec failed), try again later with backoff."""
        worker = WorkerProcess(
            next(self._ids), self._spec, asyncio.get_running_loop(), self._on_message, self._on_exit
        )
        self._workers[worker.worker_id] = worker
        try:
            await asyncio.to_thread(worker.start)
        except OSError as exc:
            self._workers.pop(worker.worker_id, None)
            if self._stopping:
                return
            delay = self._restart.after_spawn_failed()
            log.error("cannot spawn a %s worker (%s); trying again in %.1f s", self.engine, exc, delay)
            self._respawn(delay, replaces_dead=False)
        else:
            worker.spawned_at = self._clock.monotonic()
            self._restart.after_spawned()

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
        """Sample every worker's RSS once and act on the limits; also kill frozen (SIGSTOPped) workers
        and workers still not ready ``start_timeout_s`` after their spawn."""
        self._kill_late_starters()
        workers = [w for w in self._workers.values() if w.state is not WorkerState.DEAD and w.pid is not None]
        samples = await asyncio.to_thread(lambda: [(w, w.sample()) for w in workers])
        for worker, sample in samples:
            if sample is None or worker.state is WorkerState.DEAD:
                continue
            rss, stopped = sample
            self._emit(WorkerRss(self.engine, worker.worker_id, worker.pid or 0, rss))
            if stopped:
                log.warning("%s worker %s is stopped (SIGSTOP); killing it", self.engine, worker.pid)
                worker.kill(ExitReason.FROZEN)
            elif rss > self._config.hard_rss_mb:
                log.warning("%s worker %s at %.0f MiB > hard limit; killing", self.engine, worker.pid, rss)
                worker.kill_reason = ExitReason.MEMORY_HARD  # even if it was on its way out as a recycle
                worker.kill(ExitReason.MEMORY_HARD)
            elif rss > self._config.soft_rss_mb:
                self._recycle(worker)

    def _kill_late_starters(self) -> None:
        now = self._clock.monotonic()
        for worker in self._workers.values():
            if (
                worker.state is WorkerState.STARTING
                and worker.spawned_at is not None
                and worker.kill_reason is None  # not already on its way out (a load failure, a kill)
                and now - worker.spawned_at > self._config.start_timeout_s
            ):
                log.warning(
                    "%s worker %s not ready %.0f s after its spawn (hung loading or warming up); killing it",
                    self.engine,
                    worker.pid,
                    self._config.start_timeout_s,
                )
                worker.kill(ExitReason.START_TIMEOUT)

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


def _settle_when_done(outcome: asyncio.Future[list[AudioChunk]] | None, on_settled: Settled) -> None:
    """Call ``on_settled`` once the job behind ``outcome`` has ended (at once if there is none)."""

    def settle(future: asyncio.Future[list[AudioChunk]] | None) -> None:
        error: EngineError | None = None
        if future is not None and not future.cancelled():
            exc = future.exception()
            if isinstance(exc, EngineError):
                error = exc
        try:
            on_settled(error)
        except Exception:
            log.exception("on_settled callback failed")

    if outcome is None or outcome.done():
        settle(outcome)
    else:
        outcome.add_done_callback(settle)
