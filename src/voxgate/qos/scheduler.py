"""Per-engine priority scheduler: who gets the next worker slot of an engine.

Dispatch order per engine: priority class (``INTERACTIVE`` > ``API`` > ``BATCH``), then
earliest deadline first, then arrival order. At most ``capacity(engine)`` leases are in
flight per engine; capacity is read on every dispatch, so a pool that loses a worker
simply grants fewer slots, and ``notify_capacity`` dispatches waiters when it grows (and lets
waiters with a fallback leave when it drops to zero).

A waiter may carry ``give_up_at``: once that moment has passed (on the injected clock) it
is never dispatched and gets ``QueueTimeout`` instead. Expiry is checked lazily at
dispatch time and by ``expire()``; an asyncio timer armed from the clock's remaining time
is only a safety net that wakes a waiter nobody else looks at (tests drive ``expire()``
with a ``FakeClock`` and never wait for timers).

Optional ageing (off by default): a ``BATCH`` waiter queued longer than ``ageing_s`` is
promoted to ``API`` once, keeping its deadline and arrival order.

Concurrency: one asyncio event loop, no locks. No method awaits except ``slot()``, so
bookkeeping is atomic with respect to other coroutines. Cancellation never leaks a slot:
a waiter cancelled while queued is removed, a waiter cancelled after being granted (but
before it resumed) hands its slot back, and a holder releases on exit unless it kept the
lease (``Lease.keep``) for work its engine goes on with, which it then frees exactly once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import Enum

from voxgate.clock import Clock
from voxgate.errors import QueueTimeout
from voxgate.types import Priority

__all__ = ["EngineQueueSnapshot", "Lease", "PriorityScheduler", "QueueTimeout", "QueuedLoad"]

_RANK: Mapping[Priority, int] = {Priority.INTERACTIVE: 0, Priority.API: 1, Priority.BATCH: 2}
"""Lower rank is served first."""
_TIMER_FLOOR_S = 0.001
"""Smallest delay for a re-armed safety-net timer (loop timers may fire a tick early)."""


@dataclass(eq=False, slots=True)
class _Grant:
    """The scheduler's side of a lease: frees its slot once."""

    release: Callable[[], None]
    kept: bool = False
    freed: bool = False

    def free(self) -> None:
        if not self.freed:
            self.freed = True
            self.release()


@dataclass(frozen=True, slots=True)
class Lease:
    """A granted slot, yielded by ``PriorityScheduler.slot``.

    Attributes:
        engine: the engine the slot belongs to.
        priority: the class the request was queued in (before any ageing).
        deadline: the request's absolute deadline (monotonic seconds).
        waited_s: seconds spent queued before the grant.
    """

    engine: str
    priority: Priority
    deadline: float
    waited_s: float
    _grant: _Grant = field(repr=False, compare=False)

    def keep(self) -> Callable[[], None]:
        """Hold the slot past the ``async with`` body; return the function that frees it.

        For work the engine goes on with after its caller left (a timed-out or cancelled call
        still running in a worker): the slot stays counted in ``in_flight`` until the returned
        function is called (once is enough; further calls do nothing), so the engine is not
        granted more calls than it can run.
        """
        self._grant.kept = True
        return self._grant.free


@dataclass(frozen=True, slots=True)
class EngineQueueSnapshot:
    """Point-in-time view of one engine's queue, for metrics and admission.

    Attributes:
        engine: engine name.
        capacity: current ``capacity(engine)``.
        in_flight: leases held.
        queued: waiters per (current) priority class.
        oldest_wait_s: how long the longest-queued waiter has waited, 0 if none.
        granted: leases granted since start.
        timed_out: waiters that got ``QueueTimeout`` since start.
        cancelled: waiters cancelled while queued since start.
    """

    engine: str
    capacity: int
    in_flight: int
    queued: Mapping[Priority, int]
    oldest_wait_s: float
    granted: int
    timed_out: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class QueuedLoad:
    """The work queued for an engine at some priority or above, summed (``queued_load``).

    Attributes:
        calls: waiters.
        chars: their characters, summed.
        max_chars: the most characters of any one of them; 0 if none.
    """

    calls: int
    chars: int
    max_chars: int


class _ClassLoad:
    """Running totals of one class's queued waiters: count, characters, and the largest.

    Kept up to date as waiters enter and leave the class, so the queue's work is read in O(1)
    rather than by walking every waiter (the router reads it on every routing try). The largest
    is a max-heap of distinct character counts whose entries are dropped lazily once no waiter
    has that many; each count is in the heap at most once, so it stays as small as the number
    of distinct lengths queued.
    """

    __slots__ = ("_by_chars", "_heap", "_in_heap", "calls", "chars")

    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0
        self._by_chars: dict[int, int] = {}
        self._heap: list[int] = []  # negated character counts
        self._in_heap: set[int] = set()

    def add(self, chars: int) -> None:
        self.calls += 1
        self.chars += chars
        self._by_chars[chars] = self._by_chars.get(chars, 0) + 1
        if chars not in self._in_heap:
            self._in_heap.add(chars)
            heapq.heappush(self._heap, -chars)

    def remove(self, chars: int) -> None:
        self.calls -= 1
        self.chars -= chars
        left = self._by_chars[chars] - 1
        if left:
            self._by_chars[chars] = left
        else:
            del self._by_chars[chars]

    def max_chars(self) -> int:
        heap = self._heap
        while heap and -heap[0] not in self._by_chars:
            self._in_heap.discard(-heapq.heappop(heap))
        return -heap[0] if heap else 0


class _State(Enum):
    QUEUED = "queued"
    GRANTED = "granted"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


@dataclass(eq=False, slots=True)
class _Waiter:
    engine: str
    priority: Priority
    cls: Priority
    deadline: float
    give_up_at: float | None
    chars: int
    seq: int
    enqueued_at: float
    future: asyncio.Future[bool]
    leave_if_down: bool = False
    state: _State = _State.QUEUED
    timer: asyncio.TimerHandle | None = None


@dataclass(slots=True)
class _EngineQueue:
    heaps: dict[Priority, list[tuple[float, int, _Waiter]]] = field(
        default_factory=lambda: {p: [] for p in Priority}
    )
    live: dict[int, _Waiter] = field(default_factory=dict)
    """Queued waiters by sequence number (insertion order = arrival order)."""
    batch_arrivals: deque[_Waiter] = field(default_factory=deque)
    loads: dict[Priority, _ClassLoad] = field(default_factory=lambda: {p: _ClassLoad() for p in Priority})
    """Running totals of ``live`` per (current) class."""
    in_flight: int = 0
    granted: int = 0
    timed_out: int = 0
    cancelled: int = 0

    def enter(self, waiter: _Waiter) -> None:
        """Queue a new waiter."""
        self.live[waiter.seq] = waiter
        self.loads[waiter.cls].add(waiter.chars)
        self.push(waiter)

    def leave(self, waiter: _Waiter) -> None:
        """Take a waiter out of the queue (its heap entry goes stale)."""
        del self.live[waiter.seq]
        self.loads[waiter.cls].remove(waiter.chars)

    def reclass(self, waiter: _Waiter, cls: Priority) -> None:
        """Move a queued waiter to another class."""
        self.loads[waiter.cls].remove(waiter.chars)
        waiter.cls = cls
        self.loads[cls].add(waiter.chars)
        self.push(waiter)

    def push(self, waiter: _Waiter) -> None:
        heapq.heappush(self.heaps[waiter.cls], (waiter.deadline, waiter.seq, waiter))

    def pop_best(self) -> _Waiter | None:
        """Remove and return the most urgent live waiter, dropping stale heap entries."""
        for cls in Priority:  # declared most urgent first
            heap = self.heaps[cls]
            while heap:
                waiter = heapq.heappop(heap)[2]
                if waiter.state is _State.QUEUED and waiter.cls is cls:
                    return waiter
        return None

    def compact(self) -> None:
        """Drop stale heap entries (cancelled, expired, promoted) once they dominate the heaps."""
        if sum(len(h) for h in self.heaps.values()) <= 2 * len(self.live) + 64:
            return
        for cls, heap in self.heaps.items():
            heap[:] = [entry for entry in heap if entry[2].state is _State.QUEUED and entry[2].cls is cls]
            heapq.heapify(heap)


class PriorityScheduler:
    """Grants engine slots by priority class, then earliest deadline, then arrival.

    Args:
        clock: source of monotonic time for deadlines, expiry and waits.
        capacity: current slot count of an engine (its ready workers); read on every
            dispatch, so it may change at run time.
        ageing_s: if set, a ``BATCH`` waiter queued longer than this many seconds is
            promoted to ``API``; ``None`` (default) keeps priorities strict.

    Raises:
        ValueError: if ``ageing_s`` is not positive.
    """

    def __init__(
        self, clock: Clock, capacity: Callable[[str], int], *, ageing_s: float | None = None
    ) -> None:
        if ageing_s is not None and ageing_s <= 0:
            raise ValueError(f"ageing_s must be > 0, got {ageing_s}")
        self._clock = clock
        self._capacity = capacity
        self._ageing_s = ageing_s
        self._queues: dict[str, _EngineQueue] = {}
        self._seq = itertools.count()

    @asynccontextmanager
    async def slot(
        self,
        engine: str,
        *,
        priority: Priority = Priority.API,
        deadline: float,
        give_up_at: float | None = None,
        chars: int = 0,
        leave_if_down: bool = False,
    ) -> AsyncIterator[Lease]:
        """Wait for a slot of ``engine``, hold it for the ``async with`` body, then free it.

        Args:
            engine: engine name.
            priority: scheduling class.
            deadline: absolute monotonic deadline of the request (orders waiters in a class).
            give_up_at: absolute monotonic time after which the waiter must not be
                dispatched; ``None`` waits indefinitely.
            chars: characters of text the slot will synthesise (for ``queued_work``).
            leave_if_down: give up at once (``QueueTimeout``) if the engine loses its last
                worker while this waits, rather than wait out a restart (for a caller that has
                a fallback).

        Yields:
            The granted ``Lease``.

        Raises:
            QueueTimeout: ``give_up_at`` passed while queued, or the engine went down (see
                ``leave_if_down``).
        """
        queue = self._queues.setdefault(engine, _EngineQueue())
        now = self._clock.monotonic()
        waiter = _Waiter(
            engine=engine,
            priority=priority,
            cls=priority,
            deadline=deadline,
            give_up_at=give_up_at,
            chars=chars,
            seq=next(self._seq),
            enqueued_at=now,
            future=asyncio.get_running_loop().create_future(),
            leave_if_down=leave_if_down,
        )
        queue.enter(waiter)
        if priority is Priority.BATCH and self._ageing_s is not None:
            queue.batch_arrivals.append(waiter)
        self._dispatch(engine)
        if waiter.state is _State.QUEUED and give_up_at is not None:
            self._arm_timer(waiter, give_up_at - now)
        try:
            granted = await waiter.future
        except asyncio.CancelledError:
            if waiter.state is _State.QUEUED:
                self._unqueue(queue, waiter, _State.CANCELLED)
                queue.cancelled += 1
            elif waiter.state is _State.GRANTED:  # granted, cancelled before resuming
                self._release(engine)
            raise
        if not granted:
            raise QueueTimeout(engine, self._clock.monotonic() - waiter.enqueued_at)
        grant = _Grant(lambda: self._release(engine))
        try:
            yield Lease(engine, priority, deadline, self._clock.monotonic() - waiter.enqueued_at, grant)
        finally:
            if not grant.kept:
                grant.free()

    def notify_capacity(self, engine: str) -> None:
        """React to a change in ``engine``'s capacity (a worker became ready, or died).

        Waiters get the slots it gained. If it has none left (every worker dead or still
        loading), waiters that asked to (``leave_if_down``) give up at once, to fall back now
        rather than wait out a restart (seconds for kokoro).

        Args:
            engine: engine name.
        """
        queue = self._queues.get(engine)
        if queue is not None and self._capacity(engine) == 0:
            for waiter in list(queue.live.values()):
                if waiter.leave_if_down:
                    self._expire(queue, waiter)
        self._dispatch(engine)

    def expire(self) -> int:
        """Fail every queued waiter whose ``give_up_at`` has passed, on every engine.

        Returns:
            How many waiters were expired.
        """
        now = self._clock.monotonic()
        expired = 0
        for queue in self._queues.values():
            for waiter in list(queue.live.values()):
                if waiter.give_up_at is not None and waiter.give_up_at <= now:
                    self._expire(queue, waiter)
                    expired += 1
        return expired

    def queued(self, engine: str, priority: Priority | None = None) -> int:
        """Count waiters of ``engine``, optionally only those in one (current) class.

        Args:
            engine: engine name.
            priority: restrict to this class; ``None`` counts every class.

        Returns:
            The number of queued waiters.
        """
        queue = self._queues.get(engine)
        if queue is None:
            return 0
        if priority is None:
            return len(queue.live)
        return queue.loads[priority].calls

    def in_flight(self, engine: str) -> int:
        """Return how many leases of ``engine`` are held."""
        queue = self._queues.get(engine)
        return 0 if queue is None else queue.in_flight

    def queued_work(self, engine: str, at_or_above: Priority) -> list[int]:
        """Character counts of waiters queued at ``at_or_above`` or a more urgent class.

        Args:
            engine: engine name.
            at_or_above: least urgent class to include.

        Returns:
            One character count per such waiter, in arrival order.
        """
        queue = self._queues.get(engine)
        if queue is None:
            return []
        limit = _RANK[at_or_above]
        return [w.chars for w in queue.live.values() if _RANK[w.cls] <= limit]

    def queued_load(self, engine: str, at_or_above: Priority) -> QueuedLoad:
        """The waiters ``queued_work`` lists, summed: in O(priority classes), not O(waiters).

        Args:
            engine: engine name.
            at_or_above: least urgent class to include.

        Returns:
            Their count, total characters and largest character count.
        """
        queue = self._queues.get(engine)
        if queue is None:
            return QueuedLoad(0, 0, 0)
        limit = _RANK[at_or_above]
        loads = [load for cls, load in queue.loads.items() if _RANK[cls] <= limit]
        return QueuedLoad(
            sum(load.calls for load in loads),
            sum(load.chars for load in loads),
            max((load.max_chars() for load in loads if load.calls), default=0),
        )

    def snapshot(self) -> dict[str, EngineQueueSnapshot]:
        """Return a view of every engine queue seen so far, keyed by engine."""
        now = self._clock.monotonic()
        result: dict[str, EngineQueueSnapshot] = {}
        for engine, queue in self._queues.items():
            counts = dict.fromkeys(Priority, 0)
            for waiter in queue.live.values():
                counts[waiter.cls] += 1
            oldest = next(iter(queue.live.values()), None)
            result[engine] = EngineQueueSnapshot(
                engine=engine,
                capacity=self._capacity(engine),
                in_flight=queue.in_flight,
                queued=counts,
                oldest_wait_s=0.0 if oldest is None else now - oldest.enqueued_at,
                granted=queue.granted,
                timed_out=queue.timed_out,
                cancelled=queue.cancelled,
            )
        return result

    def _dispatch(self, engine: str) -> None:
        queue = self._queues.get(engine)
        if queue is None:
            return
        now = self._clock.monotonic()
        if self._ageing_s is not None:
            self._promote(queue, now, self._ageing_s)
        while queue.in_flight < self._capacity(engine):
            waiter = queue.pop_best()
            if waiter is None:
                return
            if waiter.future.done():  # its task was cancelled; the handler has not run yet
                self._unqueue(queue, waiter, _State.CANCELLED)
                queue.cancelled += 1
            elif waiter.give_up_at is not None and waiter.give_up_at <= now:
                self._expire(queue, waiter)
            else:
                self._unqueue(queue, waiter, _State.GRANTED)
                queue.in_flight += 1
                queue.granted += 1
                waiter.future.set_result(True)

    def _promote(self, queue: _EngineQueue, now: float, ageing_s: float) -> None:
        arrivals = queue.batch_arrivals
        while arrivals and (
            arrivals[0].state is not _State.QUEUED or now - arrivals[0].enqueued_at > ageing_s
        ):
            waiter = arrivals.popleft()
            if waiter.state is _State.QUEUED:
                queue.reclass(waiter, Priority.API)

    def _release(self, engine: str) -> None:
        self._queues[engine].in_flight -= 1
        self._dispatch(engine)

    def _expire(self, queue: _EngineQueue, waiter: _Waiter) -> None:
        self._unqueue(queue, waiter, _State.EXPIRED)
        queue.timed_out += 1
        if not waiter.future.done():
            waiter.future.set_result(False)

    def _unqueue(self, queue: _EngineQueue, waiter: _Waiter, state: _State) -> None:
        waiter.state = state
        queue.leave(waiter)
        queue.compact()
        if waiter.timer is not None:
            waiter.timer.cancel()
            waiter.timer = None

    def _arm_timer(self, waiter: _Waiter, delay: float) -> None:
        loop = asyncio.get_running_loop()
        waiter.timer = loop.call_later(max(delay, _TIMER_FLOOR_S), self._on_timer, waiter)

    def _on_timer(self, waiter: _Waiter) -> None:
        waiter.timer = None
        if waiter.state is not _State.QUEUED or waiter.give_up_at is None:
            return
        remaining = waiter.give_up_at - self._clock.monotonic()
        if remaining > 0:  # the loop fired early, or the clock is not the loop's: check again later
            self._arm_timer(waiter, remaining)
        else:
            self._expire(self._queues[waiter.engine], waiter)
