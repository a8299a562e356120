"""Poison inputs: texts that kill an engine's worker are not given to that engine again.

Some inputs crash an engine (a G2P bug), hang it (killed by the hang watchdog) or drive it past
its hard memory limit (killed by the memory watchdog). Retrying such an input costs a worker
every time — seconds of reload for kokoro, and every request queued behind it — and a job
runner that retries failed segments would kill worker after worker. The router therefore
remembers, per engine, which inputs killed a worker, and sends them straight to the next
engine of the chain (``Outcome.POISONED``; the answer is degraded with reason
``<engine>:poisoned``).

The key is a hash of engine, voice, language and text (speed does not change what the engine
chews on); the memory is a bounded LRU (``capacity`` inputs, default 10 000, ~1 MB), so a flood
of distinct poison texts cannot grow it. An input is poisoned for a request once its recorded
deaths reach the threshold of the request's priority: **1 for BATCH** (a job segment is not
retried on an engine that died on it: jobs retry on their own, have a fallback that costs only
quality, and one retry of a poison segment already cost a worker), **2 otherwise** (one death may
be a coincidence — a worker killed from outside while it happened to run this text — and an
interactive request deserves the better engine; a second death of the same input is not a
coincidence); on the chain's last resort 2 for every class, since there a wrong guess fails
the request. Only deaths that may be the input's fault count (``EngineCrashed.blames_input``):
a worker frozen from outside or shut down does not poison what it was running.

Concurrency: one asyncio event loop, no locks.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from voxgate.qos.events import EventBus
from voxgate.types import Priority

__all__ = ["DEFAULT_THRESHOLDS", "InputPoisoned", "PoisonMemory"]

DEFAULT_THRESHOLDS: Mapping[Priority, int] = MappingProxyType(
    {Priority.INTERACTIVE: 2, Priority.API: 2, Priority.BATCH: 1}
)
"""Worker deaths after which an input is kept away from an engine, per request priority."""


@dataclass(frozen=True, slots=True)
class InputPoisoned:
    """Event: an input's worker deaths on an engine reached a threshold.

    Published once per threshold crossed: at 1 death the input no longer goes to the engine for
    batch segments, at 2 for any request (with the default thresholds).

    Attributes:
        engine: the engine whose worker died.
        digest: the input's key (hex hash of engine, voice, language and text; never the text).
        deaths: worker deaths recorded for it so far.
        priorities: the request classes for which the input is now poisoned on this engine.
    """

    engine: str
    digest: str
    deaths: int
    priorities: tuple[Priority, ...]


class PoisonMemory:
    """Remembers which inputs killed which engine's workers (bounded, least recently used first out).

    Args:
        bus: receives ``InputPoisoned``.
        capacity: inputs remembered at most.
        thresholds: deaths after which an input is poisoned, per priority.

    Raises:
        ValueError: if ``capacity`` or a threshold is below 1.
    """

    def __init__(
        self,
        bus: EventBus,
        *,
        capacity: int = 10_000,
        thresholds: Mapping[Priority, int] = DEFAULT_THRESHOLDS,
    ) -> None:
        if capacity < 1 or min(thresholds.values(), default=1) < 1:
            raise ValueError(f"capacity and thresholds must be ≥ 1, got {capacity} and {dict(thresholds)}")
        self._bus = bus
        self._capacity = capacity
        self._thresholds = dict(thresholds)
        self._deaths: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._deaths)

    @staticmethod
    def key(engine: str, voice: str, language: str | None, text: str) -> str:
        """The memory key of an input on an engine."""
        raw = "\0".join((engine, voice, language or "", text)).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(raw, digest_size=16).hexdigest()

    def deaths(self, key: str) -> int:
        """Worker deaths recorded for ``key``."""
        return self._deaths.get(key, 0)

    def is_poisoned(self, key: str, priority: Priority, *, has_fallback: bool = True) -> bool:
        """Whether the input behind ``key`` must not be given to its engine for a ``priority`` request.

        Args:
            key: from :meth:`key`.
            priority: the request's class (chooses the threshold).
            has_fallback: another engine comes after this one. Without one (the chain's last
                resort) the threshold is at least 2 whatever the priority: a wrong guess there (a
                worker killed from outside while it ran this input) fails the request instead of
                degrading it.
        """
        deaths = self._deaths.get(key)
        if deaths is None:
            return False
        self._deaths.move_to_end(key)
        threshold = self._thresholds.get(priority, 2)
        return deaths >= (threshold if has_fallback else max(threshold, 2))

    def record_death(self, key: str, engine: str) -> None:
        """Record that ``engine``'s worker died running the input behind ``key``."""
        deaths = self._deaths.pop(key, 0) + 1
        self._deaths[key] = deaths
        while len(self._deaths) > self._capacity:
            self._deaths.popitem(last=False)
        crossed = tuple(p for p, threshold in self._thresholds.items() if threshold == deaths)
        if crossed:
            now = tuple(p for p, threshold in self._thresholds.items() if threshold <= deaths)
            self._bus.publish(InputPoisoned(engine, key, deaths, now))
