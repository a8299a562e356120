"""How much of an engine the jobs may use right now: only what interactive and API work leaves idle.

A job segment starts on an engine only while

* fewer of its workers are busy, job segments included, than ``jobs.capacity_share`` of them
  (rounded down, at least one; never more than ``jobs.max_concurrent_segments`` job segments), and
* the engine has had no interactive or API work for ``idle_grace_s``.

The scheduler already serves interactive requests before job segments, but a segment that has
started cannot be pre-empted: an interactive request arriving meanwhile finds one worker fewer
(its sentences share the others) until the segment ends, and on a small host the segment's CPU
slows it too. Starting segments only in idle capacity, and only once other traffic has paused,
bounds that cost while jobs still run at full speed on an otherwise quiet engine. (The same idea
as the idle class of the Linux CFQ disk scheduler, which waits out a grace period of idleness.)

The limit is re-read when a request ends or a worker becomes ready (events), and by every
waiter at least every ``recheck_s`` (the grace period ends without any event).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from voxgate.clock import Clock
from voxgate.jobs.slots import Slots
from voxgate.qos.sla import RequestOutcome
from voxgate.service import Synthesizer
from voxgate.settings import JobsSettings
from voxgate.types import Priority

__all__ = ["IDLE_GRACE_S", "RECHECK_S", "JobShare"]

IDLE_GRACE_S = 0.5
"""Default quiet time an engine needs after interactive or API work before a job segment starts."""
RECHECK_S = 0.1
"""Default longest a waiting job goes without re-reading its engine's load."""


class JobShare:
    """The job slots of every engine, limited by the engine's load.

    Args:
        synth: whose engines, scheduler and event bus to watch.
        config: ``capacity_share`` and ``max_concurrent_segments``.
        clock: monotonic time for the grace period.
        idle_grace_s: quiet time needed after other work (0: start as soon as a worker is idle).
        recheck_s: longest a waiter goes without re-reading the limit.
    """

    def __init__(
        self,
        synth: Synthesizer,
        config: JobsSettings,
        clock: Clock,
        *,
        idle_grace_s: float = IDLE_GRACE_S,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self.idle_grace_s = idle_grace_s
        self._synth = synth
        self._config = config
        self._clock = clock
        self._recheck_s = recheck_s
        self._slots: dict[str, Slots] = {}
        self._last_busy: dict[str, float] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self) -> None:
        """Start watching: a finished request or a new worker may free capacity for jobs."""
        if self._unsubscribe is None:
            self._unsubscribe = self._synth.bus.subscribe(RequestOutcome, self._on_outcome)
            self._synth.on_capacity(lambda _engine: self.wake())

    def detach(self) -> None:
        """Stop watching request outcomes."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def slots(self, engine: str) -> Slots:
        """The slots job segments take on ``engine`` (shared by every job)."""
        if engine not in self._slots:
            self._slots[engine] = Slots(lambda: self.limit(engine), recheck_s=self._recheck_s)
        return self._slots[engine]

    def limit(self, engine: str) -> int:
        """How many job segments may be in flight on ``engine`` now (0: none may start).

        Args:
            engine: engine name.

        Returns:
            The limit; the job segments already in flight count against it.
        """
        now = self._clock.monotonic()
        used = self._slots[engine].used if engine in self._slots else 0
        others = max(0, self._synth.in_flight(engine) - used)  # interactive and API leases
        if others:
            self._last_busy[engine] = now
        if now - self._last_busy.get(engine, -math.inf) < self.idle_grace_s:
            return 0
        share = max(1, math.floor(self._config.capacity_share * self._synth.capacity(engine)))
        return min(self._config.max_concurrent_segments, share - others)

    def wake(self) -> None:
        """Let waiting job segments re-read the limit now."""
        for slots in self._slots.values():
            slots.wake()

    def _on_outcome(self, outcome: RequestOutcome) -> None:
        if outcome.priority is not Priority.BATCH and outcome.engine is not None:
            self._last_busy[outcome.engine] = self._clock.monotonic()
        self.wake()
