"""The router: walk a voice's engine chain until one engine answers in time.

For each engine in turn: skip it if it is not ready or its breaker is open; skip it if its
estimated service time (a high quantile) does not fit in what is left of the deadline; else
queue for one of its slots and run it. Timeouts, crashes and errors are recorded on the
engine's breaker and the router moves on. The last engine of every chain is the one that
practically never fails (espeak); it is tried even with an open breaker, since trying beats
failing. Every answer says which engine spoke, whether it was degraded and why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from voxgate.clock import Clock
from voxgate.errors import (
    EngineCrashed,
    EngineError,
    EngineTimeout,
    EngineUnavailable,
    InvalidInput,
    NoEngineAvailable,
)
from voxgate.qos.breaker import BreakerRegistry, CircuitBreaker
from voxgate.qos.estimator import LatencyEstimator
from voxgate.qos.events import EventBus
from voxgate.qos.scheduler import PriorityScheduler, QueueTimeout
from voxgate.types import AudioChunk, Priority, SynthesisOptions
from voxgate.workers.backend import ExecutionBackend

# Time kept back for the last-resort engine when an earlier engine runs, beyond its own estimate.
_LAST_RESORT_MARGIN_S = 0.05


class Outcome(StrEnum):
    """What happened when the router considered one engine."""

    OK = "ok"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    ERROR = "error"
    BREAKER_OPEN = "breaker_open"
    TOO_SLOW = "too_slow"  # its estimate did not fit in the remaining deadline
    QUEUE_TIMEOUT = "queue_timeout"  # waited for a slot past the point it could still finish
    NOT_READY = "not_ready"
    HEDGED = "hedged"  # overtaken: a hedge on the next engine answered first


@dataclass(frozen=True, slots=True)
class ChainStep:
    """One engine of a fallback chain and the voice it speaks with."""

    engine: str
    voice: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """The router's record of one engine it considered."""

    engine: str
    outcome: Outcome
    seconds: float


@dataclass(frozen=True, slots=True)
class Routed:
    """Audio from the first engine that answered.

    Attributes:
        chunks: the audio.
        step: the engine and voice that answered.
        degraded: it was not the chain's first engine.
        fallback_reason: ``"<engine>:<outcome>"`` of the first engine that did not answer.
        attempts: every engine considered, in order.
        queued_s: time spent waiting for the answering engine's slot.
    """

    chunks: list[AudioChunk]
    step: ChainStep
    degraded: bool
    fallback_reason: str | None
    attempts: tuple[Attempt, ...]
    queued_s: float


@dataclass(frozen=True, slots=True)
class EngineSkipped:
    """Event: the router passed over an engine for a request."""

    engine: str
    outcome: Outcome
    priority: Priority


_Tried = tuple[Outcome, tuple[list[AudioChunk], float] | None]


class Router:
    """Chooses and runs engines along a fallback chain under a deadline.

    Args:
        backend: where engines run.
        scheduler: per-engine priority queues bounded by capacity.
        breakers: one breaker per engine.
        estimator: service-time quantiles per engine.
        clock: monotonic time.
        bus: receives ``EngineSkipped`` events.
        quantile: estimator quantile used for the deadline check.
        hedge_after: if set, when an engine has used this share of its budget the next engine
            of the chain is started too and the first good answer wins; ``None`` = no hedging.
    """

    def __init__(
        self,
        backend: ExecutionBackend,
        scheduler: PriorityScheduler,
        breakers: BreakerRegistry,
        estimator: LatencyEstimator,
        clock: Clock,
        bus: EventBus,
        *,
        quantile: float = 0.95,
        hedge_after: float | None = None,
    ) -> None:
        self._backend = backend
        self._scheduler = scheduler
        self._breakers = breakers
        self._estimator = estimator
        self._clock = clock
        self._bus = bus
        self._quantile = quantile
        self._hedge_after = hedge_after

    def estimate(self, engine: str, chars: int, language: str | None = None) -> float:
        """The estimated service time of ``engine`` for ``chars`` characters of ``language``."""
        return self._estimator.estimate(estimator_key(engine, language), chars, self._quantile)

    def queue_wait(self, engine: str, priority: Priority, language: str | None = None) -> float:
        """Estimated seconds before a new ``priority`` request gets a slot of ``engine``.

        The work queued at this priority or above, plus one call if every slot is busy,
        spread over the engine's slots (each queued call costs its estimated service time).
        """
        slots = max(1, self._backend.capacity(engine))
        queued = self._scheduler.queued_work(engine, priority)
        ahead = sum(self.estimate(engine, chars, language) for chars in queued)
        if self._scheduler.in_flight(engine) >= slots:
            ahead += self.estimate(engine, max(queued, default=100), language) / 2  # half a call, on average
        return ahead / slots

    async def run(
        self,
        chain: Sequence[ChainStep],
        text: str,
        opts: SynthesisOptions,
        *,
        priority: Priority,
        deadline: float,
    ) -> Routed:
        """Synthesise ``text`` with the first engine of ``chain`` that can answer in time.

        Raises:
            InvalidInput: the text or voice is wrong (no engine is blamed).
            NoEngineAvailable: every engine failed or was skipped.
        """
        if not chain:
            raise NoEngineAvailable({})
        attempts: list[Attempt] = []
        chars = len(text)
        last = len(chain) - 1
        reserve = self.estimate(chain[last].engine, chars, opts.language) + _LAST_RESORT_MARGIN_S

        def deadline_of(index: int) -> float:
            # an engine in front of others must leave time for the last resort to run after it
            return deadline if index == last else deadline - reserve

        index = 0
        while index <= last:
            if self._hedge_after is None or index == last:
                winner = await self._single(chain, index, text, opts, priority, deadline_of, chars, attempts)
                index += 1
            else:
                attempt = self._try(chain[index], text, opts, priority, deadline_of(index), chars, False)
                winner = await self._hedged(
                    chain, index, attempt, text, opts, priority, deadline_of, chars, attempts
                )
                index += 2
            if winner is not None:
                return _answer(chain, winner[0], winner[1], attempts)
        raise NoEngineAvailable({a.engine: a.outcome.value for a in attempts})

    async def _hedged(
        self,
        chain: Sequence[ChainStep],
        index: int,
        attempt: Coroutine[Any, Any, _Tried],
        text: str,
        opts: SynthesisOptions,
        priority: Priority,
        deadline_of: Callable[[int], float],
        chars: int,
        attempts: list[Attempt],
    ) -> tuple[int, tuple[list[AudioChunk], float]] | None:
        """Run ``chain[index]``; past ``hedge_after`` of its budget, also start ``chain[index + 1]``.

        Returns the index and result of the first engine that answered, or None when both failed
        (their attempts are appended either way).
        """
        started = {index: self._clock.monotonic()}
        tasks = {asyncio.ensure_future(attempt): index}
        budget = max(0.0, deadline_of(index) - started[index])
        try:
            await asyncio.wait(list(tasks), timeout=(self._hedge_after or 0.0) * budget)
            if not next(iter(tasks)).done():
                nxt = index + 1
                started[nxt] = self._clock.monotonic()
                hedge = self._try(
                    chain[nxt], text, opts, priority, deadline_of(nxt), chars, nxt == len(chain) - 1
                )
                tasks[asyncio.ensure_future(hedge)] = nxt
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=tasks.__getitem__):
                    which = tasks[task]
                    outcome, routed = task.result()
                    attempts.append(
                        Attempt(chain[which].engine, outcome, self._clock.monotonic() - started[which])
                    )
                    if routed is not None:
                        for loser in pending:
                            attempts.insert(-1, Attempt(chain[tasks[loser]].engine, Outcome.HEDGED, 0.0))
                        return which, routed
                    self._bus.publish(EngineSkipped(chain[which].engine, outcome, priority))
            if (
                len(tasks) == 1
            ):  # the primary failed before the hedge was due: the next engine is still owed a try
                return await self._single(
                    chain, index + 1, text, opts, priority, deadline_of, chars, attempts
                )
            return None
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _single(
        self,
        chain: Sequence[ChainStep],
        index: int,
        text: str,
        opts: SynthesisOptions,
        priority: Priority,
        deadline_of: Callable[[int], float],
        chars: int,
        attempts: list[Attempt],
    ) -> tuple[int, tuple[list[AudioChunk], float]] | None:
        started = self._clock.monotonic()
        outcome, routed = await self._try(
            chain[index], text, opts, priority, deadline_of(index), chars, index == len(chain) - 1
        )
        attempts.append(Attempt(chain[index].engine, outcome, self._clock.monotonic() - started))
        if routed is not None:
            return index, routed
        self._bus.publish(EngineSkipped(chain[index].engine, outcome, priority))
        return None

    async def _try(
        self,
        step: ChainStep,
        text: str,
        opts: SynthesisOptions,
        priority: Priority,
        deadline: float,
        chars: int,
        is_last: bool,
    ) -> _Tried:
        if not self._backend.is_ready(step.engine):
            return Outcome.NOT_READY, None
        breaker = self._breakers.get(step.engine)
        permitted = breaker.try_acquire()
        if not permitted and not is_last:
            return Outcome.BREAKER_OPEN, None
        estimate = self.estimate(step.engine, chars, opts.language)
        remaining = deadline - self._clock.monotonic()
        # the wait for a slot counts too: a saturated engine is skipped now, not at the deadline
        expected = estimate + self.queue_wait(step.engine, priority, opts.language)
        if expected > remaining and not is_last:
            _give_back(breaker, permitted)
            return Outcome.TOO_SLOW, None
        give_up_at = deadline if is_last else deadline - estimate
        try:
            async with self._scheduler.slot(
                step.engine,
                priority=priority,
                deadline=deadline,
                give_up_at=give_up_at,
                chars=chars,
                leave_if_down=not is_last and priority is not Priority.BATCH,  # jobs wait for their primary
            ) as lease:
                started = self._clock.monotonic()
                try:
                    chunks = await self._backend.run(step.engine, text, step.voice, opts, deadline)
                except InvalidInput:
                    _give_back(breaker, permitted)
                    raise
                except (EngineTimeout, EngineCrashed, EngineError) as exc:
                    if permitted:
                        breaker.on_failure(self._clock.monotonic() - started)
                    return _outcome_of(exc), None
                seconds = self._clock.monotonic() - started
                if permitted:
                    breaker.on_success(seconds)
                self._estimator.observe(estimator_key(step.engine, opts.language), chars, seconds)
                return Outcome.OK, (chunks, lease.waited_s)
        except QueueTimeout:
            _give_back(breaker, permitted)
            return Outcome.QUEUE_TIMEOUT, None
        except asyncio.CancelledError:
            _give_back(breaker, permitted)  # no outcome to report: the call was abandoned (hedge lost)
            raise


def _answer(
    chain: Sequence[ChainStep], index: int, routed: tuple[list[AudioChunk], float], attempts: list[Attempt]
) -> Routed:
    reason = next((f"{a.engine}:{a.outcome.value}" for a in attempts if a.outcome is not Outcome.OK), None)
    chunks, queued_s = routed
    return Routed(chunks, chain[index], index > 0, reason, tuple(attempts), queued_s)


def estimator_key(engine: str, language: str | None) -> str:
    """Service time depends on the language as much as on the engine (a Chinese character is
    several phonemes), so the estimator learns per ``engine/language``."""
    return engine if language is None else f"{engine}/{language}"


def _give_back(breaker: CircuitBreaker, permitted: bool) -> None:
    if permitted:
        breaker.release()


def _outcome_of(error: EngineError) -> Outcome:
    if isinstance(error, EngineTimeout):
        return Outcome.TIMEOUT
    if isinstance(error, EngineCrashed):
        return Outcome.CRASHED
    if isinstance(error, EngineUnavailable):
        return Outcome.NOT_READY
    return Outcome.ERROR
