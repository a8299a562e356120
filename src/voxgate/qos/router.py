"""The router: walk a voice's engine chain until one engine answers in time.

For each engine in turn: skip it if this input killed its workers before (poisoned), if it is
not ready or its breaker is open; skip it if its estimated service time (a high quantile) does
not fit in what is left of the deadline; else queue for one of its slots and run it. Timeouts,
crashes and errors are recorded on the engine's breaker and the router moves on. Every answer
says which engine spoke, whether it was degraded and why.

**The last resort cannot be down.** The chain's last engine (espeak, which practically never
fails) is tried even with an open breaker, since trying beats failing; and it is never skipped
as "not ready": a request that reaches it while its workers restart (all killed, or frozen and
killed by the watchdog) queues for its slot until its deadline, and the scheduler dispatches it
the moment a replacement is ready (capacity events). A call that the last resort loses to a
worker dying under it (killed from outside) is tried again on the replacement while the
deadline allows, unless the input itself is what kills it (poisoned). The pool makes the wait
short: a dead worker's replacement is spawned at once, crash-loop backoff never delays a warm
worker killed from outside, and a failed spawn is retried (``voxgate.workers.restart``). The
alternatives were weighed: a warm spare dies with the others when "every worker" is killed; an
in-process emergency engine would put the one stateful C library the workers isolate (and its
crashes) into the gateway. Waiting for the restart costs one restart: with workers forked from a
preloaded forkserver (``voxgate.workers.process``), 0.3-0.4 s from SIGKILL of both espeak
workers to the first ready replacement on a 2-core box at load 8 (it was 2.4 s, and up to 17 s
once the old crash-loop backoff escalated), which an interactive deadline (3 s) covers.

When the last resort is down *and* an earlier engine was skipped as too slow, the router still
waits for the last resort rather than trying that engine: it was skipped because its P95 plus
its queue did not fit, so it would more likely miss the deadline than a sub-second restart
would, a timeout there would leave the last resort less time than waiting does, and running it
anyway would take CPU that the restart itself needs on a small machine.

An engine in front of the last resort gets the deadline minus a reserve for the last resort
(its estimate plus ``last_resort_margin_s``), so a timeout there still leaves the last resort
time to answer — also when the machine is saturated and the event loop lags (the reserve used to
be 50 ms, and under 3x overload the last resort sometimes missed it: 503s).

**Abandoned calls keep their slot.** A call that times out or is cancelled (a lost hedge, a
client that left) may go on in its worker; its scheduler slot is kept (``Lease.keep``) until the
backend says the engine is done with it (``on_settled``), so the scheduler never grants more
calls than the engine can run. What the abandoned call did next is learned too: a finish gives
the estimator its true duration, a death (crash, hang kill, memory kill) counts against the
input (``voxgate.qos.poison``) and, for a timeout, is a censored observation ("at least this
long") for the estimator.

**Short deadlines are not the engine's fault.** A timeout on a call whose budget was below the
engine's own median estimate does not count against its breaker (its permit is given back): a
client sending ``deadline_ms=100`` cannot open an engine's breaker for everyone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass, replace
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
from voxgate.qos.poison import PoisonMemory
from voxgate.qos.scheduler import PriorityScheduler, QueueTimeout
from voxgate.types import AudioChunk, Priority, SynthesisOptions
from voxgate.workers.backend import ExecutionBackend

LAST_RESORT_MARGIN_S = 0.25
"""Time kept back for the last-resort engine when an earlier engine runs, beyond its own estimate."""
STREAM_FIRST_CHARS = 30
"""With ``SynthesisOptions.stream``, an engine that streams (``streaming``, e.g. piper: a sentence
in decoder windows) is judged by this many characters' estimate: its first audio (the text front
end runs on the whole sentence, the decoder on a first window) rather than the whole answer, so a
long clause it would start in time is not given to a fallback as too slow.

Only an engine with a free slot streams (a queue-wait estimate of 0; otherwise ``stream`` is
cleared for the call): a call that must wait gains little from its first window coming early, and
streaming costs piper ~16 % more compute, which lengthens the queue for everyone. Quiet machine,
``bench/realtime.py --no-asr``, when every piece streamed: 10 sockets at once P50 2325 ms (29/82
pieces degraded) against 1854 ms (15/82) with none streamed; one socket 147 ms against 283 ms."""
_MEDIAN = 0.5


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
    POISONED = "poisoned"  # this input killed the engine's workers before (see voxgate.qos.poison)


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
        poison: inputs that killed engines' workers; a fresh memory publishing on ``bus`` if omitted.
        last_resort_margin_s: time kept back for the last resort, beyond its estimate, when an
            earlier engine runs.
        streaming: engines that give a sentence in pieces with ``SynthesisOptions.stream`` (see
            :data:`STREAM_FIRST_CHARS`).
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
        poison: PoisonMemory | None = None,
        last_resort_margin_s: float = LAST_RESORT_MARGIN_S,
        streaming: Collection[str] = frozenset(),
    ) -> None:
        self._backend = backend
        self._scheduler = scheduler
        self._breakers = breakers
        self._estimator = estimator
        self._clock = clock
        self._bus = bus
        self._quantile = quantile
        self._hedge_after = hedge_after
        self.poison = poison if poison is not None else PoisonMemory(bus)
        self._margin_s = last_resort_margin_s
        self._streaming = frozenset(streaming)

    def estimate(self, engine: str, chars: int, language: str | None = None) -> float:
        """The estimated service time of ``engine`` for ``chars`` characters of ``language``."""
        return self._estimator.estimate(estimator_key(engine, language), chars, self._quantile)

    def queue_wait(self, engine: str, priority: Priority, language: str | None = None) -> float:
        """Estimated seconds before a new ``priority`` request gets a slot of ``engine``.

        The work queued at this priority or above, plus one call if every slot is busy,
        spread over the engine's slots (each queued call costs its estimated service time).

        O(1) in the queue's length: the scheduler keeps the queue's count, characters and
        largest call as running totals, and the estimator sums a queue's estimates from those
        (its model is a line in characters). It used to estimate each waiter in turn, on every
        routing try: with a few hundred segments of one request queued, that was tens of
        thousands of estimates and over a second of event-loop time per request.
        """
        slots = max(1, self._backend.capacity(engine))
        queued = self._scheduler.queued_load(engine, priority)
        key = estimator_key(engine, language)
        ahead = self._estimator.estimate_total(key, queued.calls, queued.chars, self._quantile)
        if self._scheduler.in_flight(engine) >= slots:
            largest = queued.max_chars if queued.calls else 100
            ahead += self.estimate(engine, largest, language) / 2  # half a call, on average
        return ahead / slots

    async def run(
        self,
        chain: Sequence[ChainStep],
        text: str,
        opts: SynthesisOptions,
        *,
        priority: Priority,
        deadline: float,
        on_chunk: Callable[[Routed, AudioChunk], None] | None = None,
    ) -> Routed:
        """Synthesise ``text`` with the first engine of ``chain`` that can answer in time.

        ``on_chunk`` receives pieces of the answer as they arrive from an engine that streams
        (see :meth:`ExecutionBackend.run`; never a hedged call), each with a ``Routed`` (no
        chunks) saying which engine speaks and whether it is a fallback. Once an engine has given
        a piece, the chain ends with it: if it then fails, the next engine is not tried (its
        audio would follow audio already passed on).

        Raises:
            InvalidInput: the text or voice is wrong (no engine is blamed).
            NoEngineAvailable: every engine failed or was skipped, or the engine that had
                given pieces failed.
        """
        if not chain:
            raise NoEngineAvailable(())
        attempts: list[Attempt] = []
        chars = len(text)
        last = len(chain) - 1
        reserve = self.estimate(chain[last].engine, chars, opts.language) + self._margin_s

        def deadline_of(index: int) -> float:
            # an engine in front of others must leave time for the last resort to run after it
            return deadline if index == last else deadline - reserve

        def sink(index: int) -> _Sink | None:
            if on_chunk is None:
                return None
            return _Sink(lambda chunk: on_chunk(_answer(chain, index, ([], 0.0), attempts), chunk))

        index = 0
        while index <= last:
            if self._hedge_after is None or index == last:
                given = sink(index)
                winner = await self._single(
                    chain, index, text, opts, priority, deadline_of, chars, attempts, given
                )
                if winner is None and given is not None and given.gave:
                    reasons = [(a.engine, a.outcome.value) for a in attempts]
                    engine, outcome = reasons[-1]  # the attempt that had given audio
                    reasons[-1] = (engine, f"{outcome} after its first audio")
                    raise NoEngineAvailable(reasons)
                index += 1
            else:
                attempt = self._try(chain[index], text, opts, priority, deadline_of(index), chars, False)
                winner = await self._hedged(
                    chain, index, attempt, text, opts, priority, deadline_of, chars, attempts
                )
                index += 2
            if winner is not None:
                return _answer(chain, winner[0], winner[1], attempts)
        raise NoEngineAvailable([(a.engine, a.outcome.value) for a in attempts])

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
                hedge = self._try_step(
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
        sink: _Sink | None = None,
    ) -> tuple[int, tuple[list[AudioChunk], float]] | None:
        started = self._clock.monotonic()
        outcome, routed = await self._try_step(
            chain[index], text, opts, priority, deadline_of(index), chars, index == len(chain) - 1, sink
        )
        attempts.append(Attempt(chain[index].engine, outcome, self._clock.monotonic() - started))
        if routed is not None:
            return index, routed
        self._bus.publish(EngineSkipped(chain[index].engine, outcome, priority))
        return None

    async def _try_step(
        self,
        step: ChainStep,
        text: str,
        opts: SynthesisOptions,
        priority: Priority,
        deadline: float,
        chars: int,
        is_last: bool,
        sink: _Sink | None = None,
    ) -> _Tried:
        """Try one engine; the last resort again on a replacement worker if one died under it
        (unless it had given pieces of its answer)."""
        while True:
            outcome, routed = await self._try(step, text, opts, priority, deadline, chars, is_last, sink)
            again = is_last and outcome is Outcome.CRASHED and self._clock.monotonic() < deadline
            if not again or (sink is not None and sink.gave):
                return outcome, routed

    async def _try(
        self,
        step: ChainStep,
        text: str,
        opts: SynthesisOptions,
        priority: Priority,
        deadline: float,
        chars: int,
        is_last: bool,
        sink: _Sink | None = None,
    ) -> _Tried:
        poison_key = self.poison.key(step.engine, step.voice, opts.language, text)
        if self.poison.is_poisoned(poison_key, priority, has_fallback=not is_last):
            return Outcome.POISONED, None
        if not is_last and not self._backend.is_ready(step.engine):
            return Outcome.NOT_READY, None  # the last resort waits for its restart instead
        breaker = self._breakers.get(step.engine)
        permitted = breaker.try_acquire()
        if not permitted and not is_last:
            return Outcome.BREAKER_OPEN, None
        # the wait for a slot counts too: a saturated engine is skipped now, not at the deadline
        wait = self.queue_wait(step.engine, priority, opts.language)
        # an engine that streams (opts.stream) must give its first audio in time, not the whole;
        # but only an engine with a free slot streams (see STREAM_FIRST_CHARS)
        can_stream = opts.stream and step.engine in self._streaming
        streams = can_stream and wait == 0
        if can_stream and not streams:
            opts = replace(opts, stream=False)
        first = min(chars, STREAM_FIRST_CHARS) if streams else chars
        estimate = self.estimate(step.engine, first, opts.language)
        remaining = deadline - self._clock.monotonic()
        expected = estimate + wait
        if expected > remaining and not is_last:
            _give_back(breaker, permitted)
            return Outcome.TOO_SLOW, None
        give_up_at = deadline if is_last else deadline - estimate
        key = estimator_key(step.engine, opts.language)
        try:
            async with self._scheduler.slot(
                step.engine,
                priority=priority,
                deadline=deadline,
                give_up_at=give_up_at,
                chars=chars,
                leave_if_down=not is_last and priority is not Priority.BATCH,  # jobs wait for their primary
            ) as lease:
                call = _Call(
                    step.engine,
                    key,
                    poison_key,
                    chars,
                    lease.keep(),
                    self._clock,
                    self._estimator,
                    self.poison,
                )
                try:
                    chunks = await self._backend.run(
                        step.engine, text, step.voice, opts, deadline, call.settled, sink
                    )
                except InvalidInput:
                    _give_back(breaker, permitted)
                    raise
                except EngineTimeout as exc:
                    call.abandon()  # its true duration, or its death, is learned when it settles
                    if permitted:
                        if deadline - call.started < self._estimator.estimate(key, chars, _MEDIAN):
                            breaker.release()  # the deadline was too short, not the engine too slow
                        else:
                            breaker.on_failure(self._clock.monotonic() - call.started)
                    return _outcome_of(exc), None
                except (EngineCrashed, EngineError) as exc:
                    if permitted:
                        breaker.on_failure(self._clock.monotonic() - call.started)
                    return _outcome_of(exc), None
                except asyncio.CancelledError:
                    call.abandon()
                    raise
                seconds = self._clock.monotonic() - call.started
                if permitted:
                    breaker.on_success(seconds)
                self._estimator.observe(key, chars, seconds)
                return Outcome.OK, (chunks, lease.waited_s)
        except QueueTimeout:
            _give_back(breaker, permitted)
            return Outcome.QUEUE_TIMEOUT, None
        except asyncio.CancelledError:
            _give_back(breaker, permitted)  # no outcome to report: the call was abandoned (hedge lost)
            raise


class _Sink:
    """Passes an engine's pieces on (a :data:`ChunkSink`) and remembers whether it gave any."""

    __slots__ = ("_forward", "gave")

    def __init__(self, forward: Callable[[AudioChunk], None]) -> None:
        self._forward = forward
        self.gave = False

    def __call__(self, chunk: AudioChunk) -> None:
        self.gave = True
        self._forward(chunk)


@dataclass(eq=False, slots=True)
class _Call:
    """One engine call, also after the router let go of it: frees its slot and learns from it.

    ``settled`` is the backend's ``on_settled``: called once, when the engine is done with the call.
    """

    engine: str
    key: str
    poison_key: str
    chars: int
    free_slot: Callable[[], None]
    clock: Clock
    estimator: LatencyEstimator
    poison: PoisonMemory
    started: float = 0.0
    abandoned: bool = False

    def __post_init__(self) -> None:
        self.started = self.clock.monotonic()

    def abandon(self) -> None:
        """The caller stopped waiting (timeout or cancellation); the engine may go on."""
        self.abandoned = True

    def settled(self, error: EngineError | None) -> None:
        self.free_slot()
        if isinstance(error, EngineCrashed) and error.blames_input:
            self.poison.record_death(self.poison_key, self.engine)
        if self.abandoned and (error is None or isinstance(error, EngineCrashed)):
            ran = self.clock.monotonic() - self.started
            if error is None:  # the abandoned call finished: its true duration
                self.estimator.observe(self.key, self.chars, ran)
            else:  # killed (hang, memory) or crashed while abandoned: it took at least this long
                self.estimator.observe_censored(self.key, self.chars, ran)


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
