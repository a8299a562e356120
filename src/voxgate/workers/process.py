"""One worker subprocess seen from the gateway: spawn, pipe, reader thread, kill, RSS."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from enum import Enum
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import psutil

from voxgate.workers.child import worker_main
from voxgate.workers.events import ExitReason
from voxgate.workers.messages import FromWorker, ToWorker, WorkerSpec

_SPAWN = multiprocessing.get_context("forkserver")
_SPAWN.set_forkserver_preload(["voxgate.workers.child"])
"""Workers are forked from a server process that has already imported the worker code (numpy,
the engine modules: ~1.4 s of Python start-up here), so a restart costs a fork plus the engine's
own load (espeak: ~30 ms) instead of a fresh interpreter. The server is single-threaded when it
forks and holds no engine, so children start as clean as spawned ones; it is started on first use
and again by multiprocessing if it dies. The preload list is process-wide state of
``multiprocessing.forkserver``; voxgate is its only user in the gateway."""


class WorkerState(Enum):
    """Life cycle of a worker process."""

    STARTING = "starting"  # spawned, loading and warming up
    IDLE = "idle"  # ready for a job
    BUSY = "busy"  # running a job
    DRAINING = "draining"  # running a job; recycle when it ends (soft memory limit)
    DEAD = "dead"  # exited or killed


_TRANSITIONS: dict[WorkerState, frozenset[WorkerState]] = {
    WorkerState.STARTING: frozenset({WorkerState.IDLE, WorkerState.DEAD}),
    WorkerState.IDLE: frozenset({WorkerState.BUSY, WorkerState.DEAD}),
    WorkerState.BUSY: frozenset({WorkerState.IDLE, WorkerState.DRAINING, WorkerState.DEAD}),
    WorkerState.DRAINING: frozenset({WorkerState.DEAD}),
    WorkerState.DEAD: frozenset(),
}


class IllegalTransition(RuntimeError):  # noqa: N818
    """A worker was asked to move between states that have no edge in the table."""


class WorkerProcess:
    """A spawned worker and the thread that reads its pipe.

    Messages and the end of the pipe are handed to the event loop with ``call_soon_threadsafe``;
    everything else runs on the loop.

    Args:
        worker_id: pool-unique id.
        spec: what the child builds.
        loop: the gateway's event loop.
        on_message: called on the loop for each message from the child.
        on_exit: called on the loop once, when the pipe closes (the child exited or was killed).
    """

    def __init__(
        self,
        worker_id: int,
        spec: WorkerSpec,
        loop: asyncio.AbstractEventLoop,
        on_message: Callable[[WorkerProcess, FromWorker], None],
        on_exit: Callable[[WorkerProcess], None],
    ) -> None:
        self.worker_id = worker_id
        self.state = WorkerState.STARTING
        self.kill_reason: ExitReason | None = None
        self.spawned_at: float | None = None
        self.ready_at: float | None = None
        self.jobs_done = 0
        self.last_rss_mb: float | None = None
        self._spec = spec
        self._loop = loop
        self._on_message = on_message
        self._on_exit = on_exit
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._psutil: psutil.Process | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid if self._process is not None else None

    @property
    def exitcode(self) -> int | None:
        """The child's exit code if it has been reaped."""
        return self._process.exitcode if self._process is not None else None

    def move(self, to: WorkerState) -> WorkerState:
        """Change state along a legal edge; returns the previous state.

        Raises:
            IllegalTransition: the edge is not in the table.
        """
        previous = self.state
        if to not in _TRANSITIONS[previous]:
            raise IllegalTransition(f"worker {self.worker_id}: {previous.value} -> {to.value}")
        self.state = to
        return previous

    def start(self) -> None:
        """Spawn the child (blocking for the fork/exec; call it from a thread)."""
        parent_end, child_end = _SPAWN.Pipe(duplex=True)
        process = _SPAWN.Process(
            target=worker_main,
            args=(child_end, self._spec),
            name=f"voxgate-{self._spec.engine}-{self.worker_id}",
            daemon=True,
        )
        process.start()
        child_end.close()  # so the pipe reports EOF the moment the child dies
        self._process, self._conn = process, parent_end
        threading.Thread(target=self._read, name=f"{process.name}-reader", daemon=True).start()

    def send(self, message: ToWorker) -> None:
        """Send a message; a broken pipe is ignored (the reader reports the exit)."""
        if self._conn is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(message)

    def kill(self, reason: ExitReason) -> None:
        """SIGKILL the child now (works on a stopped process too); the exit arrives via the reader."""
        if self.kill_reason is None:
            self.kill_reason = reason
        pid = self.pid
        if pid is not None and self._process is not None and self._process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def join(self, timeout: float) -> None:
        """Reap the child (blocking; call from a thread)."""
        if self._process is not None:
            self._process.join(timeout)

    def sample(self) -> tuple[float, bool] | None:
        """Resident memory in MiB and whether the process is stopped (SIGSTOP); None if gone."""
        pid = self.pid
        if pid is None:
            return None
        try:
            if self._psutil is None or self._psutil.pid != pid:
                self._psutil = psutil.Process(pid)
            rss = self._psutil.memory_info().rss / 2**20
            stopped = self._psutil.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            return None
        self.last_rss_mb = rss
        return rss, stopped

    def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            if not self._post(self._on_message, self, message):
                return
        conn.close()
        self._post(self._on_exit, self)

    def _post(self, callback: Callable[..., None], *args: object) -> bool:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the gateway is gone
            return False
        return True
