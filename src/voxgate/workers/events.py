"""Typed events the worker layer emits; metrics and logs subscribe through the callback it is given."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class ExitReason(StrEnum):
    """Why a worker process went away."""

    CRASHED = "crashed"  # died on its own (segfault, OOM killer, SIGKILL from outside)
    FROZEN = "frozen"  # killed by the watchdog: stopped (SIGSTOP) from outside
    DEADLINE = "deadline"  # killed by the pool: still running hang_after_s past a job's deadline
    MEMORY_HARD = "memory_hard"  # killed by the watchdog above the hard RSS limit
    RECYCLED = "recycled"  # stopped after a job above the soft RSS limit
    LOAD_FAILED = "load_failed"  # could not load its engine
    START_TIMEOUT = "start_timeout"  # killed by the watchdog: not ready start_timeout_s after its spawn
    SHUTDOWN = "shutdown"  # the pool is stopping


@dataclass(frozen=True, slots=True)
class WorkerStarted:
    """A worker loaded its engine, warmed up, and takes traffic."""

    engine: str
    worker_id: int
    pid: int
    load_s: float
    warmup_s: float


@dataclass(frozen=True, slots=True)
class WorkerExited:
    """A worker process ended."""

    engine: str
    worker_id: int
    pid: int | None
    reason: ExitReason
    exitcode: int | None
    rss_mb: float | None


@dataclass(frozen=True, slots=True)
class WorkerRss:
    """One watchdog sample of a worker's resident memory."""

    engine: str
    worker_id: int
    pid: int
    rss_mb: float


WorkerEvent = WorkerStarted | WorkerExited | WorkerRss
EventSink = Callable[[WorkerEvent], None]
