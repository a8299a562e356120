"""When a worker pool restarts a dead worker, and when it retries a spawn that failed.

Two rules, both about making a restart as fast and as certain as it can be:

* **Deaths from outside restart at once.** Only a death that a restart cannot fix backs off: a
  worker that died before it became ready (it could not load or warm up), or on its first job
  soon after becoming ready. A warm worker killed while idle, or after it has served, was killed
  from outside (an operator, the OOM killer, a SIGSTOP noticed by the watchdog, a bad input):
  its replacement starts at once, however often that happens — the chain's last resort is one
  such engine, and every request waiting for it waits out the delay.
* **A failed spawn is retried, not forgotten.** ``fork``/``exec`` can fail for a moment
  (``EAGAIN``: too many processes, ``ENOMEM``); the pool tries again after a short delay that
  doubles up to ``max_s``, so one bad moment never leaves an engine a worker short for good.

Pure bookkeeping on numbers the pool hands in: no clock, no timers (the pool sleeps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxgate.workers.events import ExitReason

SPAWN_RETRY_FIRST_S = 0.1
"""Delay before the first retry of a failed spawn (doubling afterwards)."""

_NEVER_A_LOOP = frozenset(
    {ExitReason.RECYCLED, ExitReason.MEMORY_HARD, ExitReason.FROZEN, ExitReason.SHUTDOWN}
)
"""Exits the pool caused on purpose, or that an outside agent caused: a restart fixes them."""


@dataclass(frozen=True, slots=True)
class Death:
    """What the pool knows about a worker that just went away.

    Attributes:
        reason: why it exited.
        became_ready: it had loaded and warmed up.
        on_first_job: it died while running its first job.
        lived_s: seconds between becoming ready and dying (0 if it never did).
    """

    reason: ExitReason
    became_ready: bool
    on_first_job: bool
    lived_s: float


@dataclass(slots=True)
class RestartPolicy:
    """Restart delays for one pool.

    Args:
        base_s: delay after the second crash-loop death in a row (doubles with each further one).
        max_s: longest delay, for deaths and for spawn retries.
        stable_after_s: a worker dying on its first job this long after becoming ready is not a
            crash loop.
    """

    base_s: float = 0.5
    max_s: float = 30.0
    stable_after_s: float = 10.0
    _quick_deaths: int = field(default=0, init=False)
    _spawn_failures: int = field(default=0, init=False)

    def is_crash_loop(self, death: Death) -> bool:
        """Whether ``death`` is one a restart cannot fix (see the module docstring)."""
        if death.reason in _NEVER_A_LOOP:
            return False
        if not death.became_ready:
            return True
        return death.on_first_job and death.lived_s < self.stable_after_s

    def after_death(self, death: Death) -> float:
        """Record a death; return the seconds to wait before its replacement is spawned."""
        self._quick_deaths = self._quick_deaths + 1 if self.is_crash_loop(death) else 0
        if self._quick_deaths < 2:
            return 0.0
        return min(self.max_s, self.base_s * 2.0 ** (self._quick_deaths - 2))

    def after_spawn_failed(self) -> float:
        """Record a failed spawn; return the seconds to wait before trying again."""
        self._spawn_failures += 1
        return min(self.max_s, SPAWN_RETRY_FIRST_S * 2.0 ** (self._spawn_failures - 1))

    def after_spawned(self) -> None:
        """Record a successful spawn (spawn retries start again from the shortest delay)."""
        self._spawn_failures = 0
