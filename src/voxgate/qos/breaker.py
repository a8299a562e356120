"""Count-based circuit breakers, one per engine, after resilience4j's ``CircuitBreaker``.

State machine (``LEGAL_TRANSITIONS``; anything else raises ``IllegalTransition``)::

    CLOSED ──failure or slow-call rate ≥ threshold over ≥ minimum_calls──▶ OPEN
    OPEN ──first try_acquire() once wait_duration_open has passed──▶ HALF_OPEN
    HALF_OPEN ──trial calls under both thresholds──▶ CLOSED (window cleared)
    HALF_OPEN ──trial calls at or over a threshold──▶ OPEN

Time comes from a ``Clock`` and is compared lazily: no timers run, an OPEN breaker
becomes HALF_OPEN only when someone asks for a permit. Every transition publishes a
``BreakerTransition`` on the ``EventBus``.

Concurrency: a breaker belongs to one asyncio event loop. No method awaits, so each call
is atomic with respect to other coroutines and no locks are taken; breakers are not
thread-safe.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from voxgate.clock import Clock
from voxgate.qos.events import EventBus

__all__ = [
    "LEGAL_TRANSITIONS",
    "BreakerConfig",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "IllegalTransition",
]


class BreakerState(StrEnum):
    """Where a breaker is in its state machine."""

    CLOSED = "closed"
    """Calls flow; outcomes fill the sliding window."""
    OPEN = "open"
    """Calls are refused until ``wait_duration_open`` has passed."""
    HALF_OPEN = "half_open"
    """A fixed number of trial calls decide between CLOSED and OPEN."""


LEGAL_TRANSITIONS: Final[frozenset[tuple[BreakerState, BreakerState]]] = frozenset(
    {
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
        (BreakerState.HALF_OPEN, BreakerState.OPEN),
    }
)
"""Every ``(from, to)`` pair a breaker may take."""


class IllegalTransition(RuntimeError):  # noqa: N818 (mirrors resilience4j's IllegalStateTransitionException)
    """A transition outside ``LEGAL_TRANSITIONS`` was requested: a programming error."""

    def __init__(self, name: str, from_state: BreakerState, to_state: BreakerState) -> None:
        super().__init__(f"breaker {name!r}: illegal transition {from_state} -> {to_state}")
        self.name = name
        self.from_state = from_state
        self.to_state = to_state


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """How a breaker measures and when it trips.

    Raises:
        ValueError: from the constructor, if a field is out of range.
    """

    window_size: int = 20
    """Outcomes of the last ``window_size`` calls form the CLOSED-state window."""
    minimum_calls: int = 5
    """No rate is judged before the window holds this many calls (at most ``window_size``)."""
    failure_rate_threshold: float = 0.5
    """Trip when the share of failed calls reaches this, in (0, 1]."""
    slow_call_duration: float = 5.0
    """A call lasting longer than this many seconds is slow, whether it succeeded or failed."""
    slow_call_rate_threshold: float = 0.8
    """Trip when the share of slow calls reaches this, in (0, 1]."""
    wait_duration_open: float = 10.0
    """Seconds an OPEN breaker refuses calls before it lets trial calls through."""
    permitted_calls_half_open: int = 3
    """Trial calls granted in HALF_OPEN; their outcomes alone decide the next state."""

    def __post_init__(self) -> None:
        if self.window_size < 1:
            raise ValueError(f"window_size must be ≥ 1, got {self.window_size}")
        if not 1 <= self.minimum_calls <= self.window_size:
            raise ValueError(f"minimum_calls must be in [1, window_size], got {self.minimum_calls}")
        for field in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value: float = getattr(self, field)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{field} must be in (0, 1], got {value}")
        if self.slow_call_duration <= 0:
            raise ValueError(f"slow_call_duration must be > 0, got {self.slow_call_duration}")
        if self.wait_duration_open < 0:
            raise ValueError(f"wait_duration_open must be ≥ 0, got {self.wait_duration_open}")
        if self.permitted_calls_half_open < 1:
            raise ValueError(f"permitted_calls_half_open must be ≥ 1, got {self.permitted_calls_half_open}")


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """Published on every state change.

    Attributes:
        name: the breaker (engine) name.
        from_state: state before the transition.
        to_state: state after it.
        at: ``clock.monotonic()`` when it happened.
        failure_rate: failure share of the measurement behind the transition: the window
            when leaving CLOSED, the trial calls when leaving HALF_OPEN, and the window
            that opened the breaker when leaving OPEN.
        slow_rate: slow-call share of the same measurement.
    """

    name: str
    from_state: BreakerState
    to_state: BreakerState
    at: float
    failure_rate: float
    slow_rate: float


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A breaker's state at one instant, for metrics, health pages and the router.

    Attributes:
        name: the breaker (engine) name.
        state: current state. It is still OPEN after the wait has passed until the next
            ``try_acquire`` (then ``seconds_until_half_open`` is 0).
        failure_rate: failure share of the current measurement (see ``BreakerTransition``).
        slow_rate: slow-call share of the current measurement.
        calls_in_window: outcomes in the current measurement.
        seconds_until_half_open: time left in OPEN before trial calls are allowed; 0 otherwise.
    """

    name: str
    state: BreakerState
    failure_rate: float
    slow_rate: float
    calls_in_window: int
    seconds_until_half_open: float


class _Outcomes:
    """The last ``size`` call outcomes with running failure and slow counts."""

    __slots__ = ("_calls", "failures", "slow")

    def __init__(self, size: int) -> None:
        self._calls: deque[tuple[bool, bool]] = deque(maxlen=size)
        self.failures = 0
        self.slow = 0

    def record(self, failed: bool, slow: bool) -> None:
        if len(self._calls) == self._calls.maxlen:
            old_failed, old_slow = self._calls[0]
            self.failures -= old_failed
            self.slow -= old_slow
        self._calls.append((failed, slow))
        self.failures += failed
        self.slow += slow

    def __len__(self) -> int:
        return len(self._calls)

    def rates(self) -> tuple[float, float]:
        n = len(self._calls)
        return (self.failures / n, self.slow / n) if n else (0.0, 0.0)


class CircuitBreaker:
    """Stops sending calls to an engine that keeps failing or running slow.

    Usage: ``if breaker.try_acquire():`` run the call, then report exactly one of
    ``on_success(duration)``, ``on_failure(duration)`` or, if it never ran, ``release()``.

    In HALF_OPEN, outcomes and releases are matched to permits by count only: when no
    trial permit is outstanding, an outcome is taken to belong to a call admitted before
    the breaker opened and is ignored, as are all outcomes reported while OPEN.

    Args:
        name: the engine this breaker guards; appears in events and snapshots.
        config: thresholds and sizes; the defaults when ``None``.
        clock: source of monotonic time.
        bus: where ``BreakerTransition`` events are published.
    """

    def __init__(
        self, name: str, config: BreakerConfig | None = None, *, clock: Clock, bus: EventBus
    ) -> None:
        self._name = name
        self._config = config if config is not None else BreakerConfig()
        self._clock = clock
        self._bus = bus
        self._state = BreakerState.CLOSED
        self._outcomes = _Outcomes(self._config.window_size)
        self._opened_at = 0.0
        self._permits = 0  # trial permits left to grant (HALF_OPEN)
        self._in_flight = 0  # trial permits granted and not yet reported (HALF_OPEN)

    @property
    def name(self) -> str:
        """The engine this breaker guards."""
        return self._name

    @property
    def config(self) -> BreakerConfig:
        """The breaker's configuration."""
        return self._config

    @property
    def state(self) -> BreakerState:
        """The current state (read-only: reading it never moves OPEN to HALF_OPEN)."""
        return self._state

    def try_acquire(self) -> bool:
        """Ask to run one call.

        Returns:
            True in CLOSED; in OPEN, True only once the wait has passed (the breaker then
            moves to HALF_OPEN and grants the first trial permit); in HALF_OPEN, True while
            trial permits remain.
        """
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if self._clock.monotonic() < self._opened_at + self._config.wait_duration_open:
                return False
            self._transition(BreakerState.HALF_OPEN)
        if self._permits == 0:
            return False
        self._permits -= 1
        self._in_flight += 1
        return True

    def release(self) -> None:
        """Give back a permit whose call never ran (e.g. cancelled while queued).

        In HALF_OPEN this returns the trial permit so another call may take it; in other
        states, or with no trial permit outstanding, it does nothing.
        """
        if self._state is BreakerState.HALF_OPEN and self._in_flight > 0:
            self._in_flight -= 1
            self._permits += 1

    def on_success(self, duration_s: float) -> None:
        """Record a call that produced audio.

        Args:
            duration_s: how long the call took; above ``slow_call_duration`` it counts as slow.

        Raises:
            ValueError: if ``duration_s`` is negative.
        """
        self._record(duration_s, failed=False)

    def on_failure(self, duration_s: float) -> None:
        """Record a call that failed (error, timeout, crash).

        Args:
            duration_s: how long the call took; above ``slow_call_duration`` it also counts as slow.

        Raises:
            ValueError: if ``duration_s`` is negative.
        """
        self._record(duration_s, failed=True)

    def transition_to(self, state: BreakerState) -> None:
        """Move to ``state`` by hand (operator action, e.g. take an engine out of service).

        Args:
            state: the target state.

        Raises:
            IllegalTransition: if ``(self.state, state)`` is not in ``LEGAL_TRANSITIONS``.
        """
        self._transition(state)

    def snapshot(self) -> BreakerSnapshot:
        """Describe the breaker now, without changing it.

        Returns:
            State, rates and window size of the current measurement, and time left in OPEN.
        """
        failure_rate, slow_rate = self._outcomes.rates()
        remaining = 0.0
        if self._state is BreakerState.OPEN:
            reopen_at = self._opened_at + self._config.wait_duration_open
            remaining = max(0.0, reopen_at - self._clock.monotonic())
        return BreakerSnapshot(
            name=self._name,
            state=self._state,
            failure_rate=failure_rate,
            slow_rate=slow_rate,
            calls_in_window=len(self._outcomes),
            seconds_until_half_open=remaining,
        )

    def _record(self, duration_s: float, *, failed: bool) -> None:
        if duration_s < 0:
            raise ValueError(f"duration_s must be ≥ 0, got {duration_s}")
        slow = duration_s > self._config.slow_call_duration
        cfg = self._config
        if self._state is BreakerState.CLOSED:
            self._outcomes.record(failed, slow)
            if len(self._outcomes) >= cfg.minimum_calls and self._over_threshold(len(self._outcomes)):
                self._transition(BreakerState.OPEN)
        elif self._state is BreakerState.HALF_OPEN and self._in_flight > 0:
            self._in_flight -= 1
            self._outcomes.record(failed, slow)
            # Rates are over all trial calls; reopen as soon as the outcomes so far reach a
            # threshold whatever the remaining calls do, close once every trial call is in.
            if self._over_threshold(cfg.permitted_calls_half_open):
                self._transition(BreakerState.OPEN)
            elif len(self._outcomes) >= cfg.permitted_calls_half_open:
                self._transition(BreakerState.CLOSED)

    def _over_threshold(self, calls: int) -> bool:
        cfg = self._config
        return (
            self._outcomes.failures / calls >= cfg.failure_rate_threshold
            or self._outcomes.slow / calls >= cfg.slow_call_rate_threshold
        )

    def _transition(self, to_state: BreakerState) -> None:
        from_state = self._state
        if (from_state, to_state) not in LEGAL_TRANSITIONS:
            raise IllegalTransition(self._name, from_state, to_state)
        failure_rate, slow_rate = self._outcomes.rates()
        now = self._clock.monotonic()
        self._state = to_state
        self._permits = 0
        self._in_flight = 0
        if to_state is BreakerState.OPEN:
            self._opened_at = now  # the outcomes stay, so snapshots show why it opened
        elif to_state is BreakerState.HALF_OPEN:
            self._outcomes = _Outcomes(self._config.permitted_calls_half_open)
            self._permits = self._config.permitted_calls_half_open
        else:
            self._outcomes = _Outcomes(self._config.window_size)
        self._bus.publish(BreakerTransition(self._name, from_state, to_state, now, failure_rate, slow_rate))


class BreakerRegistry:
    """One circuit breaker per engine name, created on first use.

    Args:
        config: configuration for every breaker without an override; the defaults when ``None``.
        clock: shared by all breakers.
        bus: where all breakers publish their transitions.
        overrides: per-engine configurations that replace ``config``.
    """

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        clock: Clock,
        bus: EventBus,
        overrides: Mapping[str, BreakerConfig] | None = None,
    ) -> None:
        self._config = config if config is not None else BreakerConfig()
        self._clock = clock
        self._bus = bus
        self._overrides = dict(overrides or {})
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, name: str) -> CircuitBreaker:
        """Return the breaker for engine ``name``, creating it (CLOSED) if needed.

        Args:
            name: engine name.

        Returns:
            The same breaker object for every call with this name.
        """
        breaker = self._breakers.get(name)
        if breaker is None:
            config = self._overrides.get(name, self._config)
            breaker = CircuitBreaker(name, config, clock=self._clock, bus=self._bus)
            self._breakers[name] = breaker
        return breaker

    def snapshots(self) -> dict[str, BreakerSnapshot]:
        """Snapshot every breaker created so far.

        Returns:
            Engine name → snapshot, in creation order.
        """
        return {name: breaker.snapshot() for name, breaker in self._breakers.items()}
